"""What every criterion reads: the patient's facts as of the screening date, and shared helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from cds_service.eligibility import reasons
from cds_service.eligibility.assessment import CriterionResult, CriterionStatus, CriterionType
from cds_service.eligibility.interval import Interval
from cds_service.eligibility.params import Params
from cds_service.i18n.message import TEMPLATES, Arg, Join, Msg, Separator, Unit, join, msg
from cds_service.i18n.render import STABLE
from cds_service.i18n.render import num as render_num
from fhir_mappings.facts import Diagnosis, LabResult, PatientRecord, Therapy

ORDER: tuple[str, ...] = tuple(key.removeprefix("title.") for key in reasons.TITLES)

# criteria.md "Which data counts": verification states that make a diagnosis tentative
TENTATIVE_VERIFICATION = frozenset({"provisional", "differential", "unconfirmed"})
# Condition.clinicalStatus values that mean the condition is not current
NOT_CURRENT = frozenset({"inactive", "remission", "resolved"})
# Medication statuses that mean the drug was never (or not validly) given
VOID_THERAPY_STATUS = frozenset({"entered-in-error", "cancelled", "not-taken", "draft", "intended"})
# docs/criteria.md, "therapy status wins": never active maintenance, whatever the dosage period says
NOT_ONGOING_THERAPY_STATUS = frozenset(
    {"stopped", "completed", "cancelled", "entered-in-error", "not-taken"}
)


def result(
    cid: str, status: CriterionStatus, reason: Msg, evidence: Iterable[str] = ()
) -> CriterionResult:
    """A criterion's answer; its English ``reason`` is rendered from the message here, its title
    is given by ``titled`` once the parameters are known."""
    kind: CriterionType = "inclusion" if cid.startswith("I") else "exclusion"
    return CriterionResult(
        id=cid,
        type=kind,
        status=status,
        reason=STABLE(reason),
        evidence=tuple(dict.fromkeys(e for e in evidence if e)),  # unique, in order
        message=reason,
    )


def title_message(cid: str, params: Params) -> Msg:
    """The criterion's title, with the thresholds the parameters set."""
    values: dict[str, Arg] = {}
    if cid == "I2":
        values = {"min": params.age_min, "max": params.age_max}
    elif cid == "I3":
        values = {"limit": params.baseline_igg4_min_mg_l}
    elif cid == "E1":
        values = {"score": params.responder_index_max_score}
    elif cid == "E4":
        values = {"years": params.malignancy_lookback_years}
    return msg(f"title.{cid}", **values)


_TITLES: dict[tuple[str, int], tuple[Params, str, dict[str, Arg]]] = {}


def titled(c: CriterionResult, params: Params) -> CriterionResult:
    """``c`` with its title (English, and its values), worked out once per parameters."""
    known = _TITLES.get((c.id, id(params)))
    if known is None or known[0] is not params:
        if len(_TITLES) > 1024:  # parameters made by the thousand (tests): forget the old ones
            _TITLES.clear()
        title = title_message(c.id, params)
        known = _TITLES[(c.id, id(params))] = (params, STABLE(title), dict(title.args))
    return CriterionResult(
        c.id, c.type, c.status, c.reason, c.evidence, known[1], c.message, known[2]
    )


# ---- pieces of reasons ------------------------------------------------------------------------


def word(kind: str, code: str | None) -> Arg:
    """A coded word of the data (``verification``, ``clinical``, ``gender`` ...) as a message when
    the catalog knows it, else as the record wrote it."""
    key = f"{kind}.{code}"
    return Msg(key, {}) if key in TEMPLATES else str(code)


def notes(*clauses: Arg | None) -> Join:
    """Further clauses of a sentence, each after "; " (nothing when there are none)."""
    return join((c for c in clauses if c is not None), "semicolon", lead=True)


def listing(items: Sequence[Arg], sep: Separator = "comma", limit: int | None = None) -> Arg:
    """Items joined; past ``limit``, the first ones and "(+N more)"."""
    if limit is None or len(items) <= limit:
        return join(items, sep)
    return msg("list.more", items=join(items[:limit], sep), count=len(items) - limit)


def num(value: Decimal | float) -> str:
    """A value as the English reasons write it (``cds_service.i18n.render.num``)."""
    return render_num(value)


def qty(lab: LabResult) -> Arg:
    """A result as sent, and in the criterion's unit when that differs: "80 umol/L = 0.905 mg/dL";
    a censored one with its comparator: ">60 mL/min/{1.73_m2}"."""
    q = lab.quantity
    if q is None:
        return word("finding", lab.finding) if lab.finding else msg("qty.none")
    c = q.comparator or ""
    if q.original_unit == q.unit:
        return msg("qty", comparator=c, value=q.value, unit=Unit(q.unit))
    return msg(
        "qty.converted",
        comparator=c,
        value=q.original_value,
        unit=Unit(q.original_unit),
        converted=q.value,
        converted_unit=Unit(q.unit),
    )


def when(lab: LabResult) -> Arg:
    """The result's day for a reason: "2026-10-20", or "2026-10-20, issued"."""
    if lab.when is None:
        return msg("date.none")
    day = lab.when.day
    return msg("date.issued", date=day) if lab.dated_by == "issued" else day


