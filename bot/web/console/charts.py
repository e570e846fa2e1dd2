"""Bar charts drawn on the server as SVG, for /console/stats: no script, no library, readable without colour.

Each series has its own fill pattern (solid, hatched, dotted, crossed, striped, outlined: seven in all)
and a legend in words; each bar carries its value; the page puts the same numbers in a table beside the
chart. A chart's groups are weeks, or the answers of a scale (``axis`` names them for the table).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 720, 260
LEFT, RIGHT, TOP, BOTTOM = 36, 10, 34, 42
PATTERNS = ("solid", "hatch", "dots", "back", "cross", "stripes", "open")
LEGEND_ROW = 18  # a second row of legend (many series) moves the plot down by this much
CHAR_WIDTH = 6.5  # about one character of the 11 px labels, to wrap a group's label in two lines


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
    axis: str = ""  # what a label is, for the table's first column ("" on the page: weeks)
    note: str = ""  # a line under the chart (what a figure does not count)


def _defs() -> str:
    return ('<defs>'
            '<pattern id="p-hatch" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">'
            '<rect width="6" height="6" fill="none"/><line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" '
            'stroke-width="3"/></pattern>'
            '<pattern id="p-dots" width="5" height="5" patternUnits="userSpaceOnUse">'
            '<circle cx="2.5" cy="2.5" r="1.5" fill="currentColor"/></pattern>'
            '<pattern id="p-back" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(-45)">'
            '<line x1="0" y1="0" x2="0" y2="6" stroke="currentColor" stroke-width="1.5"/></pattern>'
            '<pattern id="p-cross" width="6" height="6" patternUnits="userSpaceOnUse">'
            '<path d="M0 3H6M3 0V6" stroke="currentColor" stroke-width="1"/></pattern>'
            '<pattern id="p-stripes" width="6" height="5" patternUnits="userSpaceOnUse">'
            '<line x1="0" y1="1" x2="6" y2="1" stroke="currentColor" stroke-width="2"/></pattern>'
            '</defs>')


def _fill(index: int) -> str:
    pattern = PATTERNS[index % len(PATTERNS)]
    if pattern == "solid":
        return 'fill="currentColor" fill-opacity="0.75"'
    return 'fill="none"' if pattern == "open" else f'fill="url(#p-{pattern})"'


def _legend(chart: Chart) -> tuple[list[str], int]:
    """The legend's swatches and names, in as many rows as the width needs; and how many rows."""
    parts, x, row = [], LEFT, 0
    for index, series in enumerate(chart.series):
        width = 26 + 7 * len(series.name)
        if x > LEFT and x + width > WIDTH - RIGHT:
            x, row = LEFT, row + 1
        y = 8 + row * LEGEND_ROW
        parts.append(f'<rect x="{x}" y="{y}" width="14" height="14" {_fill(index)} stroke="currentColor"/>')
        parts.append(f'<text x="{x + 18}" y="{y + 11}">{escape(series.name)}</text>')
        x += width
    return parts, row + 1


def _label(text: str, x: float, y: float, room: float) -> str:
    """A group's label under the axis, in two lines when one would run into the next group's."""
    words, lines = text.split(), [text]
    if len(text) * CHAR_WIDTH > room and len(words) > 1:
        cut = max(range(1, len(words)), key=lambda at: -abs(len(" ".join(words[:at])) - len(text) / 2))
        lines = [" ".join(words[:cut]), " ".join(words[cut:])]
    spans = "".join(f'<tspan x="{x:.1f}" dy="{0 if index == 0 else 13}">{escape(line)}</tspan>'
                    for index, line in enumerate(lines))
    return f'<text x="{x:.1f}" y="{y}" text-anchor="middle">{spans}</text>'


def svg(chart: Chart) -> str:
    """The chart as an ``<svg>`` element (titled for screen readers; the table beside it has the numbers)."""
    periods = max(len(chart.labels), 1)
    top_value = max([value for series in chart.series for value in series.values] + [1])
    # The legend, in words, each beside a swatch of its pattern; more rows of it, more room above.
    legend, rows = _legend(chart)
    top = TOP + (rows - 1) * LEGEND_ROW
    height = HEIGHT + (rows - 1) * LEGEND_ROW
    plot_w, plot_h = WIDTH - LEFT - RIGHT, height - top - BOTTOM
    group = plot_w / periods
    bar = max(group * 0.8 / max(len(chart.series), 1), 2)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{escape(chart.title)}">', f"<title>{escape(chart.title)}</title>", _defs(), *legend]
    baseline = top + plot_h
    parts.append(f'<line class="axis" x1="{LEFT}" y1="{baseline}" x2="{WIDTH - RIGHT}" y2="{baseline}" '
                 'stroke="currentColor"/>')
    for period, label in enumerate(chart.labels):
        start = LEFT + period * group + group * 0.1
        for index, series in enumerate(chart.series):
            value = series.values[period] if period < len(series.values) else 0
            tall = plot_h * value / top_value
            bx = start + index * bar
            # An outlined bar (no fill) needs a line that shows; a filled one only a fine edge.
            edge = 1.5 if PATTERNS[index % len(PATTERNS)] == "open" else 0.5
            parts.append(f'<rect x="{bx:.1f}" y="{baseline - tall:.1f}" width="{bar - 1:.1f}" height="{tall:.1f}" '
                         f'{_fill(index)} stroke="currentColor" stroke-width="{edge}"><title>{escape(series.name)}: '
                         f'{value}{escape(series.unit)}</title></rect>')
            parts.append(f'<text x="{bx + bar / 2:.1f}" y="{baseline - tall - 3:.1f}" text-anchor="middle">'
                         f'{value}{escape(series.unit)}</text>')
        parts.append(_label(label, LEFT + period * group + group / 2, baseline + 16, group))
    parts.append("</svg>")
    return "".join(parts)
