"""Fuzzing the CDS Hooks endpoints (issue 10): whatever the body, the hook and the feedback answer
4xx with a JSON problem, or 200 with a valid CDS Hooks response; never 5xx. On SQLite, and on
PostgreSQL (which refuses what SQLite keeps, e.g. a NUL character)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from .fuzz import FHIR_JUNK, fuzz_settings, json_values, mutated
from .helpers import FEEDBACK_PATH, HOOK_PATH, fixture_bundle, prefetch_hook_body

# A closed port on loopback: fetches fail fast ("unreachable"), nothing leaves the machine.
FHIR_BASE = "http://127.0.0.1:9/fhir"
CDS_SCHEMA = Draft202012Validator(
    json.loads(
        (
            Path(__file__).resolve().parents[1] / "hooks" / "cds_hooks_response.schema.json"
        ).read_text()
    ),
    format_checker=Draft202012Validator.FORMAT_CHECKER,
)
CONTENT_TYPES = [
    "application/json",
    "application/fhir+json",
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data; boundary=xyz",
]

_small_prefetch = prefetch_hook_body(fixture_bundle(), fhirServer=FHIR_BASE)
VALID_HOOK = {
    **_small_prefetch,
    "fhirAuthorization": {"access_token": "t", "token_type": "Bearer", "scope": "patient/*.read"},
}
VALID_FEEDBACK = {
    "feedback": [
        {
            "card": "9d3c4c6e-1111-4c1e-9f7e-000000000001",
            "outcome": "overridden",
            "outcomeTimestamp": "2026-11-24T10:00:00Z",
            "overrideReason": {
                "reason": {"code": "not-relevant", "system": "https://example.org", "display": "x"},
                "userComment": "no",
            },
            "acceptedSuggestions": [{"id": "s1"}],
        }
    ]
}

hook_bodies = st.one_of(
    mutated(VALID_HOOK, at_most=4),
    mutated({k: v for k, v in VALID_HOOK.items() if k != "prefetch"}, at_most=3),
    st.fixed_dictionaries(
        {"hook": st.just("patient-view"), "hookInstance": st.text(max_size=40)},
        optional={
            "context": json_values,
            "fhirServer": st.sampled_from([FHIR_BASE, *FHIR_JUNK]) | st.text(max_size=40),
            "fhirAuthorization": json_values,
            "prefetch": json_values,
        },
    ),
    json_values,
)
feedback_bodies = st.one_of(mutated(VALID_FEEDBACK, at_most=4), json_values)


def _post(client: FlaskClient, path: str, body: Any, content_type: str, raw: bytes | None) -> Any:
    data = raw if raw is not None else json.dumps(body).encode()  # big ints, NaN: as sent
    return client.post(path, data=data, content_type=content_type)


def _check_hook(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    data = response.get_json(silent=True)
    assert isinstance(data, dict), response.get_data()[:200]
    if response.status_code == 200:
        errors = [f"{list(e.path)}: {e.message}" for e in CDS_SCHEMA.iter_errors(data)]
        assert not errors, errors[:3]
    else:
        assert set(data) == {"error", "message"}, data


def _check_feedback(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)[:500]
    data = response.get_json(silent=True)
    assert isinstance(data, dict)
    if response.status_code == 200:
        assert data == {}
    else:
        assert set(data) == {"error", "message"}, data


def _run(app: Flask, examples: int) -> None:
    client = app.test_client()

    @fuzz_settings(examples=examples)
    @given(
        body=hook_bodies,
        content_type=st.sampled_from(CONTENT_TYPES),
        raw=st.none() | st.none() | st.none() | st.binary(max_size=200),
    )
    def hook(body: Any, content_type: str, raw: bytes | None) -> None:
        _check_hook(_post(client, HOOK_PATH, body, content_type, raw))

    @fuzz_settings(examples=examples)
    @given(
        body=feedback_bodies,
        content_type=st.sampled_from(CONTENT_TYPES),
        raw=st.none() | st.none() | st.none() | st.binary(max_size=200),
    )
    def feedback(body: Any, content_type: str, raw: bytes | None) -> None:
        _check_feedback(_post(client, FEEDBACK_PATH, body, content_type, raw))

    hook()
    feedback()


@pytest.fixture
def fuzz_app(make_app: Any, database_url: str) -> Flask:
    app: Flask = make_app(
        DATABASE_URL=database_url, FHIR_SERVER_ALLOWLIST=[FHIR_BASE], FHIR_TIME_BUDGET_S=0.5
    )
    return app


def test_hook_and_feedback_never_answer_5xx(fuzz_app: Flask, database_url: str) -> None:
    _run(fuzz_app, 150 if database_url.startswith("sqlite") else 60)
