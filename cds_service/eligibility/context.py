"""What every criterion reads: the patient's facts as of the screening date, and shared helpers."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import cached_property

from cds_service.eligibility.assessment import CriterionResult, CriterionStatus, CriterionType
from cds_service.eligibility.interval import Interval
from cds_service.eligibility.params import Params
from fhir_mappings.facts import Diagnosis, LabResult, PatientRecord, Therapy

TITLES: dict[str, str] = {
    "I1": "IgG4-RD by 2019 ACR/EULAR or 2020 RCD criteria",
    "I2": "Age 18-70 years",
    "I3": "Baseline serum IgG4 > 1400 mg/L",
    "I4": "Major organ involvement",
    "I5": "IgG4 re-elevation during maintenance remission, no relapse",
    "I6": "Written informed consent",
    "I7": "Agrees to highly effective contraception",
    "E1": "IgG4-RD Responder Index >= 2 in any organ",
    "E2": "No major organ involvement",
    "E3": "Severe or active infection (HIV, HCV, HBV, TB)",
    "E4": "Malignancy within 5 years (with exceptions)",
    "E5": "Immunodeficiency",
    "E6": "Severe comorbidities (investigator's judgement)",
    "E7": "Other rheumatic disease or IgG4-RD mimicker",
    "E8": "In another interventional drug trial",
    "E9": "Alcohol or drug abuse history",
    "E10": "Pregnancy or lactation",
    "E11": "Screening laboratory exclusions",
}
ORDER: tuple[str, ...] = tuple(TITLES)

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
    cid: str, status: CriterionStatus, reason: str, evidence: Iterable[str] = ()
) -> CriterionResult:
    kind: CriterionType = "inclusion" if cid.startswith("I") else "exclusion"
    return CriterionResult(
        id=cid,
        type=kind,
        status=status,
        reason=reason,
        evidence=tuple(dict.fromkeys(e for e in evidence if e)),  # unique, in order
        title=TITLES[cid],
    )


def num(value: Decimal | float) -> str:
    """A value for a reason: no trailing zeros, no exponent, at most 3 decimals (1400, 0.3, 0.905)."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if value.as_tuple().exponent < -3:  # type: ignore[operator]
        value = value.quantize(Decimal("0.001"))
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def qty(lab: LabResult) -> str:
    """A result as sent, and in the criterion's unit when that differs: "80 umol/L = 0.905 mg/dL";
    a censored one with its comparator: ">60 mL/min/{1.73_m2}"."""
    q = lab.quantity
    if q is None:
        return lab.finding or "no value"
    c = q.comparator or ""
    if q.original_unit == q.unit:
        return f"{c}{num(q.value)} {q.unit}"
    return f"{c}{num(q.original_value)} {q.original_unit} = {c}{num(q.value)} {q.unit}"


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


def labels(diagnoses: Sequence[Diagnosis], limit: int = 4) -> str:
    names = list(dict.fromkeys(d.label for d in diagnoses))
    more = f" (+{len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more
