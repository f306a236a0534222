"""The IgG4 history as an SVG chart: results over time, baseline, nadir, current, the
re-elevation threshold (I5) and the 1400 mg/L inclusion line (I3). Pure: data in, markup out."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from markupsafe import Markup, escape

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 64, 150, 20, 44  # margins; the right one holds the line labels


@dataclass(frozen=True)
class Point:
    day: date
    value: float
    ref: str = ""
    comparator: str = ""  # "<", "<=", ">", ">=": a censored result, drawn at its bound

    @property
    def shown(self) -> str:
        return f"{self.comparator}{_fmt(self.value)}"


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


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / ticks
    magnitude = 10 ** math.floor(math.log10(raw))
    for factor in (1.0, 2.0, 2.5, 5.0, 10.0):
        if raw <= factor * magnitude:
            return float(factor * magnitude)
    return float(10 * magnitude)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.1f}"


def igg4_chart(igg4: dict[str, Any] | None) -> Markup:
    """An accessible SVG (role="img", with a text description) of the assessment's IgG4 block."""
    igg4 = igg4 or {}
    unit = str(igg4.get("unit") or "mg/L")
    series = sorted(
        (p for p in (_point(r) for r in igg4.get("series") or []) if p), key=lambda p: p.day
    )
    marks = {k: _point(igg4.get(k)) for k in ("baseline", "nadir", "current")}
    threshold = _number(igg4.get("threshold"))
    # a censored baseline gives a censored line (">900")
    line_cmp = str(c) if (c := igg4.get("thresholdComparator")) in ("<", "<=", ">", ">=") else ""
    inclusion = _number(igg4.get("inclusionThreshold"))
    try:
        start = date.fromisoformat(str(igg4.get("treatmentStart"))[:10])
    except ValueError:
        start = None
    if not series:
        return Markup(
            f'<svg class="igg4-chart" role="img" viewBox="0 0 {WIDTH} 80" width="100%"'
            ' aria-label="No serum IgG4 results"><text x="16" y="44" class="chart-empty">'
            "No serum IgG4 results on record.</text></svg>"
        )

    days = [p.day for p in series] + ([start] if start else [])
    d0, d1 = min(days), max(days)
    if d1 == d0:
        d0, d1 = d0 - timedelta(days=30), d1 + timedelta(days=30)
    pad = max(1, (d1 - d0).days // 30)
    d0, d1 = d0 - timedelta(days=pad), d1 + timedelta(days=pad)
    top_value = max([p.value for p in series] + [v for v in (threshold, inclusion) if v] + [1.0])
    step = _nice_step(top_value * 1.1)
    y_max = step * math.ceil(top_value * 1.1 / step)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(day: date) -> float:
        return LEFT + plot_w * (day - d0).days / (d1 - d0).days

    def y(value: float) -> float:
        return TOP + plot_h * (1 - value / y_max)

    out: list[str] = []
    add = out.append
    desc = _description(series, marks, threshold, inclusion, start, unit)
    add(
        f'<svg class="igg4-chart" role="img" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%"'
        ' aria-labelledby="igg4-chart-title igg4-chart-desc" xmlns="http://www.w3.org/2000/svg">'
        f'<title id="igg4-chart-title">Serum IgG4 over time ({escape(unit)})</title>'
        f'<desc id="igg4-chart-desc">{escape(desc)}</desc>'
    )
    # y grid and axis labels
    tick = 0.0
    while tick <= y_max + 1e-9:
        add(
            f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(tick):.1f}"'
            f' y2="{y(tick):.1f}"/><text class="axis" x="{LEFT - 6}" y="{y(tick) + 4:.1f}"'
            f' text-anchor="end">{_fmt(tick)}</text>'
        )
        tick += step
    add(
        f'<text class="axis" x="14" y="{TOP + plot_h / 2:.0f}" text-anchor="middle"'
        f' transform="rotate(-90 14 {TOP + plot_h / 2:.0f})">IgG4 ({escape(unit)})</text>'
    )
    # x axis: about six date ticks
    span = (d1 - d0).days
    for i in range(6):
        day = d0 + timedelta(days=round(span * i / 5))
        add(
            f'<line class="tick" x1="{x(day):.1f}" x2="{x(day):.1f}" y1="{TOP + plot_h}"'
            f' y2="{TOP + plot_h + 5}"/><text class="axis" x="{x(day):.1f}"'
            f' y="{TOP + plot_h + 20}" text-anchor="middle">{day.isoformat()[:7]}</text>'
        )
    add(
        f'<line class="axis-line" x1="{LEFT}" x2="{LEFT + plot_w}" y1="{TOP + plot_h}"'
        f' y2="{TOP + plot_h}"/><line class="axis-line" x1="{LEFT}" x2="{LEFT}" y1="{TOP}"'
        f' y2="{TOP + plot_h}"/>'
    )
    if start:
        add(
            f'<g class="treatment-start"><line x1="{x(start):.1f}" x2="{x(start):.1f}" y1="{TOP}"'
            f' y2="{TOP + plot_h}"/><text x="{x(start) + 4:.1f}" y="{TOP + 12}">treatment start'
            f" {start.isoformat()}</text></g>"
        )
    for cls, value, label in (
        ("inclusion-line", inclusion, f"I3 line {_fmt(inclusion or 0)} {unit}"),
        ("threshold-line", threshold, f"re-elevation {line_cmp}{_fmt(threshold or 0)} {unit}"),
    ):
        if value is not None and value <= y_max:
            add(
                f'<g class="{cls}"><line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y(value):.1f}"'
                f' y2="{y(value):.1f}"/><text x="{LEFT + plot_w + 6}" y="{y(value) + 4:.1f}">'
                f"{escape(label)}</text></g>"
            )
    path = " ".join(f"{x(p.day):.1f},{y(p.value):.1f}" for p in series)
    add(f'<polyline class="series" points="{path}"/>')
    for p in series:
        add(
            f'<circle class="result" cx="{x(p.day):.1f}" cy="{y(p.value):.1f}" r="4">'
            f"<title>{p.day.isoformat()}: {escape(p.shown)} {escape(unit)}</title></circle>"
        )
    for name, mark in marks.items():
        if mark is None:
            continue
        # the nadir's label goes below its point, the others above
        label_y = y(mark.value) + (22 if name == "nadir" else -12)
        add(
            f'<g class="mark mark-{name}"><circle cx="{x(mark.day):.1f}" cy="{y(mark.value):.1f}"'
            f' r="8"/><text x="{x(mark.day):.1f}" y="{label_y:.1f}"'
            f' text-anchor="middle">{name} {escape(mark.shown)}</text></g>'
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
) -> str:
    parts = [f"{len(series)} serum IgG4 results from {series[0].day} to {series[-1].day}."]
    for name, mark in marks.items():
        if mark:
            parts.append(f"{name.capitalize()} {mark.shown} {unit} on {mark.day}.")
    if start:
        parts.append(f"Treatment started {start}.")
    if threshold is not None:
        parts.append(f"Re-elevation threshold {_fmt(threshold)} {unit}.")
    if inclusion is not None:
        parts.append(f"Inclusion line {_fmt(inclusion)} {unit}.")
    return " ".join(parts)
