"""Inline SVG line charts drawn at build time (pure; no I/O), table-tested.

The SVG is decorative for screen readers (`aria-hidden`); each chart comes with a one-line
text summary and a data table that carry the same numbers."""

from __future__ import annotations

from dataclasses import dataclass
from html import escape

from sorastats.site.stats import day_label, grouped, signed

WIDTH = 320
HEIGHT = 96
PAD = 4


@dataclass(frozen=True)
class Chart:
    svg: str  # markup, built from numbers only
    summary: str  # one line of text for everyone
    rows: list[tuple[str, str]]  # (day, value) for the screen-reader table


def scale(values: list[float], lo: float, hi: float, size: float) -> list[float]:
    """Map values onto [size - PAD, PAD] (SVG y grows downwards); a flat series sits mid."""
    if hi == lo:
        return [size / 2 for _ in values]
    span = size - 2 * PAD
    return [size - PAD - (v - lo) * span / (hi - lo) for v in values]


def polyline_points(values: list[int]) -> str:
    """'x,y x,y ...' for a series over the chart box; '' for fewer than two points."""
    if len(values) < 2:
        return ""
    fv = [float(v) for v in values]
    ys = scale(fv, min(fv), max(fv), HEIGHT)
    step = (WIDTH - 2 * PAD) / (len(values) - 1)
    return " ".join(f"{PAD + i * step:.1f},{y:.1f}" for i, y in enumerate(ys))


def line_chart(label: str, series: list[tuple[str, int | None]]) -> Chart | None:
    """A chart of (day, value) pairs, skipping missing values; None with no data at all."""
    points = [(d, v) for d, v in series if v is not None]
    if not points:
        return None
    values = [v for _, v in points]
    first, last = points[0], points[-1]
    if len(points) == 1:
        summary = f"{label}: {grouped(last[1])} on {day_label(last[0])}."
    else:
        summary = (
            f"{label}: {grouped(first[1])} on {day_label(first[0])} to {grouped(last[1])} "
            f"on {day_label(last[0])} ({signed(last[1] - first[1])})."
        )
    pts = polyline_points(values)
    line = (
        f'<polyline fill="none" stroke="currentColor" stroke-width="2" points="{pts}"/>'
        if pts
        else f'<circle cx="{WIDTH / 2:.0f}" cy="{HEIGHT / 2:.0f}" r="3" fill="currentColor"/>'
    )
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}" '
        f'aria-hidden="true" focusable="false" preserveAspectRatio="none">'
        f"<title>{escape(label)}</title>{line}</svg>"
    )
    rows = [(day_label(d), grouped(v)) for d, v in points]
    return Chart(svg=svg, summary=summary, rows=rows)
