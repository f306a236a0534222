"""The IgG4 history as an SVG chart: results over time, baseline, nadir, current, the
re-elevation threshold (I5) and the 1400 mg/L inclusion line (I3). Pure: data in, markup out.

Two sizes: the wide chart (pages on a computer) and a compact one drawn at a phone's width, so
that its text stays readable instead of being scaled down (the page shows one or the other with
CSS). Axes are "nice": value ticks of 1, 2, 2.5 or 5 × 10ⁿ, all written with the same number of
decimals; date ticks on calendar boundaries (every 1, 2, 3 or 6 months, or every 1, 2 or 5 years).
Labels are placed so that they do not overlap one another.
"""

from __future__ import annotations

import math
import unicodedata
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from markupsafe import Markup, escape

from cds_service.i18n.message import N_, NN_, define
from cds_service.i18n.render import Renderer, renderer

# The chart's words (its numbers and dates are the locale's, by Babel).
WORDS = define(
    N_("chart.empty-label", "No serum IgG4 results"),
    N_("chart.empty", "No serum IgG4 results on record."),
    N_("chart.title", "Serum IgG4 over time ({unit})"),
    N_("chart.axis", "IgG4 ({unit})"),
    N_("chart.treatment-start", "treatment start {date}"),
    N_("chart.treatment-start.short", "treatment start"),
    N_("chart.inclusion", "I3 {value}"),
    N_("chart.threshold", "re-elevation {value}"),
    N_("chart.mark.baseline", "baseline {value}"),
    N_("chart.mark.nadir", "nadir {value}"),
    N_("chart.mark.current", "current {value}"),
    N_("chart.point", "{date}: {value} {unit}"),
    NN_(
        "chart.desc.series",
        "{count} serum IgG4 result from {first} to {last}.",
        "{count} serum IgG4 results from {first} to {last}.",
    ),
    N_("chart.desc.baseline", "Baseline {value} {unit} on {date}."),
    N_("chart.desc.nadir", "Nadir {value} {unit} on {date}."),
    N_("chart.desc.current", "Current {value} {unit} on {date}."),
    N_("chart.desc.start", "Treatment started {date}."),
    N_("chart.desc.threshold", "Re-elevation threshold {value} {unit}."),
    N_("chart.desc.inclusion", "Inclusion line {value} {unit}."),
)


@dataclass(frozen=True)
class Layout:
    width: int
    height: int
    left: int
    right: int  # the right margin holds the line labels in the wide chart
    top: int
    bottom: int
    font: float  # font size in viewBox units (CSS sets the same)
    date_ticks: int  # at most this many date ticks
    value_ticks: int
    labels_in_margin: bool


WIDE = Layout(760, 320, 64, 124, 24, 44, 11.0, 7, 5, True)
COMPACT = Layout(360, 280, 48, 12, 28, 40, 12.0, 4, 4, False)
# Kept for callers that size things by the wide chart.
WIDTH, HEIGHT = WIDE.width, WIDE.height


@dataclass(frozen=True)
class Point:
    day: date
    value: float
    ref: str = ""
    comparator: str = ""  # "<", "<=", ">", ">=": a censored result, drawn at its bound

    def shown(self, tr: Renderer | None = None) -> str:
        return f"{self.comparator}{_fmt(self.value, tr)}"


@dataclass
class Box:
    """A label's approximate extent, for placing labels without overlaps."""

    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Box) -> bool:
        return not (
            self.x1 <= other.x0 or other.x1 <= self.x0 or self.y1 <= other.y0 or other.y1 <= self.y0
        )


def _point(raw: Any) -> Point | None:
    """A result from the assessment's igg4 block: {"date", "value", "ref"}; else None."""
    if not isinstance(raw, dict):
        return None
    try:
        day = date.fromisoformat(str(raw.get("date"))[:10])
        value = float(raw["value"])
    except (KeyError, TypeError, ValueError):
        return None
    comparator = raw.get("comparator") if raw.get("comparator") in ("<", "<=", ">", ">=") else ""
    if not math.isfinite(value):
        return None
    return Point(day, value, str(raw.get("ref") or ""), str(comparator))


