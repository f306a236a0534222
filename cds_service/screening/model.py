"""The small records that flow through a screen: a patient's resources in, a result out."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class PatientGroup:
    """All resources of one patient, as raw NDJSON text (bulk, Spark) or parsed dicts (server)."""

    ref: str  # "Patient/123"
    resources: tuple[str | bytes | dict[str, Any], ...]


@dataclass(frozen=True, slots=True)
class PatientResult:
    """The engine's assessment of one patient (``Assessment.to_dict()``), or why there is none."""

    ref: str
    assessment: dict[str, Any] | None
    error: str | None = None  # a short reason without patient data, e.g. "no Patient resource"
    resources: int = 0
    display_name: str | None = None  # for the worklist's rows only; never printed or logged
    handoff: dict[str, Any] | None = None  # fhir_mappings.summary.handoff, for the worklist only


@dataclass(frozen=True, slots=True)
class SourceIssue:
    """A line or resource that could not be used: where it is and why (never its content)."""

    where: str  # a file relative to the export, or a FHIR resource type / search
    line: int | None
    message: str

    def __str__(self) -> str:
        at = f"{self.where}:{self.line}" if self.line is not None else self.where
        return f"{at}: {self.message}"


@dataclass(slots=True)
class SourceStats:
    """What a source saw, for the summary: counted as lines are read, before any assessment."""

    lines: int = 0
    resources: dict[str, int] = field(default_factory=dict)  # per engine type
    other_types: dict[str, int] = field(default_factory=dict)  # types the engine does not read
    unlinked: int = 0  # engine-type resources whose subject is not a Patient (a Group, ...)
    blank: int = 0
    bad: int = 0
    patients: int = 0  # Patient resources (bulk) or patients found by search (server)
    selected: int = 0  # patients worth assessing
    already_done: int = 0  # skipped by --resume

    def to_dict(self) -> dict[str, Any]:
        return {
            "lines": self.lines,
            "resources": dict(sorted(self.resources.items())),
            "otherTypes": dict(sorted(self.other_types.items())),
            "unlinked": self.unlinked,
            "blank": self.blank,
            "malformed": self.bad,
            "patients": self.patients,
            "selected": self.selected,
            "alreadyDone": self.already_done,
        }
