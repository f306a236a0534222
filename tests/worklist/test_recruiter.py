"""Issue 12 in the store: contact details and evidence from the hand-off, the row's facts, the
recruiter's order, clinicians' referrals (before or after the patient is listed), decisions with
reasons, the audit trail split into changes and views; and the card's accepted referral through
the CDS service's feedback endpoint."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session, sessionmaker

from cds_service.eligibility import assess_bundle
from cds_service.worklist import rowfacts, store
from cds_service.worklist.models import User
from cds_service.worklist.store import ListFilters
from cds_service.worklist.workflow import TransitionError
from fhir_mappings.summary import handoff

from .conftest import FIXTURES, SERVER, assessment

AS_OF = date(2026, 11, 24)


def _fixture(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    bundle = json.loads((FIXTURES / f"{name}.json").read_text())
    result = assess_bundle(bundle, as_of=AS_OF).to_dict()
    return result, handoff([e["resource"] for e in bundle["entry"]], result)


def _user(s: Session, uid: int) -> User:
    u = s.get(User, uid)
    assert u is not None
    return u


# --- the row's facts ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "gaps"),
    [
        ("01-candidate-mgl-male", []),
        ("12-review-ast-91-days-old", [{"id": "E11", "kind": "labs", "labs": ["ast"], "days": 90}]),
        ("13-review-igg4-181-days-old", [{"id": "I5", "kind": "current-igg4", "days": 180}]),
        ("14-review-provisional-igg4rd", [{"id": "I1", "kind": "diagnosis"}]),
        ("16-review-hcv-ab-without-rna", [{"id": "E3", "kind": "hcv-rna"}]),
        ("17-review-latent-tb", [{"id": "E3", "kind": "active-tb"}]),
        ("18-review-castleman", [{"id": "E7", "kind": "castleman"}]),
        ("22-review-no-pretreatment-igg4", [{"id": "I3", "kind": "baseline"}]),
        ("23-review-no-nadir", [{"id": "I5", "kind": "nadir"}]),
        (
            "68-review-snomed-malignancy-not-listed",
            [{"id": "E4", "kind": "confirm-condition", "what": "uncertain.what.malignancy"}],
        ),
        (
            "70-review-chinese-diagnoses-read",
            [
                {"id": "E4", "kind": "confirm-condition", "what": "uncertain.what.malignancy"},
                {"id": "E9", "kind": "confirm-condition", "what": "uncertain.what.substance-abuse"},
                {"id": "E10", "kind": "confirm-condition", "what": "uncertain.what.pregnancy"},
            ],
        ),
        (
            "72-review-sepsis-immunodeficiency-sjogren",
            [
                {"id": "E3", "kind": "confirm-condition", "what": "uncertain.what.infection"},
                {
                    "id": "E5",
                    "kind": "confirm-condition",
                    "what": "uncertain.what.immunodeficiency",
                },
                {"id": "E7", "kind": "confirm-condition", "what": "uncertain.what.rheumatic"},
            ],
        ),
    ],
)
def test_gaps_are_named_and_visit_items_kept_apart(fixture: str, gaps: list[Any]) -> None:
    result, _ = _fixture(fixture)
    facts = rowfacts.row_facts(result)
    assert facts["gaps"] == gaps
    assert facts["confirm"][:3] == ["I6", "I7", "E6"]


def test_an_unreadable_resource_type_is_a_gap_of_its_own() -> None:
    coded = {
        "id": "E5",
        "status": "unknown",
        "reasonCode": "unavailable.type",
        "reasonArgs": {"type": "Condition", "why": "403"},
    }
    assert rowfacts.gap_of(coded) == {"id": "E5", "kind": "unreadable", "types": ["Condition"]}
    assert rowfacts.gap_of({"id": "E99", "status": "unknown"}) == {"id": "E99", "kind": "other"}


@pytest.mark.parametrize(
    ("criterion", "gap"),
    [
        (
            {"id": "E11", "reason": "no result in the 90 days before 2026-11-24 for: AST, ALT; Hb"},
            {"id": "E11", "kind": "labs", "labs": ["AST", "ALT"], "days": 90},
        ),
        (
            {"id": "I5", "reason": "on prednisone; no IgG4 result in the 180 days before x"},
            {"id": "I5", "kind": "current-igg4", "days": 180},
        ),
        ({"id": "E5", "reason": "Condition could not be read (403)"}, None),
    ],
)
def test_assessments_recorded_before_message_ids_are_read_by_their_words(
    criterion: dict[str, Any], gap: dict[str, Any] | None
) -> None:
    expected = gap or {"id": "E5", "kind": "unreadable", "types": ["Condition"]}
    assert rowfacts.gap_of({**criterion, "status": "unknown"}) == expected


def test_the_current_igg4_and_when_it_re_elevated() -> None:
    igg4 = assessment("x")["igg4"]  # 5200 (baseline), 900 (nadir), 1800 (current); line 1560
    assert rowfacts.current_igg4(igg4) == {
        "value": 1800.0,
        "date": "2026-10-01",
        "unit": "mg/L",
        "threshold": 1560.0,
        "above": True,
    }
    assert rowfacts.reelevated_on(igg4) == date(2026, 10, 1)
    longer = dict(igg4)
    longer["series"] = [
        *igg4["series"][:2],
        {"date": "2025-09-01", "value": 1600},
        {"date": "2026-01-01", "value": 1200},  # below the line: the run starts after it
        {"date": "2026-04-01", "value": 1700},
        igg4["series"][2],
    ]
    assert rowfacts.reelevated_on(longer) == date(2026, 4, 1)
    below = dict(igg4, current={"date": "2026-10-01", "value": 1000})
    assert rowfacts.reelevated_on(below) is None
    assert rowfacts.current_igg4({}) is None


# --- contact details and evidence --------------------------------------------------------------


def test_contact_details_and_evidence_are_kept(db: Session) -> None:
    result, extra = _fixture("12-review-ast-91-days-old")
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=result, source="hook", handoff=extra
    )
    p = store.get_patient(db, row)
    assert (p.display_name, p.birth_date, p.gender, p.mrn, p.phone) == (
        "Dmitri Ivanov",
        "1979-08-08",
        "male",
        "100444",
        "+1 555 0112",
    )
    assert p.facts is not None and p.facts["gaps"][0]["labs"] == ["ast"]
    record = store.current_assessment(db, row)
    assert record is not None and record.evidence is not None
    assert record.evidence["Observation/fx12-igg4-8"]["value"] == "1300"
    # the same assessment from a source without the hand-off changes nothing it said
    store.record_assessment(db, fhir_server=SERVER, assessment=result, source="screen")
    db.expire_all()
    assert store.get_patient(db, row).phone == "+1 555 0112"
    # a new hand-off with a Patient is the record's word: a phone removed is removed
    moved = {"patient": dict(extra["patient"], phone=None), "evidence": {}}
    store.record_assessment(db, fhir_server=SERVER, assessment=result, source="hook", handoff=moved)
    db.expire_all()
    assert store.get_patient(db, row).phone is None


def test_search_finds_the_mrn(db: Session) -> None:
    result, extra = _fixture("01-candidate-mgl-male")
    store.record_assessment(db, fhir_server=SERVER, assessment=result, source="hook", handoff=extra)
    found = store.list_patients(db, ListFilters(q="100037"))
    assert [p.patient_id for p in found.items] == ["fx01"]


# --- the order a recruiter works in ------------------------------------------------------------


def _igg4(reelevated: str) -> dict[str, Any]:
    base = assessment("x")["igg4"]
    return dict(
        base,
        series=[*base["series"][:2], {"date": reelevated, "value": 1800}],
        current={"date": reelevated, "value": 1800},
    )


def test_the_default_order_is_what_to_do_first(db: Session) -> None:
    def add(
        pid: str, status: str, reelevated: str = "2026-10-01", as_of: str = "2026-11-24"
    ) -> int:
        a = assessment(pid, status, as_of, igg4=_igg4(reelevated))
        return store.record_assessment(db, fhir_server=SERVER, assessment=a, source="screen")

    add("review-new", "needs-review", "2026-11-01")
    add("cand-old", "candidate", "2025-01-01")
    add("cand-recent", "candidate", "2026-09-01")
    add("ineligible", "ineligible")
    add("became", "needs-review", "2026-06-01", as_of="2026-11-01")
    add("became", "candidate", "2026-06-01")  # newly candidate
    referred = add("referred", "needs-review", "2024-01-01")
    store.record_referral(
        db, fhir_server=SERVER, patient_id="referred", by="Dr Rossi", via="smart-app"
    )
    order = [p.patient_id for p in store.list_patients(db, ListFilters()).items]
    assert order == ["became", "referred", "cand-recent", "cand-old", "review-new", "ineligible"]
    reverse = [p.patient_id for p in store.list_patients(db, ListFilters(desc=True)).items]
    assert reverse == list(reversed(order))
    # once the recruiter has contacted the patient, the referral no longer jumps the queue
    p = store.get_patient(db, referred)
    for target in ("in-review", "contacted"):
        store.change_state(db, referred, target, _recruiter(db))
    assert p.referred_by == "Dr Rossi"
    order = [p.patient_id for p in store.list_patients(db, ListFilters()).items]
    assert order.index("referred") > order.index("cand-old")


def _recruiter(db: Session) -> User:
    u = db.query(User).filter_by(username="rita").one_or_none()
    if u is None:
        from cds_service.worklist import accounts

        u = accounts.create_user(db, "rita", "recruiter", "a long enough password")
        db.commit()
    return u


# --- clinicians' referrals ---------------------------------------------------------------------


def test_a_referral_marks_the_row_and_is_audited(db: Session) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    at = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
    got = store.record_referral(
        db, fhir_server=SERVER + "/", patient_id="p1", by="Practitioner/7", via="cds-card", at=at
    )
    assert got == row
    p = store.get_patient(db, row)
    assert (p.referred_by, p.referred_via, p.referred_at, p.workflow_state) == (
        "Practitioner/7",
        "cds-card",
        at,
        "new",  # the recruiter's state is theirs: a referral is a marker
    )
    (event,) = [e for e in store.audit_of(db, row) if e.action == "referred"]
    assert event.detail == {"by": "Practitioner/7", "via": "cds-card"} and event.at == at
    with pytest.raises(ValueError):
        store.record_referral(db, fhir_server=SERVER, patient_id="p1", by="x", via="fax")


def test_a_referral_before_the_patient_is_listed_is_applied_when_listed(db: Session) -> None:
    assert (
        store.record_referral(db, fhir_server=SERVER, patient_id="p2", by="Dr A", via="cds-card")
        is None
    )
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p2"), source="hook"
    )
    p = store.get_patient(db, row)
    assert (p.referred_by, p.referred_via) == ("Dr A", "cds-card")
    assert [e.action for e in store.audit_of(db, row)].count("referred") == 1


# --- decisions with reasons, and the audit trail -----------------------------------------------


def test_decisions_carry_their_reason(db: Session, users: dict[str, int]) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    rita, ivan = _user(db, users["recruiter"]), _user(db, users["investigator"])
    with pytest.raises(TransitionError, match="why"):
        store.change_state(db, row, "declined", rita)
    with pytest.raises(TransitionError, match="note"):
        store.change_state(db, row, "declined", rita, reason="other")
    store.change_state(db, row, "declined", rita, reason="no-time", note="busy until March")
    p = store.get_patient(db, row)
    assert (p.decision_reason, p.decision_note) == ("no-time", "busy until March")
    store.change_state(db, row, "in-review", rita)
    assert store.get_patient(db, row).decision_reason is None  # reopened: no decision stands
    with pytest.raises(TransitionError, match="criterion"):
        store.change_state(db, row, "not-eligible", ivan, criterion="E99")
    store.change_state(db, row, "not-eligible", ivan, criterion="E11")
    changes = [e.detail for e in store.audit_of(db, row, views=False) if e.action == "state"]
    assert changes[0] == {"from": "in-review", "to": "not-eligible", "criterion": "E11"}
    assert changes[2] == {
        "from": "new",
        "to": "declined",
        "reason": "no-time",
        "note": "busy until March",
    }


def test_views_are_recorded_apart_from_changes(db: Session, users: dict[str, int]) -> None:
    row = store.record_assessment(
        db, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
    )
    rita = _user(db, users["recruiter"])
    for _ in range(3):
        store.audit(db, rita, "view", row)
    store.add_note(db, row, rita, "called, no answer")
    assert [e.action for e in store.audit_of(db, row, views=False)] == ["note", "listed"]
    assert [e.action for e in store.audit_of(db, row, views=True)] == ["view"] * 3
    assert len(store.audit_of(db, row)) == 5


# --- the card's referral, through the CDS service -----------------------------------------------


def test_an_accepted_card_suggestion_marks_the_worklist_row(app: Flask) -> None:
    from tests.hooks.synthetic import full_prefetch, long_record

    client = app.test_client()
    body = {
        "hook": "patient-view",
        "hookInstance": "d7d3f6a6-2a4e-4c1f-9d1c-2f1d0f0a6b11",
        "context": {"userId": "Practitioner/dr-lee", "patientId": "fb1"},
        "fhirServer": SERVER,
        "prefetch": full_prefetch(long_record("fb1", 20)),
    }
    (card,) = client.post("/cds-services/igg4rd-trial-screening", json=body).json["cards"]
    overridden = {
        "card": card["uuid"],
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-24T10:00:00Z",
    }
    assert (
        client.post(
            "/cds-services/igg4rd-trial-screening/feedback", json={"feedback": [overridden]}
        ).status_code
        == 200
    )
    sessions: sessionmaker[Session] = app.extensions["igg4_db"]["sessions"]
    with sessions() as s:
        p = store.find_patient_row(s, SERVER, "fb1")
        assert p is not None and p.referred_at is None  # a dismissal refers no one
    accepted = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
        "outcomeTimestamp": "2026-11-24T10:01:00Z",
    }
    feedback = client.post(
        "/cds-services/igg4rd-trial-screening/feedback", json={"feedback": [accepted]}
    )
    assert feedback.status_code == 200
    with sessions() as s:
        p = store.find_patient_row(s, SERVER, "fb1")
        assert p is not None and p.referred_via == "cds-card" and p.referred_at is not None
        assert p.referred_by == "Practitioner/dr-lee"  # the clinician the card was issued to


# --- the migration fills the facts of rows listed before it ------------------------------------


def test_the_migration_backfills_rows_listed_before_it(tmp_path: Path) -> None:
    from cds_service.db import alembic_config, make_engine, make_session_factory, upgrade

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0002_worklist")
    engine = make_engine(url)
    a = assessment("old1")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO worklist_patients (id, fhir_server, patient_id, eligibility, as_of,"
                " last_assessed_at, workflow_state, version, change_acknowledged, created_at,"
                " updated_at) VALUES (1, :s, 'old1', 'candidate', '2026-11-24',"
                " '2026-11-24 00:00:00', 'new', 1, 1, '2026-11-24 00:00:00', '2026-11-24 00:00:00')"
            ),
            {"s": SERVER},
        )
        conn.execute(
            text(
                "INSERT INTO worklist_assessments (patient_row_id, status, as_of, last_as_of,"
                " source, content_hash, criteria, igg4, data_issues, parameters, recorded_at)"
                " VALUES (1, 'candidate', '2026-11-24', '2026-11-24', 'hook', 'h', :c, :i, '[]',"
                " '{}', '2026-11-24 00:00:00')"
            ),
            {"c": json.dumps(a["criteria"]), "i": json.dumps(a["igg4"])},
        )
    command.upgrade(alembic_config(url), "heads")
    with make_session_factory(engine)() as s:
        p = store.get_patient(s, 1)
        assert p.reelevated_on == date(2026, 10, 1)
        assert p.facts is not None and p.facts["igg4"]["value"] == 1800.0
    engine.dispose()
