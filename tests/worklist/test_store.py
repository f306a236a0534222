"""The store on SQLite: idempotent re-assessment, history, recruiter state never overwritten,
eligibility changes, optimistic locking, list filters."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import store
from cds_service.worklist.models import AssessmentRecord, AuditEvent, FlaggedPatient, User
from cds_service.worklist.store import ListFilters
from cds_service.worklist.workflow import ForbiddenTransition, TransitionError

from .conftest import SERVER, assessment


def _count(s: Session, model: type, **where: object) -> int:
    stmt = select(func.count()).select_from(model)
    for key, value in where.items():
        stmt = stmt.where(getattr(model, key) == value)
    return int(s.execute(stmt).scalar_one())


def _user(s: Session, uid: int) -> User:
    u = s.get(User, uid)
    assert u is not None
    return u


def test_recording_the_same_assessment_twice_is_idempotent(db: Session) -> None:
    a = assessment("p1")
    first = store.record_assessment(db, fhir_server=SERVER, assessment=a, source="hook")
    second = store.record_assessment(db, fhir_server=SERVER, assessment=a, source="screen")
    assert first == second
    assert _count(db, FlaggedPatient) == 1
    assert _count(db, AssessmentRecord, patient_row_id=first) == 1
    assert _count(db, AuditEvent, patient_row_id=first) == 1  # only "listed"


def test_a_later_identical_assessment_extends_the_record(db: Session) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="screen"
    )
    store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1", as_of="2026-12-01"), source="screen"
    )
    (record,) = store.assessments_of(db, row)
    assert (record.as_of, record.last_as_of) == (date(2026, 11, 24), date(2026, 12, 1))
    assert store.get_patient(db, row).as_of == date(2026, 12, 1)


def test_trailing_slash_of_the_server_is_the_same_server(db: Session) -> None:
    a = store.record_assessment(db, fhir_server=SERVER, assessment=assessment("p1"), source="hook")
    b = store.record_assessment(
        db, fhir_server=SERVER + "/", assessment=assessment("p1"), source="hook"
    )
    assert a == b


def test_new_assessment_never_overwrites_recruiter_state_or_notes(
    db: Session, users: dict[str, int]
) -> None:
    rita = _user(db, users["recruiter"])
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    store.change_state(db, row, "in-review", rita)
    store.assign(db, row, rita, rita)
    store.add_note(db, row, rita, "Called, will call back Monday")
    store.record_assessment(
        db,
        fhir_server=SERVER,
        assessment=assessment("p1", "ineligible", "2026-12-01"),
        source="screen",
        display_name="New Name",
    )
    p = store.get_patient(db, row)
    assert p.workflow_state == "in-review"
    assert p.assignee is not None and p.assignee.username == "rita"
    assert [n.body for n in store.notes_of(db, row)] == ["Called, will call back Monday"]
    assert p.eligibility == "ineligible"
    assert p.display_name == "New Name"


def test_eligibility_change_is_marked_until_acknowledged(
    db: Session, users: dict[str, int]
) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1", "needs-review"), source="hook"
    )
    p = store.get_patient(db, row)
    assert p.eligibility_change is None and p.change_acknowledged
    store.record_assessment(
        db,
        fhir_server=SERVER,
        assessment=assessment("p1", "candidate", "2026-12-01"),
        source="screen",
    )
    db.expire_all()
    p = store.get_patient(db, row)
    assert (p.previous_eligibility, p.eligibility, p.eligibility_change) == (
        "needs-review",
        "candidate",
        "newly-candidate",
    )
    assert not p.change_acknowledged
    store.record_assessment(
        db,
        fhir_server=SERVER,
        assessment=assessment("p1", "ineligible", "2026-12-02"),
        source="hook",
    )
    db.expire_all()
    assert store.get_patient(db, row).eligibility_change == "no-longer-eligible"
    store.acknowledge_change(db, row, _user(db, users["recruiter"]))
    db.expire_all()
    assert store.get_patient(db, row).change_acknowledged


def test_an_older_assessment_only_adds_history(db: Session) -> None:
    row = store.record_assessment(
        db,
        fhir_server=SERVER,
        assessment=assessment("p1", "candidate", "2026-11-24"),
        source="hook",
    )
    store.record_assessment(
        db,
        fhir_server=SERVER,
        assessment=assessment("p1", "ineligible", "2026-01-01"),
        source="screen",
    )
    db.expire_all()
    p = store.get_patient(db, row)
    assert (p.eligibility, p.as_of, p.eligibility_change) == ("candidate", date(2026, 11, 24), None)
    assert [a.status for a in store.assessments_of(db, row)] == ["candidate", "ineligible"]


def test_the_assessment_content_is_kept_in_history(db: Session) -> None:
    a = assessment("p1")
    row = store.record_assessment(db, fhir_server=SERVER, assessment=a, source="manual")
    (record,) = store.assessments_of(db, row)
    assert record.criteria == a["criteria"]
    assert record.igg4["threshold"] == 1560.0
    assert record.source == "manual"


@pytest.mark.parametrize(
    "bad",
    [
        {"status": "maybe"},
        {"asOf": "yesterday"},
        {"patient": ""},
    ],
)
def test_malformed_assessments_are_refused(db: Session, bad: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        store.record_assessment(
            db, fhir_server=SERVER, assessment={**assessment("p1"), **bad}, source="hook"
        )


def test_unknown_source_is_refused(db: Session) -> None:
    with pytest.raises(ValueError):
        store.record_assessment(db, fhir_server=SERVER, assessment=assessment("p1"), source="fax")


def test_stale_version_is_a_conflict_and_loses_nothing(
    sessions: sessionmaker[Session], users: dict[str, int]
) -> None:
    with sessions() as s:
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
        )
    with sessions() as a, sessions() as b:
        seen_by_a = store.get_patient(a, row).version
        seen_by_b = store.get_patient(b, row).version
        store.change_state(a, row, "in-review", _user(a, users["recruiter"]), seen_by_a)
        with pytest.raises(store.Conflict):
            store.change_state(
                b, row, "declined", _user(b, users["recruiter"]), seen_by_b, reason="no-time"
            )
    with sessions() as s:
        p = store.get_patient(s, row)
        assert (p.workflow_state, p.version) == ("in-review", seen_by_a + 1)
        actions = [e.action for e in store.audit_of(s, row)]
        assert actions.count("state") == 1


def test_role_and_workflow_checks_in_the_store(db: Session, users: dict[str, int]) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    with pytest.raises(ForbiddenTransition):
        store.change_state(db, row, "not-eligible", _user(db, users["recruiter"]))
    with pytest.raises(TransitionError):
        store.change_state(db, row, "enrolled", _user(db, users["investigator"]))
    store.change_state(db, row, "not-eligible", _user(db, users["investigator"]), criterion="E11")
    assert store.get_patient(db, row).workflow_state == "not-eligible"


def test_notes_are_validated(db: Session, users: dict[str, int]) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    rita = _user(db, users["recruiter"])
    for bad in ("   ", "x" * (store.MAX_NOTE_CHARS + 1)):
        with pytest.raises(ValueError):
            store.add_note(db, row, rita, bad)
    with pytest.raises(store.NotFound):
        store.add_note(db, row + 999, rita, "hello")


def _seed_list(db: Session, users: dict[str, int]) -> dict[str, int]:
    rows = {}
    for pid, status, name in [
        ("a1", "candidate", "Alice Moreau"),
        ("b2", "needs-review", "Bob Tanaka"),
        ("c3", "ineligible", "Chloé Dubois"),
        ("d4", "candidate", "100%_match Dan"),
    ]:
        rows[pid] = store.record_assessment(
            db,
            fhir_server=SERVER,
            assessment=assessment(pid, status),
            source="screen",
            display_name=name,
        )
    rita = _user(db, users["recruiter"])
    store.assign(db, rows["a1"], rita, rita)
    store.change_state(db, rows["b2"], "in-review", rita)
    return rows


def _ids(page: store.Page) -> list[str]:
    return [p.patient_id for p in page.items]


def test_list_filters_search_sort_and_paging(db: Session, users: dict[str, int]) -> None:
    _seed_list(db, users)
    rita = _user(db, users["recruiter"])
    everything = store.list_patients(db, ListFilters(sort="patient", desc=False))
    assert _ids(everything) == ["a1", "b2", "c3", "d4"] and everything.total == 4
    assert sorted(_ids(store.list_patients(db, ListFilters(eligibility=("candidate",))))) == [
        "a1",
        "d4",
    ]
    assert _ids(store.list_patients(db, ListFilters(state=("in-review",)))) == ["b2"]
    assert _ids(store.list_patients(db, ListFilters(assignee="me"), rita)) == ["a1"]
    assert _ids(store.list_patients(db, ListFilters(assignee="rita"))) == ["a1"]
    assert "a1" not in _ids(store.list_patients(db, ListFilters(assignee="none")))
    assert _ids(store.list_patients(db, ListFilters(assignee="nobody-by-that-name"))) == []
    assert _ids(store.list_patients(db, ListFilters(q="tanaka"))) == ["b2"]
    assert _ids(store.list_patients(db, ListFilters(q="C3"))) == ["c3"]
    # LIKE wildcards in the search are literal characters
    assert _ids(store.list_patients(db, ListFilters(q="%_"))) == ["d4"]
    by_name = store.list_patients(db, ListFilters(sort="name", desc=False))
    assert _ids(by_name) == ["d4", "a1", "b2", "c3"]
    page2 = store.list_patients(db, ListFilters(sort="patient", desc=False, page=2, per_page=3))
    assert (_ids(page2), page2.pages, page2.total) == (["d4"], 2, 4)
    future = store.list_patients(db, ListFilters(changed_since=date(2999, 1, 1)))
    assert future.total == 0
    assert store.list_patients(db, ListFilters(changed_since=date(2000, 1, 1))).total == 4


def test_audit_records_actions_with_actor(db: Session, users: dict[str, int]) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    rita = _user(db, users["recruiter"])
    store.change_state(db, row, "in-review", rita)
    store.add_note(db, row, rita, "hello")
    store.audit(db, rita, "view", row)
    events = [(e.actor, e.action) for e in reversed(store.audit_of(db, row))]
    assert events == [
        ("system:hook", "listed"),
        ("rita", "state"),
        ("rita", "note"),
        ("rita", "view"),
    ]
    state_event = next(e for e in store.audit_of(db, row) if e.action == "state")
    assert state_event.detail == {"from": "new", "to": "in-review"}