def _number(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool) and math.isfinite(raw):
        return float(raw)
    return None


def nice_step(span: float, ticks: int = 5) -> float:
    """A tick step of 1, 2, 2.5 or 5 × 10ⁿ giving about ``ticks`` intervals over ``span``."""
    raw = max(span, 1e-9) / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude * (1 + 1e-9):
            return float(factor * magnitude)
    return float(10 * magnitude)


def _decimals(step: float) -> int:
    """Decimals that every tick of this step needs (0 for 500, 1 for 2.5 or 0.5, 2 for 0.25)."""
    for places in range(0, 4):
        if abs(round(step, places) - step) < 1e-9:
            return places
    return 3


def _decimal(value: float, places: int, tr: Renderer | None) -> str:
    """``value`` with ``places`` decimals and grouped thousands, in the locale (Babel)."""
    pattern = "#,##0" + ("." + "0" * places if places else "")
    return (tr or renderer()).decimal(Decimal(f"{value:.{places}f}"), pattern)


def tick_label(value: float, step: float, tr: Renderer | None = None) -> str:
    return _decimal(value, _decimals(step), tr)


def _fmt(value: float, tr: Renderer | None = None) -> str:
    """A value in a label: whole numbers with thousands separators, else one decimal."""
    whole = abs(value - round(value)) < 0.05 or abs(value) >= 100
    return _decimal(value, 0 if whole else 1, tr)


def text_width(text: str, font: float) -> float:
    """The approximate width of ``text``: CJK characters are a full em, others about 0.58."""
    return sum(1.0 if unicodedata.east_asian_width(c) in "WF" else 0.58 for c in text) * font


def _add_months(d: date, months: int) -> date:
    total = d.year * 12 + d.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def date_ticks(d0: date, d1: date, most: int) -> tuple[list[date], bool]:
    """Ticks on calendar boundaries between d0 and d1, at most ``most`` of them, and whether they
    are whole years (then labelled by year alone)."""
    for months in (1, 2, 3, 6, 12, 24, 60, 120, 240):
        # the first boundary on or after d0 that is a multiple of the interval
        start = date(d0.year, d0.month, 1)
        if start < d0:
            start = _add_months(start, 1)
        while (start.year * 12 + start.month - 1) % months:
            start = _add_months(start, 1)
        ticks = []
        day = start
        while day <= d1:
            ticks.append(day)
            day = _add_months(day, months)
        if len(ticks) <= most:
            return ticks, months >= 12
    return [d0, d1], False


def _text_box(x: float, y: float, text: str, font: float, anchor: str) -> Box:
    width = text_width(text, font)
    x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
    return Box(x0, y - font, x0 + width, y + font * 0.3)


