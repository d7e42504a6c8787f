"""The dashboards' charts, drawn on the server as inline SVG: no JavaScript library, no
CDN, printable, and readable by screen readers (each chart has a title and a
description that lists every value, and every mark its own tooltip).

- ``sparkline``: a figure's last periods in a word-sized line, for a table cell or a tile;
- ``trend_line``: a figure over the last periods with its axis, an optional target line
  (the 70% rule) and the value of each period on hover;
- ``bar_list``: one horizontal bar per row (an RM, a step of the pipeline), each a link
  when the row has one, with an optional target marker.

Values arrive as numbers (or ``None`` where a period has no figure: a gap, never a 0),
each with the text the page shows for it, so a chart says what the tables say.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

INK = "#22375a"  # navy-2: the line, the bars
TARGET = "#9f1d20"  # brand red: a target line or marker
BELOW_TARGET = "#b06f12"  # amber: a bar short of its target
GRID = "#dde2e9"
LABEL = "#5d6776"


@dataclass(frozen=True)
class Point:
    """One period's figure: ``label`` names the period, ``text`` is the value as shown."""

    label: str
    value: float | None
    text: str = ""


@dataclass(frozen=True)
class Bar:
    """One row of a bar list; ``url`` makes the row a link (its drill-down)."""

    label: str
    value: float | None
    text: str = ""
    url: str = ""


