"""The hook's HTTP contract: discovery, errors, 412 vs "could not complete", cards, listeners, CORS."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from fhir.resources.R4B.servicerequest import ServiceRequest
from flask import Flask

from cds_service.hooks.cards import EXTENSION_KEY
from cds_service.hooks.templates import observation_codes

from .conftest import HOOK_PATH, fhir_auth, hook_body
from .schema import assert_valid_response
from .synthetic import full_prefetch, long_record, searchset

FHIR = "https://ehr.example.org/fhir"
RECORD = long_record("h1", observations=30)


def _app(make_app: Callable[..., Flask], **kw: Any) -> Flask:
    return make_app(FHIR_SERVER_ALLOWLIST=[FHIR], **kw)


def _post(app: Flask, body: Any) -> Any:
    return app.test_client().post(HOOK_PATH, json=body)


def test_discovery_lists_the_service_with_prefetch_templates(
    make_app: Callable[..., Flask],
) -> None:
    response = make_app().test_client().get("/cds-services")
    assert response.status_code == 200
    (service,) = response.json["services"]
    assert service["hook"] == "patient-view"
    assert service["id"] == "igg4rd-trial-screening"
    assert service["description"]
    prefetch = service["prefetch"]
    assert prefetch["patient"] == "Patient/{{context.patientId}}"
    for key in ("observations", "conditions", "medicationRequests", "medicationStatements"):
        assert "patient={{context.patientId}}" in prefetch[key]
    assert prefetch["procedures"].startswith("Procedure?")
    assert prefetch["researchSubjects"] == "ResearchSubject?individual={{context.patientId}}"
    assert "_include=MedicationRequest:medication" in prefetch["medicationRequests"]


def test_observation_template_can_be_narrowed_to_the_value_set_codes(
    make_app: Callable[..., Flask],
) -> None:
    service = make_app(PREFETCH_OBSERVATIONS_BY_CODE=True).test_client().get("/cds-services")
    template = service.json["services"][0]["prefetch"]["observations"]
    codes = parse_qs(urlsplit(template).query)["code"][0].split(",")
    assert "http://loinc.org|2469-5" in codes  # serum IgG4
    assert "http://igg4-cds.org/fhir/CodeSystem/responder-index|organ-score" in codes
    assert codes == list(observation_codes())


def test_healthz_and_cors(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    preflight = client.options(
        HOOK_PATH,
        headers={"Origin": "https://ehr.example.org", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
    restricted = make_app(CORS_ORIGINS=["https://ehr.example.org"]).test_client()
    ok = restricted.get("/cds-services", headers={"Origin": "https://ehr.example.org"})
    other = restricted.get("/cds-services", headers={"Origin": "https://evil.example"})
    assert ok.headers["Access-Control-Allow-Origin"] == "https://ehr.example.org"
    assert "Access-Control-Allow-Origin" not in other.headers


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b"[]", 400),
        (b'{"hook": "order-select", "hookInstance": "x", "context": {"patientId": "p"}}', 400),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {}}', 400),
        (b'{"hook": "patient-view", "hookInstance": "x"}', 400),
        (b'{"hook": "patient-view", "context": {"patientId": "p1"}}', 400),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "a&b=c"}}', 400),
        (b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1\\n"}}', 400),
        (
            b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"},'
            b' "fhirAuthorization": {"access_token": "t", "token_type": "Bearer"}}',
            400,
        ),
        (
            b'{"hook": "patient-view", "hookInstance": "x", "context": {"patientId": "p1"},'
            b' "prefetch": [1]}',
            400,
        ),
    ],
)
def test_malformed_requests_get_a_json_400(
    make_app: Callable[..., Flask], body: bytes, status: int
) -> None:
    response = make_app().test_client().post(HOOK_PATH, data=body, content_type="application/json")
    assert response.status_code == status
    assert response.json["error"] == "bad-request"
    assert response.json["message"]


def test_unknown_service_and_paths_get_json_404(make_app: Callable[..., Flask]) -> None:
    client = make_app().test_client()
    for response in (
        client.post("/cds-services/other-service", json=hook_body("p1")),
        client.post("/cds-services/other-service/feedback", json={"feedback": []}),
        client.get("/nothing-here"),
    ):
        assert response.status_code == 404
        assert response.json["error"] == "not-found"
    assert client.get(HOOK_PATH).status_code == 405


def test_missing_data_and_no_fhir_server_is_412(make_app: Callable[..., Flask]) -> None:
    prefetch = full_prefetch(RECORD)
    del prefetch["conditions"]
    response = _post(_app(make_app), hook_body("h1", prefetch=prefetch))
    assert response.status_code == 412
    assert response.json["error"] == "precondition-failed"


def test_null_prefetch_keys_mean_no_data_when_there_is_no_server(
    make_app: Callable[..., Flask],
) -> None:
    prefetch = full_prefetch(RECORD)
    prefetch["researchSubjects"] = None
    prefetch["procedures"] = None
    response = _post(_app(make_app), hook_body("h1", prefetch=prefetch))
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"][EXTENSION_KEY]["status"] == "candidate"


def _fhir_mock(
    mock: responses.RequestsMock, *, conditions: Any = None, patient: Any = None
) -> None:
    """Serve RECORD for any search on FHIR; ``conditions`` / ``patient`` replace those answers."""
    by_type: dict[str, list[dict[str, Any]]] = {}
    for r in RECORD:
        by_type.setdefault(r["resourceType"], []).append(r)
    if patient is None:
        mock.get(f"{FHIR}/Patient/h1", json=by_type["Patient"][0])
    else:
        mock.get(f"{FHIR}/Patient/h1", **patient)
    for rtype in ("Observation", "MedicationRequest", "MedicationStatement", "Procedure"):
        mock.get(f"{FHIR}/{rtype}", json=searchset(by_type.get(rtype, [])))
    mock.get(f"{FHIR}/ResearchSubject", json=searchset([]))
    if conditions is None:
        mock.get(f"{FHIR}/Condition", json=searchset(by_type["Condition"]))
    else:
        mock.get(f"{FHIR}/Condition", **conditions)


FAILURES = {
    "unauthorized": {"status": 401, "json": {"resourceType": "OperationOutcome"}},
    "http-error": {"status": 500, "body": "boom"},
    "timeout": {"body": requests.ReadTimeout("slow")},
    "unreachable": {"body": requests.ConnectionError("down")},
    "malformed": {"status": 200, "body": '{"resourceType": "Bundle", "entry": [{"x": 1}]}'},
}


@pytest.mark.parametrize("kind", list(FAILURES))
def test_patient_read_failure_gives_a_could_not_complete_card(
    make_app: Callable[..., Flask], kind: str
) -> None:
    app = _app(make_app)
    body = hook_body("h1", fhirServer=FHIR, fhirAuthorization=fhir_auth("tok"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_mock(mock, patient=FAILURES[kind])
        response = _post(app, body)
    assert response.status_code == 200
    assert_valid_response(response.json)
    (card,) = response.json["cards"]
    assert "could not be completed" in card["summary"]
    assert card["extension"] == {f"{EXTENSION_KEY}-error": {"kind": kind}}
    assert EXTENSION_KEY not in card["extension"]  # nothing concluded without the patient


@pytest.mark.parametrize("kind", list(FAILURES))
def test_failed_search_is_assessed_as_unreadable_not_as_absent(
    make_app: Callable[..., Flask], kind: str
) -> None:
    """Conditions could not be fetched: the diagnosis criteria are unknown, never "none recorded"."""
    app = _app(make_app)
    body = hook_body("h1", fhirServer=FHIR, fhirAuthorization=fhir_auth("tok"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_mock(mock, conditions=FAILURES[kind])
        response = _post(app, body)
    assert response.status_code == 200
    assert_valid_response(response.json)
    (card,) = response.json["cards"]
    assessment = card["extension"][EXTENSION_KEY]
    by_id = {c["id"]: c for c in assessment["criteria"]}
    assert by_id["I1"]["status"] == "unknown"
    assert f"Condition could not be read (FHIR search failed: {kind})" in by_id["I1"]["reason"]
    assert by_id["E5"]["status"] == "unknown"
    assert assessment["status"] == "needs-review"
    assert f"Condition: could not be read (FHIR search failed: {kind})" in assessment["dataIssues"]


def test_fhir_failure_can_be_configured_as_412(make_app: Callable[..., Flask]) -> None:
    app = _app(make_app, FETCH_FAILURE_RESPONSE="412")
    body = hook_body("h1", fhirServer=FHIR, fhirAuthorization=fhir_auth("tok"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_mock(mock, conditions=FAILURES["unauthorized"])
        response = _post(app, body)
    assert response.status_code == 412
    assert "unauthorized" in response.json["message"]


def test_no_prefetch_fetches_everything_with_the_token(make_app: Callable[..., Flask]) -> None:
    app = _app(make_app)
    body = hook_body("h1", fhirServer=FHIR + "/", fhirAuthorization=fhir_auth("tok"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_mock(mock)
        response = _post(app, body)
        calls = list(mock.calls)
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"][EXTENSION_KEY]["status"] == "candidate"
    assert len(calls) == 7
    assert {c.request.headers["Authorization"] for c in calls} == {"Bearer tok"}


def test_prefetch_about_another_patient_is_not_used(make_app: Callable[..., Flask]) -> None:
    prefetch = full_prefetch(RECORD)
    stranger = copy.deepcopy(prefetch["conditions"]["entry"][0])
    stranger["resource"]["id"] = "someone-else-dx"
    stranger["resource"]["subject"] = {"reference": "Patient/someone-else"}
    prefetch["conditions"]["entry"].append(stranger)
    prefetch["patient"] = {"resourceType": "Patient", "id": "someone-else"}
    response = _post(_app(make_app), hook_body("h1", prefetch=prefetch))
    assert response.status_code == 412  # both keys rejected, nothing to fetch them from


def test_duplicate_prefetch_entries_are_collapsed(make_app: Callable[..., Flask]) -> None:
    prefetch = full_prefetch(RECORD)
    prefetch["observations"]["entry"] *= 2
    response = _post(_app(make_app), hook_body("h1", prefetch=prefetch))
    assessment = response.json["cards"][0]["extension"][EXTENSION_KEY]
    assert assessment["status"] == "candidate"
    assert len(assessment["igg4"]["series"]) == 3


MALFORMED_RESOURCES: list[Any] = [
    {"resourceType": "Observation", "id": "bad1", "subject": {"reference": "Patient/h1"},
     "status": "final", "code": "not-a-concept", "valueQuantity": {"value": "NaN?"}},
    {"resourceType": "Observation", "id": "bad2", "subject": {"reference": "Patient/h1"},
     "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
     "status": "final", "effectiveDateTime": "yesterday", "valueQuantity": {"value": [1, 2]}},
    {"resourceType": "Observation", "id": "bad3", "subject": {"reference": "Patient/h1"},
     "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]}, "status": 7,
     "effectiveDateTime": "2026-99-99", "valueQuantity": {"value": 1e308, "unit": "mg/L"}},
]  # fmt: skip


def test_malformed_fhir_data_never_gives_a_500(make_app: Callable[..., Flask]) -> None:
    app = _app(make_app)
    prefetch = full_prefetch(RECORD)
    prefetch["observations"]["entry"] += [{"resource": r} for r in MALFORMED_RESOURCES]
    prefetch["patient"] = {"resourceType": "Patient", "id": "h1", "birthDate": {"x": 1}}
    response = _post(app, hook_body("h1", prefetch=prefetch))
    assert response.status_code == 200
    assert_valid_response(response.json)
    assert response.json["cards"]


def test_ineligible_patients_get_no_card_unless_configured(make_app: Callable[..., Flask]) -> None:
    prefetch = full_prefetch(RECORD)
    prefetch["patient"] = {**prefetch["patient"], "birthDate": "1940-01-01"}  # age 86: I2 not-met
    body = hook_body("h1", prefetch=prefetch)
    quiet = _post(_app(make_app), body)
    assert quiet.status_code == 200
    assert quiet.json == {"cards": []}
    shown = _post(_app(make_app, SHOW_INELIGIBLE_CARD=True), body)
    (card,) = shown.json["cards"]
    assert card["extension"][EXTENSION_KEY]["status"] == "ineligible"
    assert "I2" in card["summary"]
    assert "suggestions" not in card  # no referral for an ineligible patient


def test_candidate_card_content(make_app: Callable[..., Flask]) -> None:
    app = _app(
        make_app,
        WORKLIST_BASE_URL="https://recruit.example.org",
        SMART_LAUNCH_URL="https://recruit.example.org/launch",
        STUDY_TEAM_REFERENCE="Organization/study-team",
    )
    body = hook_body("h1", fhirServer=FHIR, prefetch=full_prefetch(RECORD))
    response = _post(app, body)
    assert response.status_code == 200
    assert_valid_response(response.json)
    (card,) = response.json["cards"]
    assert card["indicator"] == "info"
    assert len(card["summary"]) < 140
    assert card["detail"].startswith("**Possible candidate.** Serum IgG4: baseline ")
    assert "**Confirm at the screening visit**" in card["detail"]
    assert "Open the screening app or the recruiter worklist (links below)" in card["detail"]
    assert "| I1 |" not in card["detail"]  # the full table is one link away, not on the card
    assert card["source"]["url"] == "https://clinicaltrials.gov/study/NCT05974683"
    assert {r["code"] for r in card["overrideReasons"]} >= {"already-referred", "data-incorrect"}
    worklist, trial, smart = card["links"]
    assert trial["url"] == "https://clinicaltrials.gov/study/NCT05974683"
    assert worklist["type"] == "absolute"
    query = parse_qs(urlsplit(worklist["url"]).query)
    assert worklist["url"].startswith("https://recruit.example.org/worklist/patients/lookup?")
    assert query == {"server": [FHIR], "patient": ["h1"]}
    assert "%2F" in worklist["url"]  # the server URL is encoded
    assert smart["type"] == "smart" and smart["url"] == "https://recruit.example.org/launch"
    (suggestion,) = card["suggestions"]
    assert card["selectionBehavior"] == "at-most-one"
    (action,) = suggestion["actions"]
    referral = ServiceRequest.model_validate(action["resource"])
    assert referral.subject.reference == "Patient/h1"
    assert referral.requester.reference == "Practitioner/test-user"
    assert referral.performer[0].reference == "Organization/study-team"
    assessment = card["extension"][EXTENSION_KEY]
    assert assessment["patient"] == "Patient/h1" and assessment["asOf"] == "2026-11-24"


def test_listeners_get_each_assessment_and_cannot_break_the_hook(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    app = _app(make_app)
    seen: list[tuple[str, str, str]] = []

    def record(server: str, assessment: dict[str, Any], source: str, handoff: Any) -> None:
        seen.append((server, assessment["status"], source))

    def broken(server: str, assessment: dict[str, Any], source: str, handoff: Any) -> None:
        raise RuntimeError("Patient/h1 secret detail")

    listeners = app.extensions["igg4_assessment_listeners"]
    listeners += [broken, record]
    response = _post(app, hook_body("h1", fhirServer=FHIR, prefetch=full_prefetch(RECORD)))
    assert response.status_code == 200 and response.json["cards"]
    assert seen == [(FHIR, "candidate", "hook")]
    assert "RuntimeError" in caplog.text
    assert "secret detail" not in caplog.text and "h1" not in caplog.text


def test_logs_carry_no_patient_data(
    make_app: Callable[..., Flask], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    app = _app(make_app)
    body = hook_body("h1", fhirServer=FHIR, fhirAuthorization=fhir_auth("very-secret-token"))
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        _fhir_mock(mock)
        assert _post(app, body).status_code == 200
    assert body["hookInstance"] in caplog.text  # the hook is logged ...
    for secret in ("h1", "very-secret-token", "Synthetic", "1970-05-17", "candidate"):
        assert secret not in caplog.text  # ... without who, what or the token
