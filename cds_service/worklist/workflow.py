"""The recruiter's workflow as data: states, allowed transitions and who may make them. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from flask_babel import lazy_gettext as _l

from cds_service.i18n.message import N_, define
from cds_service.i18n.render import STABLE

STATES: Final = (
    "new",
    "in-review",
    "contacted",
    "pre-screened",
    "referred",
    "enrolled",
    "declined",
    "not-eligible",
)
ROLES: Final = ("recruiter", "investigator", "admin")

# The words of the workflow (message ids "state.*", "change.*", "decline.*"; README, Localisation).
WORDS: Final = define(
    N_("state.new", "New"),
    N_("state.in-review", "In review"),
    N_("state.contacted", "Contacted"),
    N_("state.pre-screened", "Pre-screened"),
    N_("state.referred", "Referred"),
    N_("state.enrolled", "Enrolled"),
    N_("state.declined", "Declined"),
    N_("state.not-eligible", "Not eligible"),
    N_("change.newly-candidate", "newly candidate"),
    N_("change.no-longer-eligible", "no longer eligible"),
    N_("change.now-needs-review", "now needs review"),
    N_("change.may-be-eligible", "may be eligible again"),
    N_("decline.not-interested", "Not interested in a trial"),
    N_("decline.no-time", "No time for the visits"),
    N_("decline.travel", "Too far to travel"),
    N_("decline.worried-about-treatment", "Worried about the treatment or placebo"),
    N_("decline.prefers-current-care", "Prefers to stay on current care"),
    N_("decline.unreachable", "Could not be reached"),
    N_("decline.other", "Other (say why in the note)"),
)
# In English, for the exports and the API (programs and files keep one language).
STATE_LABELS: Final = {s: STABLE.text(f"state.{s}") for s in STATES}

_CLOSING = ("declined", "not-eligible")
TRANSITIONS: Final[dict[str, tuple[str, ...]]] = {
    "new": ("in-review", *_CLOSING),
    "in-review": ("contacted", "new", *_CLOSING),
    "contacted": ("pre-screened", "in-review", *_CLOSING),
    "pre-screened": ("referred", "enrolled", "contacted", *_CLOSING),
    "referred": ("enrolled", "pre-screened", *_CLOSING),
    "enrolled": ("referred",),  # correcting a mistaken enrolment (investigator only, below)
    "declined": ("in-review",),  # re-opened, e.g. the patient changed their mind
    "not-eligible": ("in-review",),
}

# Issue 4: only investigators mark `not-eligible` or `enrolled`; undoing those decisions is
# theirs too.
INVESTIGATOR_ONLY_TARGETS: Final = frozenset({"not-eligible", "enrolled"})
INVESTIGATOR_ONLY_SOURCES: Final = frozenset({"not-eligible", "enrolled"})


class TransitionError(ValueError):
    """A state change that the workflow does not allow (HTTP 422)."""


class ForbiddenTransition(PermissionError):
    """A state change the user's role may not make (HTTP 403)."""


def allowed_targets(state: str, role: str) -> list[str]:
    """The states a user with ``role`` may move a patient in ``state`` to, in workflow order."""
    return [t for t in TRANSITIONS.get(state, ()) if _role_may(state, t, role)]


def _role_may(source: str, target: str, role: str) -> bool:
    if target in INVESTIGATOR_ONLY_TARGETS or source in INVESTIGATOR_ONLY_SOURCES:
        return role == "investigator"
    return role in ROLES


def check_transition(source: str, target: str, role: str) -> None:
    """Raise unless ``role`` may move a patient from ``source`` to ``target``."""
    if target not in STATES:
        raise TransitionError(_l("unknown state %(state)r", state=target))
    if target not in TRANSITIONS.get(source, ()):
        raise TransitionError(
            _l("cannot go from %(source)r to %(target)r", source=source, target=target)
        )
    if not _role_may(source, target, role):
        raise ForbiddenTransition(
            _l(
                "only an investigator may go from %(source)r to %(target)r",
                source=source,
                target=target,
            )
        )


# Why a patient declined (issue 12): a short list, words in the templates; "other" needs a note.
DECLINE_REASONS: Final = (
    "not-interested",
    "no-time",
    "travel",
    "worried-about-treatment",
    "prefers-current-care",
    "unreachable",
    "other",
)
# The protocol's criteria, in order: the one that makes a patient not eligible is named.
CRITERION_IDS: Final = (
    *(f"I{n}" for n in range(1, 8)),
    *(f"E{n}" for n in range(1, 12)),
)
MAX_DECISION_NOTE = 1000


@dataclass(frozen=True, slots=True)
class Decision:
    """The reason given with a state change (all None for an ordinary step)."""

    reason: str | None = None
    criterion: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            k: v
            for k, v in (
                ("reason", self.reason),
                ("criterion", self.criterion),
                ("note", self.note),
            )
            if v is not None
        }


def check_decision(
    target: str, reason: str | None, criterion: str | None, note: str | None
) -> Decision:
    """The decision recorded with a move to ``target``; raises ``TransitionError`` when a reason
    it needs is missing or not one of the list. Other moves carry a note only if given."""
    text = (note or "").strip() or None
    if text is not None and len(text) > MAX_DECISION_NOTE:
        raise TransitionError(
            _l("the note has at most %(count)d characters", count=MAX_DECISION_NOTE)
        )
    if target == "declined":
        if reason not in DECLINE_REASONS:
            raise TransitionError(_l("say why the patient declined (choose a reason)"))
        if reason == "other" and text is None:
            raise TransitionError(_l("describe the reason in the note when it is 'other'"))
        return Decision(reason=reason, note=text)
    if target == "not-eligible":
        if criterion not in CRITERION_IDS:
            raise TransitionError(_l("say which criterion makes the patient not eligible"))
        return Decision(criterion=criterion, note=text)
    return Decision(note=text)


def eligibility_change(previous: str | None, current: str) -> str | None:
    """Name the change of eligibility that the list should show, or None when there is none."""
    if previous is None or previous == current:
        return None
    if current == "candidate":
        return "newly-candidate"
    if current == "ineligible":
        return "no-longer-eligible"
    return "now-needs-review" if previous == "candidate" else "may-be-eligible"


CHANGE_LABELS: Final = {
    c: STABLE.text(f"change.{c}")
    for c in ("newly-candidate", "no-longer-eligible", "now-needs-review", "may-be-eligible")
}