def igg4_chart(
    igg4: dict[str, Any] | None, compact: bool = False, tr: Renderer | None = None
) -> Markup:
    """An accessible SVG (role="img", with a text description) of the assessment's IgG4 block,
    in ``tr``'s language (default: the default locale's)."""
    tr = tr or renderer()
    L = COMPACT if compact else WIDE
    variant = "compact" if compact else "wide"
    ident = f"igg4-chart-{variant}"
    igg4 = igg4 or {}
    unit = str(igg4.get("unit") or "mg/L")
    series = sorted(
        (p for p in (_point(r) for r in igg4.get("series") or []) if p), key=lambda p: p.day
    )
    marks = {k: _point(igg4.get(k)) for k in ("baseline", "nadir", "current")}
    threshold = _number(igg4.get("threshold"))
    inclusion = _number(igg4.get("inclusionThreshold"))
    # a censored baseline gives a censored line (">900")
    line_cmp = str(c) if (c := igg4.get("thresholdComparator")) in ("<", "<=", ">", ">=") else ""
    try:
        start = date.fromisoformat(str(igg4.get("treatmentStart"))[:10])
    except ValueError:
        start = None
    if not series:
        return Markup(
            f'<svg class="igg4-chart {variant}" role="img" viewBox="0 0 {L.width} 80"'
            f' width="100%" aria-label="{escape(tr.text("chart.empty-label"))}"><text x="16" y="44"'
            f' class="chart-empty">{escape(tr.text("chart.empty"))}</text></svg>'
        )

    days = [p.day for p in series] + ([start] if start else [])
    d0, d1 = min(days), max(days)
    if d1 == d0:
        d0, d1 = d0 - timedelta(days=30), d1 + timedelta(days=30)
    pad = max(1, (d1 - d0).days // 30)
    d0, d1 = d0 - timedelta(days=pad), d1 + timedelta(days=pad)
    top_value = max([p.value for p in series] + [v for v in (threshold, inclusion) if v] + [1.0])
    step = nice_step(top_value * 1.1, L.value_ticks)
    y_max = step * math.ceil(top_value * 1.1 / step - 1e-9)
    plot_w, plot_h = L.width - L.left - L.right, L.height - L.top - L.bottom
    right_edge = L.left + plot_w

    def x(day: date) -> float:
        return L.left + plot_w * (day - d0).days / (d1 - d0).days

    def y(value: float) -> float:
        return L.top + plot_h * (1 - value / y_max)

    out: list[str] = []
    add = out.append
    taken: list[Box] = []  # labels already placed
    desc = _description(series, marks, threshold, inclusion, start, unit, tr)
    add(
        f'<svg class="igg4-chart {variant}" role="img" viewBox="0 0 {L.width} {L.height}"'
        f' width="100%" aria-labelledby="{ident}-title {ident}-desc"'
        ' xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{ident}-title">{escape(tr.text("chart.title", unit=unit))}</title>'
        f'<desc id="{ident}-desc">{escape(desc)}</desc>'
    )
    # y grid and axis labels: every label with the decimals its step needs
    n_ticks = round(y_max / step)
    for i in range(n_ticks + 1):
        tick = step * i
        add(
            f'<line class="grid" x1="{L.left}" x2="{right_edge}" y1="{y(tick):.1f}"'
            f' y2="{y(tick):.1f}"/><text class="axis" x="{L.left - 6}" y="{y(tick) + 4:.1f}"'
            f' text-anchor="end">{tick_label(tick, step, tr)}</text>'
        )
    if compact:  # the unit above the axis: a rotated label costs too much width on a phone
        add(f'<text class="axis" x="4" y="{L.top - 12}">{escape(unit)}</text>')
    else:
        add(
            f'<text class="axis" x="14" y="{L.top + plot_h / 2:.0f}" text-anchor="middle"'
            f' transform="rotate(-90 14 {L.top + plot_h / 2:.0f})">'
            f"{escape(tr.text('chart.axis', unit=unit))}</text>"
        )
    # x axis: calendar ticks
    ticks, by_year = date_ticks(d0, d1, L.date_ticks)
    for day in ticks:
        label = str(day.year) if by_year else day.isoformat()[:7]
        add(
            f'<line class="tick" x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{L.top + plot_h}"'
            f' y2="{L.top + plot_h + 5}"/><text class="axis" x="{x(day):.1f}"'
            f' y="{L.top + plot_h + 19}" text-anchor="middle">{label}</text>'
        )
    add(
        f'<line class="axis-line" x1="{L.left}" x2="{right_edge}" y1="{L.top + plot_h}"'
        f' y2="{L.top + plot_h}"/><line class="axis-line" x1="{L.left}" x2="{L.left}"'
        f' y1="{L.top}" y2="{L.top + plot_h}"/>'
    )
    if start:
        text = (
            tr.text("chart.treatment-start", date=start)
            if not compact
            else tr.text("chart.treatment-start.short")
        )
        sx = x(start)
        anchor = "start" if sx + text_width(text, L.font) < right_edge else "end"
        tx = sx + 4 if anchor == "start" else sx - 4
        box = _text_box(tx, L.top - 6, text, L.font, anchor)
        taken.append(box)
        add(
            f'<g class="treatment-start"><line x1="{sx:.1f}" x2="{sx:.1f}" y1="{L.top}"'
            f' y2="{L.top + plot_h}"/><text x="{tx:.1f}" y="{L.top - 6}"'
            f' text-anchor="{anchor}">{escape(text)}</text></g>'
        )
    lines = [
        ("inclusion-line", inclusion, tr.text("chart.inclusion", value=_fmt(inclusion or 0, tr))),
        (
            "threshold-line",
            threshold,
            tr.text("chart.threshold", value=f"{line_cmp}{_fmt(threshold or 0, tr)}"),
        ),
    ]
    line_labels: list[tuple[str, float, str, float]] = []
    for cls, value, label in lines:
        if value is not None and value <= y_max:
            line_labels.append((cls, value, label, y(value)))
    # the two line labels never overlap each other: push the lower one down if needed
    line_labels.sort(key=lambda item: item[3])
    placed_y: list[float] = []
    for cls, _value, label, ly in line_labels:
        text_y = ly + 4 if L.labels_in_margin else ly - 4
        for other in placed_y:
            if abs(text_y - other) < L.font * 1.3 + 2:
                text_y = other + L.font * 1.3 + 2
        placed_y.append(text_y)
        # the unit is the axis's: the labels give the line and its value
        tx, anchor = (right_edge + 6, "start") if L.labels_in_margin else (right_edge - 2, "end")
        text = label
        taken.append(_text_box(tx, text_y, text, L.font, anchor))
        taken.append(Box(L.left, ly - 4, right_edge, ly + 4))  # the line, with a margin
        add(
            f'<g class="{cls}"><line x1="{L.left}" x2="{right_edge}" y1="{ly:.1f}"'
            f' y2="{ly:.1f}"/><text x="{tx:.1f}" y="{text_y:.1f}" text-anchor="{anchor}">'
            f"{escape(text)}</text></g>"
        )
    path = " ".join(f"{x(p.day):.1f},{y(p.value):.1f}" for p in series)
    add(f'<polyline class="series" points="{path}"/>')
    for p in series:
        add(
            f'<circle class="result" cx="{x(p.day):.1f}" cy="{y(p.value):.1f}" r="4">'
            f"<title>{escape(tr.text('chart.point', date=p.day, value=p.shown(tr), unit=unit))}"
            "</title></circle>"
        )
    for name, mark in marks.items():
        if mark is None:
            continue
        mx, my = x(mark.day), y(mark.value)
        text = tr.text(f"chart.mark.{name}", value=mark.shown(tr))
        width = text_width(text, L.font)
        anchor = "middle"
        if mx + width / 2 > right_edge:
            anchor = "end"
        elif mx - width / 2 < L.left:
            anchor = "start"
        # the nadir's label goes below its point, the others above; then further away
        offsets = (22, -14, 36, -28, 50) if name == "nadir" else (-14, 22, -28, 36, -42)
        chosen = offsets[0]
        for dy in offsets:
            box = _text_box(mx, my + dy, text, L.font, anchor)
            inside = L.top - L.font <= box.y0 and box.y1 <= L.top + plot_h + 4
            if inside and not any(box.overlaps(other) for other in taken):
                chosen = dy
                break
        taken.append(_text_box(mx, my + chosen, text, L.font, anchor))
        add(
            f'<g class="mark mark-{name}"><circle cx="{mx:.1f}" cy="{my:.1f}" r="8"/>'
            f'<text x="{mx:.1f}" y="{my + chosen:.1f}" text-anchor="{anchor}">{escape(text)}</text></g>'
        )
    add("</svg>")
    return Markup("".join(out))


def _description(
    series: list[Point],
    marks: dict[str, Point | None],
    threshold: float | None,
    inclusion: float | None,
    start: date | None,
    unit: str,
    tr: Renderer,
) -> str:
    parts = [
        tr.text("chart.desc.series", count=len(series), first=series[0].day, last=series[-1].day)
    ]
    for name, mark in marks.items():
        if mark:
            parts.append(
                tr.text(f"chart.desc.{name}", value=mark.shown(tr), unit=unit, date=mark.day)
            )
    if start:
        parts.append(tr.text("chart.desc.start", date=start))
    if threshold is not None:
        parts.append(tr.text("chart.desc.threshold", value=_fmt(threshold, tr), unit=unit))
    if inclusion is not None:
        parts.append(tr.text("chart.desc.inclusion", value=_fmt(inclusion, tr), unit=unit))
    return " ".join(parts)
