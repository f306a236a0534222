"""Overall status from the eighteen criteria (criteria.md, "Overall status")."""

from __future__ import annotations

from collections.abc import Sequence

from cds_service.eligibility.assessment import CriterionResult, OverallStatus

# Confirmed at the screening visit: these may stay unknown for a candidate. E1 is unknown only
# when no Responder Index is recorded (a recorded one always decides it).
VISIT_CONFIRMED = frozenset({"I6", "I7", "E6", "E1"})


def overall_status(criteria: Sequence[CriterionResult]) -> OverallStatus:
    for c in criteria:
        if (c.type == "inclusion" and c.status == "not-met") or (
            c.type == "exclusion" and c.status == "met"
        ):
            return "ineligible"
    for c in criteria:
        if c.status == "unknown" and c.id not in VISIT_CONFIRMED:
            return "needs-review"
    return "candidate"
