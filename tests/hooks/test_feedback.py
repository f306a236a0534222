"""Feedback is stored; an overridden card stays hidden for the period unless the assessment changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from cds_service.db.feedback import CardFeedback, IssuedCard
from cds_service.hooks.cards import EXTENSION_KEY

from .conftest import HOOK_PATH, hook_body
from .synthetic import full_prefetch, long_record

FHIR = "https://ehr.example.org/fhir"
FEEDBACK = f"{HOOK_PATH}/feedback"


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app(OVERRIDE_SUPPRESS_DAYS=30)


def _hook(app: Flask, prefetch: dict[str, Any]) -> list[dict[str, Any]]:
    response = app.test_client().post(
        HOOK_PATH, json=hook_body("fb1", fhirServer=FHIR, prefetch=prefetch)
    )
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.json["cards"]
    return cards


def _feedback(app: Flask, items: list[dict[str, Any]]) -> Any:
    return app.test_client().post(FEEDBACK, json={"feedback": items})


def _override(card_uuid: str, when: datetime) -> dict[str, Any]:
    return {
        "card": card_uuid,
        "outcome": "overridden",
        "overrideReason": {
            "reason": {
                "system": "http://igg4-cds.org/fhir/CodeSystem/override-reason",
                "code": "already-referred",
                "display": "Already referred or screened for this trial",
            },
            "userComment": "seen by the study team last week",
        },
        "outcomeTimestamp": when.isoformat().replace("+00:00", "Z"),
    }


def _rows(app: Flask) -> list[CardFeedback]:
    with app.extensions["igg4_db"]["sessions"]() as session:
        return list(session.scalars(select(CardFeedback).order_by(CardFeedback.id)))


def test_feedback_is_stored_with_the_cards_patient(app: Flask) -> None:
    (card,) = _hook(app, full_prefetch(long_record("fb1", 20)))
    suggestion = card["suggestions"][0]["uuid"]
    accepted = {
        "card": card["uuid"],
        "outcome": "accepted",
        "acceptedSuggestions": [{"id": suggestion}],
        "outcomeTimestamp": "2026-11-24T10:00:00Z",
    }
    response = _feedback(app, [accepted, _override("unknown-card", datetime.now(UTC))])
    assert response.status_code == 200
    first, second = _rows(app)
    assert (first.card_uuid, first.outcome, first.patient_id) == (card["uuid"], "accepted", "fb1")
    assert first.fhir_server == FHIR
    assert first.accepted_suggestions == f'["{suggestion}"]'
    assert (second.outcome, second.override_code, second.patient_id) == (
        "overridden",
        "already-referred",
        None,
    )
    assert second.user_comment == "seen by the study team last week"
    with app.extensions["igg4_db"]["sessions"]() as session:
        issued = session.get(IssuedCard, card["uuid"])
        assert issued is not None and issued.status == "candidate"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"feedback": "x"},
        {"feedback": [{"card": "c", "outcome": "maybe", "outcomeTimestamp": "2026-11-24"}]},
        {"feedback": [{"card": "c", "outcome": "accepted"}]},
        {"feedback": [{"outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}]},
        {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-24",
                       "acceptedSuggestions": ["x"]}]},
    ],
)  # fmt: skip
def test_invalid_feedback_is_a_400_and_stores_nothing(app: Flask, body: dict[str, Any]) -> None:
    response = app.test_client().post(FEEDBACK, json=body)
    assert response.status_code == 400
    assert response.json["error"] == "bad-request"
    assert _rows(app) == []


def test_empty_feedback_list_is_accepted(app: Flask) -> None:
    assert _feedback(app, []).status_code == 200
    assert _rows(app) == []


def test_overridden_card_is_hidden_until_the_assessment_changes(app: Flask) -> None:
    record = long_record("fb1", 20)
    (card,) = _hook(app, full_prefetch(record))
    assert _feedback(app, [_override(card["uuid"], datetime.now(UTC))]).status_code == 200
    assert _hook(app, full_prefetch(record)) == []  # same assessment: suppressed

    # New data that changes the assessment (a newer IgG4 result): the card is shown again.
    newer = dict(record[-1])
    newer.update(
        id="fb1-igg4-new",
        code={"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
        effectiveDateTime="2026-11-20",
        valueQuantity={"value": 1500, "unit": "mg/L", "system": "http://unitsofmeasure.org",
                       "code": "mg/L"},
    )  # fmt: skip
    (again,) = _hook(app, full_prefetch([*record, newer]))
    assert again["extension"][EXTENSION_KEY]["status"] == "candidate"
    assert again["uuid"] != card["uuid"]


def _age_feedback(app: Flask, days: int) -> None:
    """Time passes: every stored feedback was received ``days`` earlier."""
    with app.extensions["igg4_db"]["sessions"]() as session, session.begin():
        for row in session.scalars(select(CardFeedback)):
            row.received_at = row.received_at - timedelta(days=days)


def test_suppression_ends_after_the_period_or_a_later_acceptance(app: Flask) -> None:
    record = long_record("fb1", 20)
    (card,) = _hook(app, full_prefetch(record))
    _feedback(app, [_override(card["uuid"], datetime.now(UTC))])
    assert _hook(app, full_prefetch(record)) == []
    _age_feedback(app, 31)
    (shown,) = _hook(app, full_prefetch(record))  # the 30 days have passed
    _feedback(app, [_override(shown["uuid"], datetime.now(UTC) - timedelta(minutes=5))])
    assert _hook(app, full_prefetch(record)) == []
    accepted = {"card": shown["uuid"], "outcome": "accepted",
                "outcomeTimestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    _feedback(app, [accepted])
    assert len(_hook(app, full_prefetch(record))) == 1


def test_the_window_runs_from_receipt_never_from_the_client_timestamp(app: Flask) -> None:
    """Issue 10 row 5: an outcomeTimestamp of 9999-12-31 suppressed the card forever."""
    record = long_record("fb1", 20)
    (card,) = _hook(app, full_prefetch(record))
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert _feedback(app, [_override(card["uuid"], far)]).status_code == 200
    assert _hook(app, full_prefetch(record)) == []  # dismissed now: hidden for the period
    _age_feedback(app, 31)
    assert len(_hook(app, full_prefetch(record))) == 1  # and shown again after it


def test_a_later_acceptance_wins_whatever_the_timestamps_say(app: Flask) -> None:
    record = long_record("fb1", 20)
    (card,) = _hook(app, full_prefetch(record))
    far = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    _feedback(app, [_override(card["uuid"], far)])
    assert _hook(app, full_prefetch(record)) == []
    accepted = {"card": card["uuid"], "outcome": "accepted",
                "outcomeTimestamp": "2000-01-01T00:00:00Z"}  # fmt: skip
    _feedback(app, [accepted])  # received later: it decides
    assert len(_hook(app, full_prefetch(record))) == 1
    first, second = _rows(app)
    assert first.outcome_timestamp.year == 9999  # stored as sent, trusted for nothing
    assert second.received_at >= first.received_at


def _hook_as(app: Flask, user: str | None, record: list[dict[str, Any]]) -> list[dict[str, Any]]:
    body = hook_body("fb1", fhirServer=FHIR, prefetch=full_prefetch(record))
    if user is None:
        del body["context"]["userId"]
    else:
        body["context"]["userId"] = user
    response = app.test_client().post(HOOK_PATH, json=body)
    assert response.status_code == 200
    cards: list[dict[str, Any]] = response.json["cards"]
    return cards


def test_dismissal_belongs_to_the_clinician_who_dismissed(app: Flask) -> None:
    record = long_record("fb1", 20)
    (for_a,) = _hook_as(app, "Practitioner/a", record)
    (for_b,) = _hook_as(app, "Practitioner/b", record)
    _feedback(app, [_override(for_a["uuid"], datetime.now(UTC))])  # feedback names no user
    assert _hook_as(app, "Practitioner/a", record) == []
    assert len(_hook_as(app, "Practitioner/b", record)) == 1
    assert len(_hook_as(app, None, record)) == 1  # a hook without userId is nobody's dismissal
    rows = _rows(app)
    assert [r.user_id for r in rows] == ["Practitioner/a"]
    _feedback(app, [_override(for_b["uuid"], datetime.now(UTC))])
    assert _hook_as(app, "Practitioner/b", record) == []


def test_patient_scope_keeps_the_old_per_patient_suppression(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(OVERRIDE_SUPPRESS_SCOPE="patient")
    record = long_record("fb1", 20)
    (for_a,) = _hook_as(app, "Practitioner/a", record)
    _feedback(app, [_override(for_a["uuid"], datetime.now(UTC))])
    assert _hook_as(app, "Practitioner/a", record) == []
    assert _hook_as(app, "Practitioner/b", record) == []


def test_bad_suppression_scope_is_refused_at_start(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="OVERRIDE_SUPPRESS_SCOPE"):
        make_app(OVERRIDE_SUPPRESS_SCOPE="ward")


def test_feedback_listeners_get_each_item_with_its_issued_card(app: Flask) -> None:
    from cds_service.hooks.suppression import StoredFeedback, add_feedback_listener

    seen: list[StoredFeedback] = []
    add_feedback_listener(app, seen.append)
    add_feedback_listener(app, lambda _item: 1 / 0)  # a broken listener fails nothing
    (card,) = _hook_as(app, "Practitioner/a", long_record("fb1", 20))
    accepted = {"card": card["uuid"], "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-24T10:00:00Z"}  # fmt: skip
    assert _feedback(app, [accepted, _override("not-ours", datetime.now(UTC))]).status_code == 200
    first, second = seen
    assert first.accepted and first.card is not None
    assert (first.card.patient_id, first.card.user_id, first.card.status) == (
        "fb1",
        "Practitioner/a",
        "candidate",
    )
    assert first.item.accepted_suggestions == (card["suggestions"][0]["uuid"],)
    assert not second.accepted and second.card is None
