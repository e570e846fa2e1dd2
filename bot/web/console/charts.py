"""Bar charts drawn on the server as SVG, for /console/stats: no script, no library, readable without colour.

Each series has its own fill pattern (solid, hatched, dotted) and a legend in words; each bar carries
its value; the page puts the same numbers in a table beside the chart.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 36, 10, 34, 42
PATTERNS = ("solid", "hatch", "dots")


@dataclass(frozen=True)
class Series:
    """One row of numbers, one per period."""

    name: str
    values: list[int]
    unit: str = ""


@dataclass(frozen=True)
class Chart:
    """A titled chart: one label per period and the series drawn side by side."""

    title: str
    labels: list[str]
    series: list[Series] = field(default_factory=list)


def _defs() -> str:
    return ('<defs>'
            '<pattern id="p-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            '<rect width="6" height="6" fill="none"/><line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" '
            'stroke-width="3"/></pattern>'
            '<pattern id="p-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
            '<circle cx="2.5" cy="2.5" r="1.5" fill="currentColor"/></pattern>'
            '</defs>')


def _fill(index: int) -> str:
    pattern = PATTERNS[index % len(PATTERNS)]
    return 'fill="currentColor" fill-opacity="0.75"' if pattern == "solid" else f'fill="url(#p-{pattern})"'


def svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (titled for screen readers; the table beside it has the numbers)."""
    periods = max(len(chart.labels), 1)
    top_value = max([value for series in chart.series for value in series.values] + [1])
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    group = plot_w / periods
    bar = max(group * 0.8 / max(len(chart.series), 1), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
             f'aria-label="{escape(chart.title)}">', f"<title>{escape(chart.title)}</title>", _defs()]
    # The legend, in words, each beside a swatch of its pattern.
    x = LEFT
    for index, series in enumerate(chart.series):
        parts.append(f'<rect x="{x}" y="8" width="14" height="14" {_fill(index)} stroke="currentColor"/>')
        parts.append(f'<text x="{x + 18}" y="19">{escape(series.name)}</text>')
        x += 26 + 7 * len(series.name)
    baseline = TOP + plot_h
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{baseline}" x2="{WIDTH - RIGHT}" y2="{baseline}" '
                 'stroke="currentColor"/>')
    for period, label in enumerate(chart.labels):
        start = LEFT + period * group + group * 0.1
        for index, series in enumerate(chart.series):
            value = series.values[period] if period < len(series.values) else 0
            height = plot_h * value / top_value
            bx = start + index * bar
            parts.append(f'<rect x="{bx:.1f}" y="{baseline - height:.1f}" width="{bar - 1:.1f}" height="{height:.1f}" '
                         f'{_fill(index)} stroke="currentColor" stroke-width="0.5"><title>{escape(series.name)}: '
                         f'{value}{escape(series.unit)}</title></rect>')
            parts.append(f'<text x="{bx + bar / 2:.1f}" y="{baseline - height - 3:.1f}" text-anchor="middle">'
                         f'{value}{escape(series.unit)}</text>')
        parts.append(f'<text x="{LEFT + period * group + group / 2:.1f}" y="{baseline + 16}" '
                     f'text-anchor="middle">{escape(label)}</text>')
    parts.append("</svg>")
    return "".join(parts)
