"""Criteria when some kinds of data could not be read (a failed search, a scope not granted).

An absence is only evidence when the data could be read: "no IgG4-RD Condition" means "none recorded"
only if Conditions were readable. So when a resource type a criterion reads is unavailable, the
criterion becomes ``unknown`` and says that the data could not be read, even when it was already
``unknown`` for another reason ("no IgG4 result" is not the truth when the search failed); only the
answers that more data of that type could not overturn stand (a diagnosis found is still found; an
exclusion met by a record present stays met). docs/criteria.md, "Data that could not be read".
"""

from __future__ import annotations

from collections.abc import Mapping

from cds_service.eligibility.assessment import CriterionResult
from cds_service.eligibility.context import result
from cds_service.i18n.message import Arg, join, msg

MEDICATIONS = ("MedicationRequest", "MedicationStatement")

# The resource types each criterion reads (Patient is always required and is never unavailable).
READS: dict[str, tuple[str, ...]] = {
    "I1": ("Condition",),
    "I2": (),
    "I3": ("Observation", *MEDICATIONS),
    "I4": ("Condition",),
    "I5": ("Observation", "Condition", *MEDICATIONS),
    "I6": (),
    "I7": (),
    "E1": ("Observation",),
    "E2": ("Condition",),
    "E3": ("Condition", "Observation"),
    "E4": ("Condition", "Procedure"),
    "E5": ("Condition",),
    "E6": ("Condition",),
    "E7": ("Condition",),
    "E8": ("ResearchSubject",),
    "E9": ("Condition",),
    "E10": ("Condition", "Observation"),
    "E11": ("Observation",),
}

# Answers that hold whatever else of the missing type exists: presence-based, monotone findings.
STABLE: dict[str, str] = {
    "I1": "met",
    "I4": "met",
    "E2": "not-met",
    "E3": "met",
    "E4": "met",
    "E5": "met",
    "E7": "met",
    "E8": "met",
    "E9": "met",
    "E10": "met",
}


def apply_unavailable(
    criteria: list[CriterionResult], unavailable: Mapping[str, Arg]
) -> list[CriterionResult]:
    """Every answer that rests on data that could not be read becomes ``unknown`` and says so."""
    if not unavailable:
        return criteria
    out = []
    for c in criteria:
        missing = [t for t in READS[c.id] if t in unavailable]
        if not missing or STABLE.get(c.id) == c.status:
            out.append(c)
            continue
        unread = join(
            (msg("unavailable.type", type=t, why=unavailable[t]) for t in missing), "semicolon"
        )
        assert c.message is not None
        reason = msg("unavailable.from-rest", unread=unread, reason=c.message)
        out.append(result(c.id, "unknown", reason, c.evidence))
    return out
