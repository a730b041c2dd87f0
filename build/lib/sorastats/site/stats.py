"""Pure number formatting and stats math for pages (no I/O), table-tested."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache


def compact(n: int | float | None) -> str:
    """1234 -> '1.2K', 1_500_000 -> '1.5M'; None -> '' (absent, never 'None')."""
    if n is None:
        return ""
    sign = "-" if n < 0 else ""
    v = abs(float(n))
    for limit, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if v >= limit:
            s = f"{v / limit:.1f}".rstrip("0").rstrip(".")
            return f"{sign}{s}{suffix}"
    return f"{sign}{int(v)}"


def grouped(n: int | float | None) -> str:
    """1234567 -> '1,234,567'; None -> ''."""
    if n is None:
        return ""
    return f"{int(n):,}"


def signed(n: int | float | None) -> str:
    """A gain with its sign: +12, -3, 0; None -> ''."""
    if n is None:
        return ""
    return f"+{int(n):,}" if n > 0 else f"{int(n):,}"


def percent_change(now: int | None, before: int | None) -> float | None:
    """Relative change in percent, None when undefined (no base or a zero base)."""
    if now is None or before is None or before == 0:
        return None
    return (now - before) * 100.0 / before


@lru_cache(maxsize=4096)  # a site shows few distinct days, many times each
def day_label(iso: str | None) -> str:
    """'2025-10-20 03:01:59' or '2025-10-20T03:01:59Z' -> 'Oct 20, 2025'; None -> ''."""
    if not iso:
        return ""
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00").replace(" ", "T"))
    except ValueError:
        return ""
    return f"{dt:%b} {dt.day}, {dt.year}"


def excerpt(text: str | None, limit: int = 140) -> str:
    """First `limit` characters on one line, with an ellipsis when cut."""
    if not text:
        return ""
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= limit else one_line[: limit - 1].rstrip() + "…"


def counted(n: int | float | None, word: str) -> str:
    """'1 like', '2 likes', '1.2K likes'; None -> ''."""
    if n is None:
        return ""
    return f"{compact(n)} {word}{'' if n == 1 else 's'}"
