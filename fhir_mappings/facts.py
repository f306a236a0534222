"""Clinical facts: what the eligibility engine reads, extracted from raw FHIR JSON.

These records hold only the fields the criteria need, each with the reference of the FHIR resource it
came from (``"Observation/abc"``) so that every decision can cite its evidence. They know nothing of
HTTP or Flask and are cheap to build (plain dataclasses, no model validation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from fhir_mappings.quote import CODE_MAX, SYSTEM_MAX, clip


@dataclass(
    slots=True
)  # not frozen: built per Observation on the hot path (5x cheaper); treat as immutable
class Coding:
    system: str
    code: str
    display: str | None = None

    def __str__(self) -> str:
        """As quoted in a data issue: ``system|code 'display'``, each part bounded."""
        label = f" '{clip(self.display)}'" if self.display else ""
        return f"{clip(self.system, SYSTEM_MAX)}|{clip(self.code, CODE_MAX)}{label}"


@dataclass(
    slots=True
)  # not frozen: built per Observation on the hot path (5x cheaper); treat as immutable
class FuzzyDate:
    """A FHIR date, dateTime or instant, possibly partial ("1980", "1980-05").

    ``earliest`` and ``latest`` are the first and last calendar days the value can stand for; for a
    full date they are equal. ``text`` keeps what the record said, for reasons and audit.
    """

    earliest: date
    latest: date
    text: str

    @property
    def day(self) -> date:
        """The date used for ordering and windows: the earliest possible day."""
        return self.earliest


@dataclass(frozen=True, slots=True)
class Issue:
    """Something in the data that was not used, or used with a caveat, said rather than dropped."""

    ref: str
    message: str

    def __str__(self) -> str:
        return f"{self.ref}: {self.message}"


@dataclass(frozen=True, slots=True)
class PatientFacts:
    ref: str
    birth_date: FuzzyDate | None
    gender: str | None  # FHIR administrative gender: male | female | other | unknown
    black: bool | None  # US Core race OMB category 2054-5; None = race not recorded
    display_name: str | None = None


@dataclass(
    slots=True
)  # not frozen: built per Observation on the hot path (5x cheaper); treat as immutable
class Quantity:
    """A numeric value converted to the analyte's canonical unit, with the original for audit."""

    value: Decimal
    unit: str  # canonical UCUM unit of the analyte
    original_value: Decimal
    original_unit: str
    comparator: str | None = None  # "<", "<=", ">=", ">": a censored value (an interval)


@dataclass(
    slots=True
)  # not frozen: built per Observation on the hot path (5x cheaper); treat as immutable
class LabResult:
    """One Observation mapped to an analyte concept (e.g. ``igg4``, ``creatinine``, ``hbsag``).

    ``usable`` is False when the result must not be used; ``problem`` then says why (status,
    no date, no value, unit that cannot be converted). Coded results carry ``finding``:
    ``positive``, ``negative``, ``indeterminate``, ``pregnant``, ``not-pregnant``.
    """

    ref: str
    analyte: str
    code: Coding | None
    status: str | None
    when: FuzzyDate | None
    quantity: Quantity | None = None
    finding: str | None = None
    integer: int | None = None  # valueInteger (responder-index organ scores)
    body_site: tuple[Coding, ...] = ()
    body_site_text: str | None = None
    ref_high: Quantity | None = None  # referenceRange.high, converted to the canonical unit
    matched_by: str = "code"  # "code" or "text" (local code matched on its name)
    problem: str | None = None
    has_value: bool = True  # a value was sent, even one that cannot be used
    dated_by: str = "effective"  # "effective", or "issued" when effective[x] gave no date

    @property
    def usable(self) -> bool:
        return self.problem is None

    @property
    def unreadable(self) -> bool:
        """A value was sent but cannot be used (an unknown unit, a censored value, no date): a
        result that exists but could not be read, which may hide the answer. A result with no
        value at all (dataAbsentReason) hides nothing; its status-excluded kin neither."""
        return (
            self.problem is not None
            and self.has_value
            and self.status in ("final", "amended", "corrected")
        )

    @property
    def day(self) -> date:
        assert self.when is not None
        return self.when.day

    @property
    def date_text(self) -> str:
        """The result's day for a reason: "2026-10-20", or "2026-10-20, issued"."""
        if self.when is None:
            return "no date"
        suffix = ", issued" if self.dated_by == "issued" else ""
        return self.day.isoformat() + suffix


@dataclass(frozen=True, slots=True)
class Diagnosis:
    ref: str
    codings: tuple[Coding, ...]
    text: str | None
    concepts: frozenset[str]  # value-set names this condition belongs to
    clinical_status: str | None  # active | recurrence | relapse | inactive | remission | resolved
    verification_status: str | None  # unconfirmed | provisional | differential | confirmed | ...
    onset: FuzzyDate | None
    recorded: FuzzyDate | None
    abatement: FuzzyDate | None
    abated: bool = False  # abatement[x] present in any form (incl. abatementBoolean/String)
    body_sites: tuple[Coding, ...] = ()
    body_site_concepts: frozenset[str] = frozenset()  # organ value sets the bodySite matches
    problem: str | None = None
    # families (condition_hints) the name reads like that no code of the Condition decides
    # (docs/criteria.md, "conditions not in the value sets"), and whether that name says "history of"
    reads_like: frozenset[str] = frozenset()
    history_worded: bool = False

    @property
    def date(self) -> FuzzyDate | None:
        """criteria.md: a Condition's date is onset[x], else recordedDate."""
        return self.onset or self.recorded

    @property
    def label(self) -> str:
        """What the record calls itself, with its first code: "IgG4-related disease (D89.84)"
        (each part bounded: it is quoted in reasons)."""
        code = clip(self.codings[0].code, CODE_MAX) if self.codings else None
        name = self.text or next((c.display for c in self.codings if c.display), None)
        if name:
            name = clip(name)
        if name and code:
            return f"{name} ({code})"
        return name or code or "condition"


@dataclass(frozen=True, slots=True)
class Therapy:
    """A MedicationRequest or MedicationStatement of an IgG4-RD therapy (codes.md table 4)."""

    ref: str
    ingredients: frozenset[str]  # ingredient names, e.g. "prednisone"
    groups: frozenset[str]  # glucocorticoid | immunosuppressant | biologic
    status: str | None
    start: FuzzyDate | None  # earliest of authoredOn, effective[x], dosage period start
    period_start: FuzzyDate | None
    period_end: FuzzyDate | None
    matched_by: str = "code"


@dataclass(frozen=True, slots=True)
class ProcedureFact:
    ref: str
    codings: tuple[Coding, ...]
    concepts: frozenset[str]
    status: str | None
    when: FuzzyDate | None  # performed[x]; for a period, its end (else its start)


@dataclass(frozen=True, slots=True)
class Enrolment:
    """A ResearchSubject: the patient's participation in a study."""

    ref: str
    study: str | None  # Reference.reference, e.g. "ResearchStudy/x"
    study_identifiers: frozenset[str]  # identifier values of the study (NCT numbers, local ids)
    study_label: str | None
    status: str | None
    period_start: FuzzyDate | None
    period_end: FuzzyDate | None


@dataclass(slots=True)
class PatientRecord:
    """Everything known about one patient, as facts, plus what could not be used."""

    patient: PatientFacts
    labs: list[LabResult] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    therapies: list[Therapy] = field(default_factory=list)
    procedures: list[ProcedureFact] = field(default_factory=list)
    enrolments: list[Enrolment] = field(default_factory=list)
    issues: list[Issue] = field(default_factory=list)