def problems(
    labs: Sequence[LabResult | Diagnosis], limit: int, sep: Separator = "semicolon"
) -> Arg:
    """ "Observation/x (unit 'mmol/L' cannot be converted)", ... (the first ``limit``)."""
    items: list[Arg] = [msg("ref.problem", ref=x.ref, problem=x.problem or "") for x in labs]
    return listing(items, sep, limit)


def interval_of(lab: LabResult) -> Interval:
    """The values a quantitative result allows (one value, unless censored)."""
    assert lab.quantity is not None
    return Interval.of(lab.quantity.value, lab.quantity.comparator)


def refs(items: Iterable[LabResult | Diagnosis | Therapy]) -> list[str]:
    return [i.ref for i in items]


@dataclass
class Context:
    record: PatientRecord
    as_of: date
    params: Params

    def days_before(self, days: int) -> date:
        return self.as_of - timedelta(days=days)

    # --- labs -----------------------------------------------------------------------------
    @cached_property
    def _labs_by_analyte(self) -> dict[str, list[LabResult]]:
        """Usable results dated on or before asOf, by analyte, oldest first (ties by reference)."""
        out: dict[str, list[LabResult]] = {}
        for lab in self.record.labs:
            if lab.usable and lab.when is not None and lab.when.day <= self.as_of:
                out.setdefault(lab.analyte, []).append(lab)
        for labs in out.values():
            labs.sort(key=lambda r: (r.day, r.ref))
        return out

    def labs(self, *analytes: str) -> list[LabResult]:
        if len(analytes) == 1:
            return self._labs_by_analyte.get(analytes[0], [])
        merged = [lab for a in analytes for lab in self._labs_by_analyte.get(a, [])]
        merged.sort(key=lambda r: (r.day, r.ref))
        return merged

    def latest(self, *analytes: str, within_days: int | None = None) -> LabResult | None:
        labs = self.labs(*analytes)
        if not labs:
            return None
        last = labs[-1]
        if within_days is not None and last.day < self.days_before(within_days):
            return None
        return last

    def unreadable(self, analyte: str, *, since: date | None = None) -> list[LabResult]:
        """Results of this analyte that exist but could not be read, dated in [since, asOf] or
        without a date."""
        out = []
        for lab in self.record.labs:
            if lab.analyte != analyte or not lab.unreadable:
                continue
            if lab.when is not None and (
                lab.when.day > self.as_of or (since is not None and lab.when.day < since)
            ):
                continue
            out.append(lab)
        return out

    def unusable(self, *analytes: str) -> list[LabResult]:
        wanted = set(analytes)
        return [lab for lab in self.record.labs if lab.analyte in wanted and not lab.usable]

    # --- diagnoses ------------------------------------------------------------------------
    @cached_property
    def diagnoses(self) -> list[Diagnosis]:
        """Usable Conditions not dated after asOf (a dateless one is kept)."""
        out = []
        for d in self.record.diagnoses:
            if d.problem is not None:
                continue
            when = d.date
            if when is not None and when.day > self.as_of:
                continue
            out.append(d)
        return out

    def with_concept(self, *concepts: str) -> list[Diagnosis]:
        wanted = set(concepts)
        return [d for d in self.diagnoses if d.concepts & wanted]

    def voided(self, *concepts: str) -> list[Diagnosis]:
        """Conditions of these concepts that were refuted or entered in error (said in reasons)."""
        wanted = set(concepts)
        return [d for d in self.record.diagnoses if d.problem and d.concepts & wanted]

    # --- therapies ------------------------------------------------------------------------
    @cached_property
    def therapies(self) -> list[Therapy]:
        groups = set(self.params.therapy_groups)
        out = []
        for t in self.record.therapies:
            if t.status in VOID_THERAPY_STATUS or not (t.groups & groups):
                continue
            if t.start is not None and t.start.day > self.as_of:
                continue
            out.append(t)
        return out

    def active_therapies(self) -> list[Therapy]:
        """Maintenance therapy at asOf (inclusion 5): status active, or a period covering asOf
        unless the status says the therapy is over (stopped, completed...): the status wins."""
        out = []
        for t in self.therapies:
            if t.status in NOT_ONGOING_THERAPY_STATUS:
                continue
            if t.status == "active" or (
                t.period_start is not None
                and t.period_end is not None
                and t.period_start.day <= self.as_of <= t.period_end.latest
            ):
                out.append(t)
        return out


def is_current(d: Diagnosis) -> bool:
    """Not resolved, inactive or in remission, and without an abatement."""
    return d.clinical_status not in NOT_CURRENT and not d.abated


def split_by_verification(
    diagnoses: Sequence[Diagnosis],
) -> tuple[list[Diagnosis], list[Diagnosis]]:
    """(confirmed or unstated, tentative: provisional / differential / unconfirmed)."""
    firm = [d for d in diagnoses if d.verification_status not in TENTATIVE_VERIFICATION]
    tentative = [d for d in diagnoses if d.verification_status in TENTATIVE_VERIFICATION]
    return firm, tentative


def labels(diagnoses: Sequence[Diagnosis], limit: int = 4) -> Arg:
    names: list[Arg] = list(dict.fromkeys(d.label for d in diagnoses))
    return listing(names, "comma", limit)
