"""The IgG4 timeline (criteria.md): treatment start, baseline, nadir, current, and re-elevation.

Pure functions over LabResults in mg/L. Baseline, nadir and current each cite the Observation that
set them; the three readings of "re-elevation to >= 30% of baseline" are computed side by side so
that the reason can say when they disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cds_service.eligibility.context import num
from cds_service.eligibility.params import REELEVATION_RULES, Params
from fhir_mappings.facts import LabResult, Therapy


@dataclass(frozen=True, slots=True)
class Point:
    ref: str
    day: date
    value: Decimal  # mg/L

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "value": float(self.value), "ref": self.ref}


@dataclass(frozen=True, slots=True)
class Timeline:
    series: tuple[Point, ...]
    treatment_start: date | None
    treatment_ref: str | None
    baseline: Point | None
    current: Point | None
    nadir: Point | None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: str
    met: bool | None  # None: not decidable (missing baseline / nadir / current)
    detail: str


def treatment_start(therapies: list[Therapy]) -> tuple[date | None, str | None]:
    """Earliest start of any IgG4-RD therapy record (criteria.md)."""
    dated = [t for t in therapies if t.start is not None]
    if not dated:
        return None, None
    first = min(dated, key=lambda t: (t.start.day if t.start else date.max, t.ref))
    assert first.start is not None
    return first.start.day, first.ref


def build_timeline(
    igg4: list[LabResult], therapies: list[Therapy], as_of: date, params: Params
) -> Timeline:
    series = tuple(
        Point(lab.ref, lab.day, lab.quantity.value) for lab in igg4 if lab.quantity is not None
    )  # already sorted oldest first, dated on or before asOf
    start, start_ref = treatment_start(therapies)
    baseline = None
    if start is not None:
        before = [p for p in series if p.day <= start]
        if before:
            # the highest on or before treatment start; among equal values the earliest
            baseline = max(before, key=lambda p: (p.value, -p.day.toordinal()))
    window_start = as_of - timedelta(days=params.igg4_lookback_days)
    recent = [p for p in series if window_start <= p.day <= as_of]
    current = recent[-1] if recent else None
    nadir = None
    if start is not None and current is not None:
        between = [p for p in series if start < p.day < current.day]
        if between:
            nadir = min(between, key=lambda p: (p.value, p.day))
    return Timeline(series, start, start_ref, baseline, current, nadir)


def evaluate_rule(rule: str, tl: Timeline, params: Params) -> RuleOutcome:
    cur, nad, base = tl.current, tl.nadir, tl.baseline
    f = params.reelevation_fraction
    if cur is None or nad is None or (rule != "ratio-vs-nadir" and base is None):
        return RuleOutcome(rule, None, "not decidable")
    if rule == "fraction-of-baseline":
        assert base is not None
        line = f * base.value
        fell = nad.value < line
        rose = cur.value >= line
        detail = (
            f"nadir {num(nad.value)} {'<' if fell else '≥'} {num(f)} × baseline {num(base.value)}"
            f" = {num(line)} mg/L and current {num(cur.value)} {'≥' if rose else '<'} {num(line)}"
        )
        return RuleOutcome(rule, fell and rose, detail)
    if rule == "rise-vs-baseline":
        assert base is not None
        rise = cur.value - nad.value
        need = f * base.value
        ok = cur.value > nad.value and rise >= need
        detail = (
            f"rise {num(rise)} mg/L from nadir {num(nad.value)} {'≥' if ok else '<'}"
            f" {num(f)} × baseline {num(base.value)} = {num(need)}"
        )
        return RuleOutcome(rule, ok, detail)
    if rule == "ratio-vs-nadir":
        r = params.reelevation_ratio
        need = r * nad.value
        ok = cur.value >= need
        detail = f"current {num(cur.value)} {'≥' if ok else '<'} {num(r)} × nadir {num(nad.value)} = {num(need)}"
        return RuleOutcome(rule, ok, detail)
    raise ValueError(f"unknown re-elevation rule {rule!r}")


def evaluate_all_rules(tl: Timeline, params: Params) -> dict[str, RuleOutcome]:
    return {rule: evaluate_rule(rule, tl, params) for rule in REELEVATION_RULES}


def chart_data(tl: Timeline, params: Params) -> dict[str, Any]:
    """The ``igg4`` block of the assessment: what the worklist and SMART charts draw."""
    threshold = None
    if tl.baseline is not None:
        threshold = float(params.reelevation_fraction * tl.baseline.value)
    return {
        "unit": "mg/L",
        "series": [p.to_dict() for p in tl.series],
        "treatmentStart": tl.treatment_start.isoformat() if tl.treatment_start else None,
        "treatmentRef": tl.treatment_ref,
        "baseline": tl.baseline.to_dict() if tl.baseline else None,
        "nadir": tl.nadir.to_dict() if tl.nadir else None,
        "current": tl.current.to_dict() if tl.current else None,
        "threshold": threshold,
        "inclusionThreshold": float(params.baseline_igg4_min_mg_l),
        "rule": params.reelevation_rule,
    }
