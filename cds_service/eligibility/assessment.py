"""The assessment as data: one JSON shape used by the CLI, the CDS cards and the worklist."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

CriterionStatus = Literal["met", "not-met", "unknown"]
OverallStatus = Literal["candidate", "needs-review", "ineligible"]
CriterionType = Literal["inclusion", "exclusion"]


@dataclass(frozen=True, slots=True)
class CriterionResult:
    id: str  # "I1" .. "I7", "E1" .. "E11"
    type: CriterionType
    status: CriterionStatus
    reason: str
    evidence: tuple[str, ...] = ()  # "Observation/abc", ...
    title: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }


@dataclass(slots=True)
class Assessment:
    trial: str
    patient: str  # "Patient/123"
    as_of: date
    status: OverallStatus
    criteria: list[CriterionResult]
    igg4: dict[str, Any] = field(default_factory=dict)  # the IgG4 timeline, for charts
    data_issues: list[str] = field(default_factory=list)
    parameters: dict[str, Any] = field(default_factory=dict)

    def criterion(self, cid: str) -> CriterionResult:
        for c in self.criteria:
            if c.id == cid:
                return c
        raise KeyError(cid)

    def to_dict(self) -> dict[str, Any]:
        return {
            "trial": self.trial,
            "patient": self.patient,
            "asOf": self.as_of.isoformat(),
            "status": self.status,
            "criteria": [c.to_dict() for c in self.criteria],
            "igg4": self.igg4,
            "dataIssues": list(self.data_issues),
            "parameters": self.parameters,
        }
