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


def test_suppression_ends_after_the_period_or_a_later_acceptance(app: Flask) -> None:
    record = long_record("fb1", 20)
    (card,) = _hook(app, full_prefetch(record))
    long_ago = datetime.now(UTC) - timedelta(days=31)
    _feedback(app, [_override(card["uuid"], long_ago)])
    (shown,) = _hook(app, full_prefetch(record))  # the 30 days have passed
    _feedback(app, [_override(shown["uuid"], datetime.now(UTC) - timedelta(minutes=5))])
    assert _hook(app, full_prefetch(record)) == []
    accepted = {"card": shown["uuid"], "outcome": "accepted",
                "outcomeTimestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    _feedback(app, [accepted])
    assert len(_hook(app, full_prefetch(record))) == 1
