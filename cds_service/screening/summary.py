"""The summary of a screen: counts per overall status and an attrition table, built as results
stream by (nothing is kept per patient).

Attrition, per criterion in protocol order:
- ``ruledOut``: patients this criterion alone rules out (inclusion ``not-met`` / exclusion ``met``),
  whatever the other criteria say;
- ``firstRuledOut`` and ``remaining``: the CONSORT-style funnel, each patient counted at the first
  criterion (in protocol order) that rules them out;
- ``unknown``: patients for whom the criterion is undecided.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from cds_service.screening.model import PatientResult, SourceStats
from cds_service.screening.output import CRITERIA_IDS

STATUSES = ("candidate", "needs-review", "ineligible")


def rules_out(criterion: dict[str, Any]) -> bool:
    if criterion.get("type") == "exclusion" or str(criterion.get("id", "")).startswith("E"):
        return criterion.get("status") == "met"
    return criterion.get("status") == "not-met"


@dataclass(slots=True)
class Summary:
    assessed: int = 0
    status: Counter[str] = field(default_factory=Counter)
    ruled_out: Counter[str] = field(default_factory=Counter)
    first_ruled_out: Counter[str] = field(default_factory=Counter)
    unknown: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    titles: dict[str, str] = field(default_factory=dict)
    resources: int = 0

    def add(self, results: Sequence[PatientResult]) -> None:
        for r in results:
            self.resources += r.resources
            if r.assessment is None:
                self.errors[r.error or "not assessed"] += 1
                continue
            self.assessed += 1
            self.status[str(r.assessment.get("status"))] += 1
            first = True
            for c in r.assessment.get("criteria", []):
                cid = str(c.get("id"))
                if cid not in self.titles and c.get("title"):
                    self.titles[cid] = str(c["title"])
                if rules_out(c):
                    self.ruled_out[cid] += 1
                    if first:
                        self.first_ruled_out[cid] += 1
                        first = False
                elif c.get("status") == "unknown":
                    self.unknown[cid] += 1

    def attrition(self) -> list[dict[str, Any]]:
        rows = []
        remaining = self.assessed
        for cid in CRITERIA_IDS:
            remaining -= self.first_ruled_out[cid]
            rows.append(
                {
                    "id": cid,
                    "title": self.titles.get(cid, ""),
                    "ruledOut": self.ruled_out[cid],
                    "firstRuledOut": self.first_ruled_out[cid],
                    "remaining": remaining,
                    "unknown": self.unknown[cid],
                }
            )
        return rows

    def to_dict(self, stats: SourceStats | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "assessed": self.assessed,
            "status": {s: self.status[s] for s in STATUSES},
            "notAssessed": dict(sorted(self.errors.items())),
            "resourcesAssessed": self.resources,
            "attrition": self.attrition(),
        }
        if stats is not None:
            out["source"] = stats.to_dict()
        return out

    def render(self, stats: SourceStats | None = None) -> str:
        lines = []
        if stats is not None:
            lines.append(
                f"Source: {stats.patients} patients, {sum(stats.resources.values())} resources, "
                f"{stats.bad} malformed line(s); {stats.selected} worth assessing "
                f"(IgG4-RD condition or IgG4 result), {stats.already_done} already done."
            )
        lines.append(
            f"Assessed {self.assessed}: "
            + ", ".join(f"{s} {self.status[s]}" for s in STATUSES)
            + (
                f"; not assessed {sum(self.errors.values())} "
                f"({', '.join(f'{k}: {v}' for k, v in sorted(self.errors.items()))})"
                if self.errors
                else ""
            )
        )
        lines.append("")
        lines.append(
            f"{'criterion':<10}{'ruled out':>10}{'first':>8}{'remaining':>11}{'unknown':>9}  title"
        )
        for row in self.attrition():
            lines.append(
                f"{row['id']:<10}{row['ruledOut']:>10}{row['firstRuledOut']:>8}"
                f"{row['remaining']:>11}{row['unknown']:>9}  {row['title'][:60]}"
            )
        return "\n".join(lines)
