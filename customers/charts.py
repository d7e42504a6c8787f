"""Charts drawn on the server as inline SVG: no JavaScript library, no CDN, printable,
and readable by screen readers (a title and a description listing every slice)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe

# Products at the bank in saturated colours of the design system; wealth held away in
# greys with a hatch, so "outside the bank" reads at a glance, in colour or in print.
BANK_COLORS = (
    "#1d4f91",  # info blue
    "#0f5e63",  # teal
    "#4b3a8c",  # violet
    "#b06f12",  # amber
    "#9f1d20",  # brand red
    "#2f7a55",  # green
    "#22375a",  # navy
    "#8a4f7d",  # plum
    "#5d6776",  # slate
)
AWAY_COLORS = ("#8f9aa9", "#b5bdc9", "#6f7b8c", "#cfd5dd")


@dataclass(frozen=True)
class ColoredSlice:
    """A slice of a chart (anything with ``label``, ``amount``, ``share``, ``at_bank``)
    and how it is drawn."""

    slice: object
    color: str
    hatched: bool

    @property
    def swatch_style(self) -> str:
        if not self.hatched:
            return f"background:{self.color}"
        return (
            f"background:repeating-linear-gradient(45deg,{self.color} 0 3px,"
            f"rgba(255,255,255,.55) 3px 5px),{self.color}"
        )


def allocation_colors(slices: Sequence) -> list[ColoredSlice]:
    colored, bank, away = [], 0, 0
    for item in slices:
        if item.at_bank:
            colored.append(ColoredSlice(item, BANK_COLORS[bank % len(BANK_COLORS)], False))
            bank += 1
        else:
            colored.append(ColoredSlice(item, AWAY_COLORS[away % len(AWAY_COLORS)], True))
            away += 1
    return colored


def donut(
    slices: Sequence[ColoredSlice],
    *,
    center_value: str,
    center_label: str,
    title: str,
    size: int = 200,
    thickness: int = 30,
    id_prefix: str = "alloc",
) -> SafeString:
    """A donut of ``slices`` (by their ``amount``), with a figure in the middle.

    Each slice is a circle whose dash covers its share of the circumference, rotated to
    start at twelve o'clock; a hairline gap separates neighbours.
    """
    centre = size / 2
    radius = (size - thickness) / 2 - 1
    circumference = 2 * math.pi * radius
    total = sum((Decimal(s.slice.amount) for s in slices), Decimal("0"))
    gap = 1.5 if len([s for s in slices if s.slice.amount > 0]) > 1 else 0.0

    defs, arcs, offset = [], [], 0.0
    for index, item in enumerate(slices):
        if total <= 0 or item.slice.amount <= 0:
            continue
        length = float(Decimal(item.slice.amount) / total) * circumference
        stroke = item.color
        if item.hatched:
            pattern = f"{id_prefix}-hatch-{index}"
            defs.append(
                format_html(
                    '<pattern id="{}" patternUnits="userSpaceOnUse" width="6" height="6" '
                    'patternTransform="rotate(45)"><rect width="6" height="6" fill="{}"/>'
                    '<rect width="2" height="6" fill="#fff" fill-opacity="0.55"/></pattern>',
                    pattern,
                    item.color,
                )
            )
            stroke = f"url(#{pattern})"
        drawn = max(length - gap, 0.5)
        arcs.append(
            format_html(
                '<circle cx="{c}" cy="{c}" r="{r}" fill="none" stroke="{stroke}" '
                'stroke-width="{w}" stroke-dasharray="{dash} {rest}" '
                'stroke-dashoffset="{offset}" transform="rotate(-90 {c} {c})">'
                "<title>{label} · {share}%</title></circle>",
                c=_n(centre),
                r=_n(radius),
                stroke=stroke,
                w=thickness,
                dash=_n(drawn),
                rest=_n(circumference - drawn),
                offset=_n(-offset),
                label=item.slice.label,
                share=item.slice.share,
            )
        )
        offset += length

    description = "; ".join(f"{s.slice.label} {s.slice.share}%" for s in slices)
    svg = format_html(
        '<svg class="donut" viewBox="0 0 {size} {size}" width="{size}" height="{size}" '
        'role="img" aria-labelledby="{p}-title {p}-desc" focusable="false">'
        '<title id="{p}-title">{title}</title><desc id="{p}-desc">{desc}</desc>'
        "<defs>{defs}</defs>"
        '<circle cx="{c}" cy="{c}" r="{r}" fill="none" stroke="#eef1f5" stroke-width="{w}"/>'
        "{arcs}"
        '<text x="{c}" y="{value_y}" text-anchor="middle" class="donut__value">{value}</text>'
        '<text x="{c}" y="{label_y}" text-anchor="middle" class="donut__label">{label}</text>'
        "</svg>",
        size=size,
        p=id_prefix,
        title=title,
        desc=description,
        defs=mark_safe("".join(defs)),  # noqa: S308  (built with format_html above)
        c=_n(centre),
        r=_n(radius),
        w=thickness,
        arcs=format_html_join("", "{}", ((arc,) for arc in arcs)),
        value_y=_n(centre + 4),
        label_y=_n(centre + 24),
        value=center_value,
        label=center_label,
    )
    return svg


def _n(value: float) -> str:
    """A coordinate with two decimals at most: compact, and stable for tests."""
    return f"{value:.2f}".rstrip("0").rstrip(".")
