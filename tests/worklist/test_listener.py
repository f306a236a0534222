"""The assessment listener that the CDS hook (and the screen) call."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import store
from cds_service.worklist.models import FlaggedPatient

from .conftest import SERVER, assessment


def _listener(app: Flask):  # type: ignore[no-untyped-def]
    listeners = app.extensions["igg4_assessment_listeners"]
    mine = [f for f in listeners if f.__module__ == "cds_service.worklist.listener"]
    assert len(mine) == 1
    return mine[0]


def test_candidates_and_needs_review_are_listed(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    listen = _listener(app)
    listen(SERVER, assessment("c1", "candidate"), "hook")
    listen(SERVER, assessment("r1", "needs-review"), "hook")
    listen(SERVER, assessment("x1", "ineligible"), "hook")
    with sessions() as s:
        ids = set(s.execute(select(FlaggedPatient.patient_id)).scalars())
    assert ids == {"c1", "r1"}


def test_a_listed_patient_becoming_ineligible_is_recorded(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    listen = _listener(app)
    listen(SERVER, assessment("c1", "candidate"), "hook")
    listen(SERVER, assessment("c1", "ineligible", "2026-12-01"), "screen")
    with sessions() as s:
        p = store.find_patient_row(s, SERVER, "c1")
        assert p is not None
        assert (p.eligibility, p.eligibility_change) == ("ineligible", "no-longer-eligible")


def test_a_broken_assessment_does_not_raise(app: Flask, sessions: sessionmaker[Session]) -> None:
    _listener(app)(SERVER, {"status": "candidate"}, "hook")
    with sessions() as s:
        assert s.execute(select(func.count(FlaggedPatient.id))).scalar_one() == 0


def test_the_hooks_notify_path_reaches_the_worklist(
    app: Flask, sessions: sessionmaker[Session]
) -> None:
    from cds_service.hooks.state import notify_listeners

    notify_listeners(app, SERVER, assessment("h1", "needs-review"), "hook")
    with sessions() as s:
        p = store.find_patient_row(s, SERVER, "h1")
        assert p is not None and p.eligibility == "needs-review"
        assert store.assessments_of(s, p.id)[0].source == "hook"


def test_record_if_relevant_in_a_batch(sessions: sessionmaker[Session]) -> None:
    with sessions() as s:
        rows = [
            store.record_if_relevant(
                s,
                fhir_server=SERVER,
                assessment=assessment(pid, status),
                source="screen",
                commit=False,
            )
            for pid, status in (("b1", "candidate"), ("b2", "ineligible"), ("b3", "needs-review"))
        ]
        s.commit()
    assert rows[1] is None and None not in (rows[0], rows[2])
    with sessions() as s:
        assert s.execute(select(func.count(FlaggedPatient.id))).scalar_one() == 2
