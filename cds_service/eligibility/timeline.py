"""The IgG4 timeline (docs/criteria.md): treatment start, baseline, nadir, current, re-elevation.

Pure functions over LabResults in mg/L. Baseline, nadir and current each cite the Observation that
set them; the three readings of "re-elevation to >= 30% of baseline" are computed side by side so
that the reason can say when they disagree. A censored result (``<70 mg/L``) takes part as the
interval of values it allows, and every comparison is three-valued (interval.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from cds_service.eligibility import reasons  # noqa: F401 (defines the rule messages)
from cds_service.eligibility.interval import (
    INF,
    ZERO,
    Interval,
    all_of,
    ge,
    gt,
    highest,
    lowest,
    lt,
)
from cds_service.eligibility.params import REELEVATION_RULES, Params
from cds_service.i18n.message import Arg, msg
from fhir_mappings.facts import LabResult, Therapy


@dataclass(frozen=True, slots=True)
class Point:
    ref: str
    day: date
    value: Decimal  # mg/L, as the result gives it (the bound, when censored)
    comparator: str | None = None  # "<", "<=", ">", ">=": a censored result
    issued: bool = False  # dated by Observation.issued (no effective[x])

    @property
    def interval(self) -> Interval:
        return Interval.of(self.value, self.comparator)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"date": self.day.isoformat(), "value": float(self.value)}
        if self.comparator is not None:
            out["comparator"] = self.comparator
        out["ref"] = self.ref
        return out


@dataclass(frozen=True, slots=True)
class Timeline:
    series: tuple[Point, ...]
    treatment_start: date | None
    treatment_ref: str | None
    baseline: Point | None
    current: Point | None
    nadir: Point | None
    baseline_range: Interval | None = None
    nadir_range: Interval | None = None

    @property
    def current_range(self) -> Interval | None:
        return self.current.interval if self.current is not None else None


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    rule: str
    met: bool | None  # None: not decidable (missing data, or a censored value on the line)
    detail: Arg  # how the values stand against the rule (reasons.py, "rule.*")
    missing: bool = False  # undecidable for want of a baseline / nadir / current


def treatment_start(therapies: list[Therapy]) -> tuple[date | None, str | None]:
    """Earliest start of any IgG4-RD therapy record (docs/criteria.md)."""
    dated = [t for t in therapies if t.start is not None]
    if not dated:
        return None, None
    first = min(dated, key=lambda t: (t.start.day if t.start else date.max, t.ref))
    assert first.start is not None
    return first.start.day, first.ref


def _highest(points: list[Point]) -> tuple[Point, Interval]:
    """The highest result: shown is the one with the highest upper bound (then lower bound, then the
    earliest); the interval spans every value the maximum can take."""
    shown = max(points, key=lambda p: (p.interval.hi, p.interval.lo, -p.day.toordinal()))
    return shown, highest(p.interval for p in points)


def _lowest(points: list[Point]) -> tuple[Point, Interval]:
    shown = min(points, key=lambda p: (p.interval.lo, p.interval.hi, p.day.toordinal()))
    return shown, lowest(p.interval for p in points)


def build_timeline(
    igg4: list[LabResult], therapies: list[Therapy], as_of: date, params: Params
) -> Timeline:
    series = tuple(
        Point(
            lab.ref,
            lab.day,
            lab.quantity.value,
            lab.quantity.comparator,
            lab.dated_by == "issued",
        )
        for lab in igg4
        if lab.quantity is not None
    )  # already sorted oldest first, dated on or before asOf
    start, start_ref = treatment_start(therapies)
    baseline = baseline_range = None
    if start is not None:
        before = [p for p in series if p.day <= start]
        if before:
            baseline, baseline_range = _highest(before)
    window_start = as_of - timedelta(days=params.igg4_lookback_days)
    recent = [p for p in series if window_start <= p.day <= as_of]
    current = recent[-1] if recent else None  # the latest, censored or not
    nadir = nadir_range = None
    if start is not None and current is not None:
        between = [p for p in series if start < p.day < current.day]
        if between:
            nadir, nadir_range = _lowest(between)
    return Timeline(series, start, start_ref, baseline, current, nadir, baseline_range, nadir_range)


def iv(value: Interval) -> Arg:
    """An interval for a reason: "600", "<70", "≥3000", "300 to <500"."""
    if value.exact:
        return value.lo
    if value.hi == INF:
        return msg("iv.gt" if value.lo_open else "iv.ge", value=value.lo)
    upper = msg("iv.lt" if value.hi_open else "iv.le", value=value.hi)
    if value.lo == ZERO and not value.lo_open:
        return upper
    lower = msg("iv.gt", value=value.lo) if value.lo_open else value.lo
    return msg("iv.range", lo=lower, hi=upper)


def _sym(outcome: bool | None, yes: str, no: str) -> Arg:
    return yes if outcome is True else no if outcome is False else msg("sym.vs")


def evaluate_rule(rule: str, tl: Timeline, params: Params) -> RuleOutcome:
    cur, nad, base = tl.current_range, tl.nadir_range, tl.baseline_range
    f = params.reelevation_fraction
    if cur is None or nad is None or (rule != "ratio-vs-nadir" and base is None):
        return RuleOutcome(rule, None, msg("rule.not-decidable"), missing=True)
    censored = not (cur.exact and nad.exact and (base is None or base.exact))
    if rule == "fraction-of-baseline":
        assert base is not None
        line = base.scale(f)
        fell = lt(nad, line)
        rose = ge(cur, line)
        met = all_of(fell, rose)
        detail: Arg = msg(
            "rule.fraction-of-baseline",
            nadir=iv(nad),
            fell=_sym(fell, "<", "≥"),
            fraction=f,
            baseline=iv(base),
            line=iv(line),
            current=iv(cur),
            rose=_sym(rose, "≥", "<"),
        )
    elif rule == "rise-vs-baseline":
        assert base is not None
        rise = cur.minus(nad)
        need = base.scale(f)
        up = gt(cur, nad)
        enough = ge(rise, need)
        met = all_of(up, enough)
        detail = msg(
            "rule.rise-vs-baseline",
            rise=iv(rise),
            nadir=iv(nad),
            rel=_sym(met, "≥", "<"),
            fraction=f,
            baseline=iv(base),
            need=iv(need),
        )
    elif rule == "ratio-vs-nadir":
        r = params.reelevation_ratio
        need = nad.scale(r)
        met = ge(cur, need)
        detail = msg(
            "rule.ratio-vs-nadir",
            current=iv(cur),
            rel=_sym(met, "≥", "<"),
            ratio=r,
            nadir=iv(nad),
            need=iv(need),
        )
    else:
        raise ValueError(f"unknown re-elevation rule {rule!r}")
    if met is None and censored:
        detail = msg("rule.censored", detail=detail)
    return RuleOutcome(rule, met, detail)


def evaluate_all_rules(tl: Timeline, params: Params) -> dict[str, RuleOutcome]:
    return {rule: evaluate_rule(rule, tl, params) for rule in REELEVATION_RULES}


def chart_data(tl: Timeline, params: Params) -> dict[str, Any]:
    """The ``igg4`` block of the assessment: what the worklist and SMART charts draw. A censored
    result carries its ``comparator``; so does the re-elevation line when the baseline is censored
    (``thresholdComparator``)."""
    threshold = None
    out: dict[str, Any] = {"unit": "mg/L", "series": [p.to_dict() for p in tl.series]}
    if tl.baseline is not None:
        threshold = float(params.reelevation_fraction * tl.baseline.value)
    out.update(
        {
            "treatmentStart": tl.treatment_start.isoformat() if tl.treatment_start else None,
            "treatmentRef": tl.treatment_ref,
            "baseline": tl.baseline.to_dict() if tl.baseline else None,
            "nadir": tl.nadir.to_dict() if tl.nadir else None,
            "current": tl.current.to_dict() if tl.current else None,
            "threshold": threshold,
            "inclusionThreshold": float(params.baseline_igg4_min_mg_l),
            "rule": params.reelevation_rule,
        }
    )
    if tl.baseline is not None and tl.baseline.comparator is not None:
        out["thresholdComparator"] = tl.baseline.comparator
    return out
