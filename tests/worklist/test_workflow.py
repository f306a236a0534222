"""The workflow rules: states, transitions and who may make them (issue 4)."""

from __future__ import annotations

import itertools

import pytest

from cds_service.worklist.workflow import (
    STATES,
    TRANSITIONS,
    ForbiddenTransition,
    TransitionError,
    allowed_targets,
    check_transition,
    eligibility_change,
)


def test_every_state_has_transitions_to_known_states() -> None:
    assert set(TRANSITIONS) == set(STATES)
    for targets in TRANSITIONS.values():
        assert set(targets) <= set(STATES)


def test_the_happy_path_is_open_to_recruiters() -> None:
    path = ["new", "in-review", "contacted", "pre-screened", "referred"]
    for source, target in itertools.pairwise(path):
        check_transition(source, target, "recruiter")


@pytest.mark.parametrize("role", ["recruiter", "admin"])
@pytest.mark.parametrize("target", ["not-eligible", "enrolled"])
def test_only_investigators_mark_not_eligible_or_enrolled(role: str, target: str) -> None:
    source = "referred"
    with pytest.raises(ForbiddenTransition):
        check_transition(source, target, role)
    check_transition(source, target, "investigator")
    assert target not in allowed_targets(source, role)
    assert target in allowed_targets(source, "investigator")


def test_undoing_an_investigator_decision_is_theirs_too() -> None:
    with pytest.raises(ForbiddenTransition):
        check_transition("not-eligible", "in-review", "recruiter")
    check_transition("not-eligible", "in-review", "investigator")
    assert allowed_targets("enrolled", "recruiter") == []


def test_a_recruiter_may_decline_and_reopen() -> None:
    check_transition("contacted", "declined", "recruiter")
    check_transition("declined", "in-review", "recruiter")


@pytest.mark.parametrize(
    ("source", "target"),
    [
        ("new", "enrolled"),
        ("new", "contacted"),
        ("declined", "enrolled"),
        ("new", "bogus"),
        ("new", "new"),
    ],
)
def test_transitions_outside_the_workflow_are_refused(source: str, target: str) -> None:
    with pytest.raises(TransitionError):
        check_transition(source, target, "investigator")


@pytest.mark.parametrize(
    ("before", "after", "change"),
    [
        (None, "candidate", None),
        ("candidate", "candidate", None),
        ("needs-review", "candidate", "newly-candidate"),
        ("ineligible", "candidate", "newly-candidate"),
        ("candidate", "ineligible", "no-longer-eligible"),
        ("needs-review", "ineligible", "no-longer-eligible"),
        ("candidate", "needs-review", "now-needs-review"),
        ("ineligible", "needs-review", "may-be-eligible"),
    ],
)
def test_eligibility_changes_are_named(before: str | None, after: str, change: str | None) -> None:
    assert eligibility_change(before, after) == change
