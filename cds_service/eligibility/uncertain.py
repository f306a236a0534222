"""Conditions that may be what an exclusion is about, though no code of the value sets says so.

docs/criteria.md, "conditions not in the value sets". Without a terminology server a SNOMED CT code
outside the curated lists cannot be placed: "Malignant neoplasm of colon" under a code the lists do
not hold would otherwise read as "no malignancy recorded", a silent and wrong ``not-met``. So:

- a Condition whose name reads like a family (``Diagnosis.reads_like``: malignancy, pregnancy,
  lactation, alcohol or drug abuse, HIV/hepatitis/tuberculosis/sepsis, immunodeficiency, another
  rheumatic disease) that no code of the family recognises, and
- a Condition in a family's *uncertain* value set (a neoplasm whose behaviour is not stated, a
  suspected cancer, a screening finding of drug misuse, a sepsis, "lupus erythematosus" not said to
  be systemic)

makes the family's criterion ``unknown`` when it would have counted (current for infections and
pregnancy, within the look-back for malignancy), unless the criterion is already ``met`` by a
recognised record. The reason names the Conditions and keeps what the rest of the data said.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from cds_service.eligibility.assessment import CriterionResult
from cds_service.eligibility.context import Context, is_current, labels, result
from cds_service.eligibility.exclusion import ACTIVE_MALIGNANCY, pregnancy_may_continue
from cds_service.i18n.message import Arg, join, msg
from fhir_mappings.dates import add_years
from fhir_mappings.facts import Diagnosis


def _always(d: Diagnosis, ctx: Context) -> bool:
    return True


def _current(d: Diagnosis, ctx: Context) -> bool:
    return is_current(d)


def _current_pregnancy(d: Diagnosis, ctx: Context) -> bool:
    return is_current(d) and pregnancy_may_continue(d, ctx)


def _within_malignancy_lookback(d: Diagnosis, ctx: Context) -> bool:
    """As a malignancy would count (E4): active, or dated within the look-back, or not dated. A name
    that says "history of" is timed by its dates alone, as Z85 is."""
    if d.clinical_status in ACTIVE_MALIGNANCY and not d.abated and not d.history_worded:
        return True
    dates = [x for x in (d.onset, d.recorded, d.abatement) if x is not None]
    since = add_years(ctx.as_of, -ctx.params.malignancy_lookback_years)
    return not dates or any(x.latest >= since for x in dates)


@dataclass(frozen=True, slots=True)
class _Family:
    criterion: str
    what: str  # message id of what the Condition may be: "uncertain.what.malignancy"
    reads: tuple[str, ...]  # condition_hints families read for this criterion
    uncertain: str | None  # the value set of recorded-but-undecided codes
    counts: Callable[[Diagnosis, Context], bool]  # would the Condition count, were it certain


FAMILIES: tuple[_Family, ...] = (
    _Family("E3", "uncertain.what.infection", ("infection",), "infection-severe", _current),
    _Family("E4", "uncertain.what.malignancy", ("malignancy",), "malignancy-uncertain",
            _within_malignancy_lookback),
    _Family("E5", "uncertain.what.immunodeficiency", ("immunodeficiency",), None, _always),
    _Family("E7", "uncertain.what.rheumatic", ("rheumatic",), "rheumatic-uncertain", _always),
    _Family("E9", "uncertain.what.substance-abuse", ("substance-abuse",),
            "substance-abuse-uncertain", _always),
    _Family("E10", "uncertain.what.pregnancy", ("pregnancy",), None, _current_pregnancy),
    _Family("E10", "uncertain.what.lactation", ("lactation",), None, _current),
)  # fmt: skip


def _findings(family: _Family, ctx: Context) -> tuple[list[Arg], list[str]]:
    """(what to say, evidence) for one family."""
    uncertain = ctx.with_concept(family.uncertain) if family.uncertain else []
    uncertain = [d for d in uncertain if family.counts(d, ctx)]
    listed = {d.ref for d in uncertain}
    read = [
        d
        for d in ctx.diagnoses
        if d.reads_like.intersection(family.reads) and d.ref not in listed and family.counts(d, ctx)
    ]
    parts: list[Arg] = []
    if uncertain:
        parts.append(msg("uncertain.may-be", labels=labels(uncertain), what=msg(family.what)))
    if read:
        parts.append(msg("uncertain.reads-like", labels=labels(read), what=msg(family.what)))
    return parts, [d.ref for d in uncertain + read]


def apply_uncertain(criteria: list[CriterionResult], ctx: Context) -> list[CriterionResult]:
    """Each exclusion a Condition may be about, though no code decides it, is ``unknown`` unless a
    recognised record already makes it ``met``."""
    found: dict[str, tuple[list[Arg], list[str]]] = {}
    for family in FAMILIES:
        parts, refs = _findings(family, ctx)
        if parts:
            said, cited = found.setdefault(family.criterion, ([], []))
            said.extend(parts)
            cited.extend(refs)
    if not found:
        return criteria
    out = []
    for c in criteria:
        if c.id not in found or c.status == "met":
            out.append(c)
            continue
        said, cited = found[c.id]
        assert c.message is not None
        reason = msg("uncertain.from-rest", found=join(said, "semicolon"), reason=c.message)
        out.append(result(c.id, "unknown", reason, [*cited, *c.evidence]))
    return out
