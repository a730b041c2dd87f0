"""The focus ring stands out: at least 3:1 against the page background in every theme
(WCAG 2.2, 1.4.11 non-text contrast), read from site.css's custom properties."""

from __future__ import annotations

import re

import pytest

from tests.support.paths import ROOT

CSS = (ROOT / "templates" / "static" / "site.css").read_text()


def luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def themes() -> list[dict[str, str]]:
    """Each block of custom properties in site.css, with the root's as defaults (a theme
    that does not set --focus inherits the root's)."""
    blocks = [dict(re.findall(r"--([a-z]+):\s*(#[0-9a-fA-F]{6})", body))
              for body in re.findall(r"\{([^{}]*--bg:[^{}]*)\}", CSS)]  # fmt: skip
    root = blocks[0]
    return [{**root, **block} for block in blocks]


@pytest.mark.parametrize(
    ("a", "b", "ratio"),
    [("#000000", "#ffffff", 21.0), ("#ffffff", "#ffffff", 1.0), ("#f5a623", "#fbfbfc", 1.96)],
)
def test_contrast_is_wcag_s_formula(a: str, b: str, ratio: float) -> None:
    assert contrast(a, b) == pytest.approx(ratio, abs=0.01)


def test_the_focus_ring_has_3_to_1_against_the_background_in_every_theme() -> None:
    found = themes()
    assert len(found) >= 3  # light, dark, and the dark of prefers-color-scheme
    for theme in found:
        assert contrast(theme["focus"], theme["bg"]) >= 3.0, theme
