"""The assessment as data: one JSON shape used by the CLI, the CDS cards and the worklist."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal

from cds_service.i18n.message import Arg, Msg, encode, encode_args

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
    # The reason as a message id and named values (reasons.py): ``reason`` is its English; a
    # reader's language renders it from these. None only for a result built by hand.
    message: Msg | None = None
    title_args: Mapping[str, Arg] = field(default_factory=dict)  # the title's values (title.<id>)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type,
            "title": self.title,
            "status": self.status,
            "reason": self.reason,
            "evidence": list(self.evidence),
        }
        if self.message is not None:  # language-neutral: what a reader's language renders
            out["reasonCode"] = self.message.key
            out["reasonArgs"] = encode_args(self.message)
        out["titleArgs"] = {k: encode(v) for k, v in self.title_args.items()}
        return out


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
