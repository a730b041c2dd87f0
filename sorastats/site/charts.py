"""SVG line charts drawn at build time (pure; no I/O), table-tested.

A chart has axes, date ticks on the x axis, value ticks with gridlines on the y axis, the
values at both ends written beside the line, and an accessible name (`role="img"`, a
title and a description that carry the summary). Days are placed by date, so a day
without a capture is a gap in the line, not a silent straight join. Colours come from the
stylesheet's variables (`.chart` rules in site.css), so dark mode needs nothing here.

Every chart sits in a figure with a data table of the same numbers; site.js reads that
table and the points' coordinates (`data-xy`) to show values on hover and on the arrow
keys. The page works without it."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from datetime import date
from html import escape

from markupsafe import escape as escape_markup

from sorastats.site.stats import compact, day_label, grouped, signed

# The viewBox; the stylesheet scales the chart to its column. Its text is sized for a
# column of 320-480 px, a phone's width to half of the desktop page.
WIDTH = 360
HEIGHT = 180
LEFT = 40  # the value ticks
RIGHT = 44  # the last value's label
TOP = 16  # the unit
BOTTOM = 22  # the date ticks
PLOT_W = WIDTH - LEFT - RIGHT
PLOT_H = HEIGHT - TOP - BOTTOM
RIGHT_X = LEFT + PLOT_W
BASE = TOP + PLOT_H  # the x axis
MID_X = LEFT + PLOT_W // 2
STEPS = (1.0, 2.0, 2.5, 5.0, 10.0)


@dataclass(frozen=True)
class Chart:
    svg: str  # markup, built from numbers and escaped labels only
    summary: str  # one line of text for everyone
    rows: list[tuple[str, str]]  # (day, value) for the data table, one per point

    @property
    def table_rows(self) -> str:
        """The data table's rows as markup (escaped here: a template loop over 31 rows of
        three charts a page cost more than the chart itself)."""
        return "".join(
            f"<tr><td>{escape_markup(d)}</td><td>{escape_markup(v)}</td></tr>" for d, v in self.rows
        )


def nice_ticks(lo: float, hi: float, count: int = 3) -> list[float]:
    """Round values spanning [lo, hi] in about `count` steps of 1, 2, 2.5 or 5 x 10^k.

    Counters are whole numbers, so a step is never below 1; a flat series gets a span of
    one step around its value."""
    if hi < lo:
        lo, hi = hi, lo
    raw = (hi - lo) / count if hi > lo else max(abs(hi) / 10, 1.0)
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1.0
    step = max(next(s * magnitude for s in STEPS if s * magnitude >= raw), 1.0)
    first = math.floor(lo / step) * step
    last = math.ceil(hi / step) * step
    if last == first:
        first, last = first - step, last + step
    n = round((last - first) / step)
    return [first + i * step for i in range(n + 1)]


def date_ticks(first: date, last: date, most: int = 4) -> list[date]:
    """At most `most` evenly spaced days from first to last, both ends included."""
    span = (last - first).days
    if span <= 0:
        return [first]
    every = max(1, math.ceil(span / (most - 1)))
    days = [date.fromordinal(first.toordinal() + i) for i in range(0, span, every)]
    # The last day is always a tick; drop an inner tick that would crowd it.
    if days and (last - days[-1]).days < every / 2 and len(days) > 1:
        days.pop()
    return [*days, last]


def segments(points: list[tuple[date, int]]) -> list[list[tuple[date, int]]]:
    """Runs of points on consecutive days: a missing day starts a new run (a gap)."""
    runs: list[list[tuple[date, int]]] = []
    for point in points:
        if runs and (point[0] - runs[-1][-1][0]).days == 1:
            runs[-1].append(point)
        else:
            runs.append([point])
    return runs


@functools.lru_cache(maxsize=4096)
def short_day(d: date) -> str:
    return f"{d:%b} {d.day}"


# Every page of a build charts the same few dozen days: each is parsed and labelled once.
@functools.lru_cache(maxsize=4096)
def _parse(day: str) -> date | None:
    try:
        return date.fromisoformat(day[:10])
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _day_label(d: date) -> str:
    return day_label(d.isoformat())


def line_chart(
    label: str, series: list[tuple[str, int | None]], unit: str = "", key: str = "chart"
) -> Chart | None:
    """A chart of (ISO day, value) pairs; None values and unreadable days are gaps.

    `unit` names what is counted ("followers"); `key` makes the element ids unique on a
    page. None when there is no value at all."""
    points = sorted(
        {d: v for d, v in ((_parse(day), v) for day, v in series) if d and v is not None}.items()
    )
    if not points:
        return None
    first, last = points[0], points[-1]
    since, until = _day_label(first[0]), _day_label(last[0])
    if len(points) == 1:
        summary = f"{label}: {grouped(last[1])} on {until}."
    else:
        summary = (
            f"{label}: {grouped(first[1])} on {since} to {grouped(last[1])} on {until} "
            f"({signed(last[1] - first[1])})."
        )
    values = [v for _, v in points]
    ticks = nice_ticks(min(values), max(values))
    lo, hi = ticks[0], ticks[-1]
    span_days = (last[0] - first[0]).days
    # Whole SVG units (a 360-wide box): half a unit is invisible, and integers are cheaper
    # to format and smaller on the wire than decimals, a page has three charts.
    x_per_day = PLOT_W / span_days if span_days else 0.0
    y_per_unit = PLOT_H / (hi - lo)
    start = first[0].toordinal()

    def x(d: date) -> int:
        return round(LEFT + (d.toordinal() - start) * x_per_day) if span_days else MID_X

    def y(v: float) -> int:
        return round(TOP + PLOT_H - (v - lo) * y_per_unit)

    parts: list[str] = []
    for t in ticks:
        ty = y(t)
        parts.append(
            f'<line class="grid" x1="{LEFT}" x2="{RIGHT_X}" y1="{ty}" y2="{ty}"/>'
            f'<text class="tick" x="{LEFT - 4}" y="{ty + 4}" text-anchor="end">{compact(t)}</text>'
        )
    parts.append(f'<line class="axis" x1="{LEFT}" x2="{RIGHT_X}" y1="{BASE}" y2="{BASE}"/>')
    dticks = date_ticks(first[0], last[0])
    for i, d in enumerate(dticks):
        anchor = "middle"
        if len(dticks) > 1:
            anchor = "start" if i == 0 else "end" if i == len(dticks) - 1 else "middle"
        tx = x(d)
        parts.append(
            f'<line class="axis" x1="{tx}" x2="{tx}" y1="{BASE}" y2="{BASE + 4}"/>'
            f'<text class="tick" x="{tx}" y="{HEIGHT - 6}" text-anchor="{anchor}">'
            f"{short_day(d)}</text>"
        )
    if unit:
        parts.append(f'<text class="unit" x="{LEFT}" y="{TOP - 5}">{escape(unit)}</text>')
    coords = {d: f"{x(d)},{y(v)}" for d, v in points}
    for run in segments(points):
        if len(run) == 1:
            cx, cy = coords[run[0][0]].split(",")
            parts.append(f'<circle class="line" cx="{cx}" cy="{cy}" r="2.5"/>')
        else:
            parts.append(f'<path class="line" d="M{"L".join(coords[d] for d, _ in run)}"/>')
    # The values at both ends: the last one right of the plot, the first one above its point.
    parts.append(
        f'<text class="end" x="{RIGHT_X + 4}" y="{y(last[1]) + 4}">{compact(last[1])}</text>'
    )
    if len(points) > 1:
        parts.append(
            f'<text class="end" x="{x(first[0]) + 2}" y="{max(y(first[1]) - 5, TOP + 8)}">'
            f"{compact(first[1])}</text>"
        )
    ident = escape(key)
    svg = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{ident}-t" aria-describedby="{ident}-d" '
        f'data-xy="{" ".join(coords.values())}">'
        f'<title id="{ident}-t">{escape(label)}</title>'
        f'<desc id="{ident}-d">{escape(summary)}</desc>'
        f"{''.join(parts)}</svg>"
    )
    rows = [(_day_label(d), grouped(v)) for d, v in points]
    return Chart(svg=svg, summary=summary, rows=rows)