def _n(value: float) -> str:
    """A coordinate with two decimals at most: compact, and stable for tests."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _top(values: Sequence[float], *, target: float | None, max_value: float | None) -> float:
    """The value at the top of the scale: a fixed maximum (scores: 100), else the
    largest value or target with a little headroom; never 0 (a flat zero line)."""
    if max_value is not None:
        return max_value
    highest = max([*values, target or 0.0, 0.0])
    return highest * 1.1 if highest > 0 else 1.0


def _description(points: Sequence[Point | Bar]) -> str:
    return "; ".join(f"{p.label}: {p.text or '—'}" for p in points)


def _svg(
    *, css: str, width: int, height: int, id_prefix: str, title: str, desc: str, body
) -> SafeString:
    return format_html(
        '<svg class="{css}" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-labelledby="{p}-title {p}-desc" focusable="false" '
        'preserveAspectRatio="xMinYMid meet">'
        '<title id="{p}-title">{title}</title><desc id="{p}-desc">{desc}</desc>{body}</svg>',
        css=css,
        w=width,
        h=height,
        p=id_prefix,
        title=title,
        desc=desc,
        body=body,
    )


def _path(coordinates: Sequence[tuple[float, float] | None]) -> str:
    """An SVG path through the points, lifting the pen over the gaps (``None``)."""
    commands, pen_down = [], False
    for point in coordinates:
        if point is None:
            pen_down = False
            continue
        commands.append(f"{'L' if pen_down else 'M'}{_n(point[0])} {_n(point[1])}")
        pen_down = True
    return " ".join(commands)


def sparkline(
    points: Sequence[Point],
    *,
    title: str,
    id_prefix: str,
    width: int = 96,
    height: int = 28,
    max_value: float | None = None,
) -> SafeString:
    """The points as a small line, the last one marked; nothing to draw: an empty SVG
    that still says what it is."""
    pad = 3.0
    values = [p.value for p in points if p.value is not None]
    top = _top(values, target=None, max_value=max_value)
    bottom = 0.0 if max_value is not None else min([*values, 0.0])
    span = (top - bottom) or 1.0
    step = (width - 2 * pad) / max(len(points) - 1, 1)
    coordinates = [
        None
        if p.value is None
        else (pad + i * step, height - pad - (p.value - bottom) / span * (height - 2 * pad))
        for i, p in enumerate(points)
    ]
    last = next((c for c in reversed(coordinates) if c is not None), None)
    body = format_html(
        '<path d="{d}" fill="none" stroke="{ink}" stroke-width="1.6" '
        'stroke-linejoin="round" stroke-linecap="round"/>{dot}',
        d=_path(coordinates),
        ink=INK,
        dot=format_html(
            '<circle cx="{}" cy="{}" r="2.4" fill="{}"/>', _n(last[0]), _n(last[1]), INK
        )
        if last
        else "",
    )
    return _svg(
        css="sparkline",
        width=width,
        height=height,
        id_prefix=id_prefix,
        title=title,
        desc=_description(points),
        body=body,
    )


def trend_line(
    points: Sequence[Point],
    *,
    title: str,
    id_prefix: str,
    width: int = 520,
    height: int = 180,
    max_value: float | None = None,
    target: float | None = None,
    target_text: str = "",
) -> SafeString:
    """A line over the periods with three grid lines, the periods along the bottom and
    each value on its point (hover: the period and the value)."""
    left, right, top_pad, bottom_pad = 8.0, 8.0, 20.0, 24.0
    values = [p.value for p in points if p.value is not None]
    top = _top(values, target=target, max_value=max_value)
    plot_h = height - top_pad - bottom_pad
    step = (width - left - right) / max(len(points), 1)

    def y(value: float) -> float:
        return top_pad + plot_h - max(min(value / top, 1.0), 0.0) * plot_h

    grid = format_html_join(
        "",
        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="1"/>',
        (
            (_n(left), _n(width - right), _n(y(top * share)), _n(y(top * share)), GRID)
            for share in (0.0, 0.5, 1.0)
        ),
    )
    target_mark = ""
    if target is not None:
        target_mark = format_html(
            '<line x1="{x1}" x2="{x2}" y1="{y}" y2="{y}" stroke="{c}" stroke-width="1.2" '
            'stroke-dasharray="5 4"/><text x="{x1}" y="{ty}" text-anchor="start" '
            'class="chart__target" fill="{c}">{text}</text>',
            x1=_n(left),
            x2=_n(width - right),
            y=_n(y(target)),
            ty=_n(y(target) - 4),
            c=TARGET,
            text=target_text,
        )
    centres = [left + step * (i + 0.5) for i in range(len(points))]
    coordinates = [
        None if p.value is None else (centres[i], y(p.value)) for i, p in enumerate(points)
    ]
    marks = format_html_join(
        "",
        '<g class="chart__point"><circle cx="{x}" cy="{y}" r="3.5" fill="#fff" stroke="{c}" '
        'stroke-width="2"/><text x="{x}" y="{ty}" text-anchor="middle" '
        'class="chart__value">{text}</text><title>{label}: {text}</title></g>',
        (
            {
                "x": _n(c[0]),
                "y": _n(c[1]),
                "ty": _n(c[1] - 8),
                "c": INK,
                "text": p.text,
                "label": p.label,
            }
            for p, c in zip(points, coordinates, strict=True)
            if c is not None
        ),
    )
    labels = format_html_join(
        "",
        '<text x="{}" y="{}" text-anchor="middle" class="chart__label" fill="{}">{}</text>',
        ((_n(centres[i]), _n(height - 6), LABEL, p.label) for i, p in enumerate(points)),
    )
    body = format_html(
        '{grid}{target}<path d="{d}" fill="none" stroke="{c}" stroke-width="2" '
        'stroke-linejoin="round" stroke-linecap="round"/>{marks}{labels}',
        grid=grid,
        target=target_mark,
        d=_path(coordinates),
        c=INK,
        marks=marks,
        labels=labels,
    )
    return _svg(
        css="chart chart--trend",
        width=width,
        height=height,
        id_prefix=id_prefix,
        title=title,
        desc=_description(points),
        body=body,
    )


def bar_list(
    bars: Sequence[Bar],
    *,
    title: str,
    id_prefix: str,
    width: int = 520,
    label_width: int = 150,
    value_width: int = 90,
    row_height: int = 26,
    max_value: float | None = None,
    target: float | None = None,
    target_text: str = "",
) -> SafeString:
    """One bar per row, longest = the scale's top; with a ``target``, bars short of it
    are amber and a dashed line marks it."""
    values = [b.value for b in bars if b.value is not None]
    top = _top(values, target=target, max_value=max_value)
    track = width - label_width - value_width
    head = 16 if target is not None else 0
    height = head + row_height * max(len(bars), 1)

    def x(value: float) -> float:
        return label_width + max(min(value / top, 1.0), 0.0) * track

    rows = []
    for index, bar in enumerate(bars):
        y = head + index * row_height
        color = INK
        if target is not None and bar.value is not None and bar.value < target:
            color = BELOW_TARGET
        row = format_html(
            '<text x="{lx}" y="{ty}" text-anchor="end" class="chart__label">{label}</text>'
            '<rect x="{x0}" y="{by}" width="{track}" height="{bh}" rx="3" fill="#eef1f5"/>'
            '{bar}<text x="{vx}" y="{ty}" class="chart__value">{text}</text>'
            "<title>{label}: {text}</title>",
            lx=_n(label_width - 8),
            ty=_n(y + row_height / 2 + 4),
            label=bar.label,
            x0=_n(label_width),
            by=_n(y + 5),
            track=_n(track),
            bh=_n(row_height - 10),
            bar=format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" rx="3" fill="{}"/>',
                _n(label_width),
                _n(y + 5),
                _n(x(bar.value) - label_width),
                _n(row_height - 10),
                color,
            )
            if bar.value is not None
            else "",
            vx=_n(label_width + track + 8),
            text=bar.text or "—",
        )
        if bar.url:
            row = format_html('<a href="{}" class="chart__link">{}</a>', bar.url, row)
        rows.append(format_html('<g class="chart__row">{}</g>', row))
    target_mark = ""
    if target is not None:
        target_mark = format_html(
            '<line x1="{x}" x2="{x}" y1="{y1}" y2="{y2}" stroke="{c}" stroke-width="1.5" '
            'stroke-dasharray="4 3"/><text x="{x}" y="11" text-anchor="middle" '
            'class="chart__target" fill="{c}">{text}</text>',
            x=_n(x(target)),
            y1=_n(head - 2),
            y2=_n(height),
            c=TARGET,
            text=target_text,
        )
    return _svg(
        css="chart chart--bars",
        width=width,
        height=height,
        id_prefix=id_prefix,
        title=title,
        desc=_description(bars),
        body=format_html("{}{}", format_html_join("", "{}", ((row,) for row in rows)), target_mark),
    )
