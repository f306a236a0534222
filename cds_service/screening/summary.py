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

from cds_service.i18n.message import N_, Arg, DecodeError, Msg, decode, define, join
from cds_service.i18n.render import STABLE, Renderer, pad
from cds_service.i18n.words import WORDS  # noqa: F401 (eligibility.*)
from cds_service.screening.model import PatientResult, SourceStats
from cds_service.screening.output import CRITERIA_IDS

STATUSES = ("candidate", "needs-review", "ineligible")

# The summary ``igg4-cds screen`` prints (the report files and JSON keep their English keys).
MESSAGES = define(
    N_(
        "screen.source",
        "Source: {patients} patients, {resources} resources, {bad} malformed line(s); {selected}"
        " worth assessing (IgG4-RD condition or IgG4 result), {done} already done.",
    ),
    N_("screen.assessed", "Assessed {count}: {statuses}{errors}"),
    N_("screen.status", "{status} {count}"),
    N_("screen.not-assessed", "; not assessed {count} ({reasons})"),
    N_("screen.column.criterion", "criterion"),
    N_("screen.column.ruled-out", "ruled out"),
    N_("screen.column.first", "first"),
    N_("screen.column.remaining", "remaining"),
    N_("screen.column.unknown", "unknown"),
    N_("screen.column.title", "title"),
)


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
    title_args: dict[str, Any] = field(default_factory=dict)  # the titles' values (titleArgs)
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
                    if isinstance(c.get("titleArgs"), dict):
                        self.title_args[cid] = c["titleArgs"]
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

    def title(self, cid: str, tr: Renderer) -> str:
        """A criterion's title in ``tr``'s language (its values as the assessments gave them)."""
        english = self.titles.get(cid, "")
        if tr is STABLE or cid not in self.title_args:
            return english
        try:
            args: dict[str, Arg] = {k: decode(v) for k, v in self.title_args[cid].items()}
            return tr(Msg(f"title.{cid}", args))
        except (DecodeError, KeyError):
            return english

    def render(self, stats: SourceStats | None = None, tr: Renderer = STABLE) -> str:
        """The summary for people, in ``tr``'s language (default: English)."""
        lines = []
        if stats is not None:
            lines.append(
                tr.text(
                    "screen.source",
                    patients=stats.patients,
                    resources=sum(stats.resources.values()),
                    bad=stats.bad,
                    selected=stats.selected,
                    done=stats.already_done,
                )
            )
        statuses = join(
            Msg("screen.status", {"status": Msg(f"eligibility.{s}", {}), "count": self.status[s]})
            for s in STATUSES
        )
        errors: Arg = ""
        if self.errors:
            reasons = join(f"{k}: {v}" for k, v in sorted(self.errors.items()))
            errors = Msg(
                "screen.not-assessed", {"count": sum(self.errors.values()), "reasons": reasons}
            )
        lines.append(
            tr.text("screen.assessed", count=self.assessed, statuses=statuses, errors=errors)
        )
        lines.append("")
        heads = [
            tr.text(f"screen.column.{k}")
            for k in ("criterion", "ruled-out", "first", "remaining", "unknown", "title")
        ]
        widths = (10, 10, 8, 11, 9)
        lines.append(
            pad(heads[0], widths[0])
            + "".join(pad(h, w, right=True) for h, w in zip(heads[1:5], widths[1:], strict=True))
            + f"  {heads[5]}"
        )
        for row in self.attrition():
            lines.append(
                f"{row['id']:<10}{row['ruledOut']:>10}{row['firstRuledOut']:>8}"
                f"{row['remaining']:>11}{row['unknown']:>9}  {self.title(row['id'], tr)[:60]}"
            )
        return "\n".join(lines)
