"""Discovery, sessions, the read plan, the referral Task, missing data, settings."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest
import responses

from cds_service.i18n.render import STABLE
from cds_service.smart import settings
from cds_service.smart.discovery import discover, from_smart_configuration
from cds_service.smart.errors import SmartError
from cds_service.smart.http import SafeSession
from cds_service.smart.missing import missing_data
from cds_service.smart.oauth import TokenGrant, authorization_error, token_expiry
from cds_service.smart.record import NO_SCOPE, plan_reads
from cds_service.smart.referral import _task_reference, referral_task
from cds_service.smart.scopes import Grants
from cds_service.smart.sessions import MemoryStore, Sessions
from cds_service.smart_testing.pkce import s256, verify

ISS = "https://ehr.example.org/fhir"
OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"


def capability_statement(rest: dict[str, Any]) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-01-01",
        "kind": "instance",
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [rest],
    }


# ---- discovery ---------------------------------------------------------------------------------


@responses.activate
def test_discovery_reads_the_smart_configuration() -> None:
    responses.get(
        f"{ISS}/.well-known/smart-configuration",
        json={
            "authorization_endpoint": "https://ehr.example.org/auth",
            "token_endpoint": "https://ehr.example.org/token",
            "capabilities": ["launch-ehr", "permission-v2"],
            "code_challenge_methods_supported": ["S256"],
        },
    )
    found = discover(ISS, SafeSession(2))
    assert (found.authorize, found.token) == (
        "https://ehr.example.org/auth",
        "https://ehr.example.org/token",
    )
    assert found.source == "smart-configuration" and found.supports_v2


@responses.activate
def test_discovery_falls_back_to_the_capability_statement() -> None:
    responses.get(f"{ISS}/.well-known/smart-configuration", status=404)
    security = {
        "extension": [
            {
                "url": OAUTH_URIS,
                "extension": [
                    {"url": "authorize", "valueUri": "https://ehr.example.org/a"},
                    {"url": "token", "valueUri": "https://ehr.example.org/t"},
                ],
            }
        ]
    }
    responses.get(
        f"{ISS}/metadata", json=capability_statement({"mode": "server", "security": security})
    )
    found = discover(ISS, SafeSession(2))
    assert found.source == "capability-statement"
    assert (found.authorize, found.token) == (
        "https://ehr.example.org/a",
        "https://ehr.example.org/t",
    )
    assert not found.supports_v2


@responses.activate
def test_a_server_without_smart_is_refused_clearly() -> None:
    responses.get(f"{ISS}/.well-known/smart-configuration", status=404)
    responses.get(f"{ISS}/metadata", json=capability_statement({"mode": "server"}))
    with pytest.raises(SmartError) as caught:
        discover(ISS, SafeSession(2))
    assert caught.value.kind == "not-smart"


@responses.activate
def test_an_unreachable_server_is_a_discovery_failure() -> None:
    responses.get(f"{ISS}/.well-known/smart-configuration", status=500)
    responses.get(f"{ISS}/metadata", status=503)
    with pytest.raises(SmartError) as caught:
        discover(ISS, SafeSession(2))
    assert caught.value.kind == "discovery-failed" and caught.value.status == 502


def test_plain_pkce_only_is_refused() -> None:
    with pytest.raises(SmartError) as caught:
        from_smart_configuration(
            {
                "authorization_endpoint": "https://a/x",
                "token_endpoint": "https://a/t",
                "code_challenge_methods_supported": ["plain"],
            }
        )
    assert caught.value.kind == "pkce-unsupported"
    assert (
        from_smart_configuration(
            {"authorization_endpoint": "javascript:x", "token_endpoint": "https://a/t"}
        )
        is None
    )


# ---- sessions ----------------------------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.t = 1_000_000.0

    def __call__(self) -> float:
        return self.t


def test_session_round_trip_is_encrypted_and_expires() -> None:
    clock = Clock()
    store = MemoryStore(clock)
    sessions = Sessions(store, clock)
    s = sessions.new()
    s.apps["a"] = {"token": "secret-token-123", "expires_at": clock.t + 60}
    sessions.save(s)
    (blob,) = [b for _, b in store._items.values()]
    assert b"secret-token-123" not in blob
    assert sessions.load(s.cookie_value).apps["a"]["token"] == "secret-token-123"  # type: ignore[union-attr]
    sid, _, key = s.cookie_value.partition(".")
    forged_key = ("A" if key[0] != "A" else "B") + key[1:]
    assert sessions.load(f"{sid}.{forged_key}") is None  # wrong key: cannot decrypt
    assert sessions.load(sid) is None and sessions.load(None) is None
    clock.t += 61
    assert sessions.load(s.cookie_value) is None  # ended with the token
    assert len(store) == 0


def test_rotation_gives_a_new_id_and_drops_the_old() -> None:
    clock = Clock()
    sessions = Sessions(MemoryStore(clock), clock)
    s = sessions.new()
    s.pending["st"] = {"expires_at": clock.t + 60}
    sessions.save(s)
    fresh = sessions.rotate(s)
    sessions.save(fresh)
    assert fresh.sid != s.sid and fresh.key != s.key
    assert sessions.load(s.cookie_value) is None
    assert sessions.load(fresh.cookie_value) is not None


def test_expired_entries_are_pruned_but_live_ones_kept() -> None:
    clock = Clock()
    sessions = Sessions(MemoryStore(clock), clock)
    s = sessions.new()
    s.apps["old"] = {"expires_at": clock.t + 10}
    s.apps["new"] = {"expires_at": clock.t + 100}
    sessions.save(s)
    clock.t += 11
    loaded = sessions.load(s.cookie_value)
    assert loaded is not None and list(loaded.apps) == ["new"]


# ---- OAuth helpers -----------------------------------------------------------------------------


def test_token_expiry_is_capped_and_defaulted() -> None:
    grant = TokenGrant("t", "Bearer", "s", "p", 3600.0, {})
    assert token_expiry(grant, now=100.0, default_s=300, max_s=600) == 700.0
    no_expiry = TokenGrant("t", "Bearer", "s", "p", None, {})
    assert token_expiry(no_expiry, now=100.0, default_s=300, max_s=600) == 400.0


def test_authorization_errors_in_words() -> None:
    denied = authorization_error({"error": "access_denied", "state": "x"})
    assert denied is not None and denied.status == 403 and denied.kind == "access-denied"
    other = authorization_error({"error": "invalid_scope"})
    assert other is not None and "did not accept" in other.message
    assert authorization_error({"code": "c"}) is None


def test_pkce_s256_matches_rfc_7636_example() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert s256(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert verify(verifier, s256(verifier)) and not verify("short", s256("short"))


# ---- the read plan -----------------------------------------------------------------------------


def test_read_plan_v1_wildcard_reads_everything() -> None:
    plan = plan_reads("p1", Grants.parse("launch patient/*.read"))
    assert not plan.unavailable
    assert plan.queries["patient"] == "Patient/p1"
    assert "_include=MedicationRequest:medication" in plan.queries["medicationRequests"]


def test_read_plan_leaves_out_types_without_scope() -> None:
    plan = plan_reads(
        "p1", Grants.parse("patient/Patient.rs patient/Observation.rs patient/MedicationRequest.rs")
    )
    assert plan.unavailable["Condition"] == NO_SCOPE
    assert plan.unavailable["ResearchSubject"] == NO_SCOPE
    assert not any(q.startswith("Condition") for q in plan.queries.values())
    assert "_include" not in plan.queries["medicationRequests"]  # no Medication scope


def test_read_plan_searches_granular_scopes_as_granted() -> None:
    plan = plan_reads(
        "p1", Grants.parse("patient/Patient.r patient/Observation.rs?category=laboratory")
    )
    assert plan.queries["observations#0"] == "Observation?patient=p1&category=laboratory"
    assert STABLE(plan.unavailable["Observation"]).startswith(
        "only Observation with category=laboratory"
    )


def test_without_patient_read_nothing_is_planned() -> None:
    with pytest.raises(SmartError) as caught:
        plan_reads("p1", Grants.parse("patient/Observation.rs"))
    assert caught.value.kind == "no-patient-scope"


# ---- the referral Task and missing data --------------------------------------------------------

ASSESSMENT: dict[str, Any] = {
    "status": "needs-review",
    "asOf": "2026-11-24",
    "criteria": [
        {
            "id": "I1",
            "title": "IgG4-RD",
            "status": "unknown",
            "reason": "Condition could not be read",
        },
        {"id": "I2", "title": "Age", "status": "met", "reason": "age 50"},
        {"id": "E11", "title": "Labs", "status": "unknown", "reason": "no AST"},
    ],
}


def test_referral_task_is_a_valid_r4_task() -> None:
    task = referral_task(
        patient_id="p1",
        assessment=ASSESSMENT,
        authored=datetime(2026, 11, 24, 9, 0, tzinfo=UTC),
        owner="Organization/study-team",
        trial_url="https://clinicaltrials.gov/study/NCT05974683",
    )
    assert task["for"] == {"reference": "Patient/p1"} and task["owner"] == {
        "reference": "Organization/study-team"
    }
    assert task["identifier"][0]["value"] == "NCT05974683-p1"
    assert "needs-review" in task["description"]
    anonymous = referral_task(
        patient_id="p1",
        assessment=ASSESSMENT,
        authored=datetime.now(UTC),
        owner=None,
        trial_url="x",
    )
    assert "display" in anonymous["owner"]


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("https://ehr/fhir/Task/123/_history/1", "Task/123"),
        ("https://ehr/fhir/Task/abc", "Task/abc"),
        ("Task/9", "Task/9"),
        (None, None),
        ("https://ehr/fhir/Task", None),
    ],
)
def test_task_reference_from_location(location: str | None, expected: str | None) -> None:
    assert _task_reference(location) == expected


def test_missing_data_for_each_unknown() -> None:
    found = missing_data(ASSESSMENT, {"Condition": NO_SCOPE})
    assert [m.id for m in found] == ["I1", "E11"]
    assert found[0].unreadable == (f"Condition: {STABLE(NO_SCOPE)}",)
    assert "diagnosis" in found[0].needed
    assert found[1].unreadable == () and re.search(r"ALT, AST", found[1].needed)


# ---- settings ----------------------------------------------------------------------------------


def test_settings_default_to_the_fhir_allow_list_and_validate() -> None:
    conf = settings.resolve({"FHIR_SERVER_ALLOWLIST": ["https://a/fhir"]}, environ={})
    assert conf["SMART_ISS_ALLOWLIST"] == ["https://a/fhir"]
    env = settings.resolve(
        {}, environ={"IGG4_CDS_SMART_ISS_ALLOWLIST": "https://b/fhir, https://c/fhir"}
    )
    assert env["SMART_ISS_ALLOWLIST"] == ["https://b/fhir", "https://c/fhir"]
    for bad in (
        {"SMART_SCOPE_VERSION": "v3"},
        {"SMART_SESSION_STORE": "memcached://x"},
        {"SMART_COOKIE_SAMESITE": "None", "SMART_COOKIE_SECURE": False},
        {"SMART_MAX_SESSION_S": 0},
    ):
        with pytest.raises(ValueError):
            settings.resolve(bad, environ={})


def test_smart_demo_once_runs_both_launches() -> None:
    from click.testing import CliRunner

    from cds_service.smart_testing.demo import smart_demo

    result = CliRunner().invoke(smart_demo, ["--once", "--port", "0"])
    assert result.exit_code == 0, result.output
    assert "part of `igg4-cds demo`" in result.output  # one command, one database
    assert "fx01: expected candidate, got candidate" in result.output
    assert "fx12: expected needs-review, got needs-review" in result.output


@pytest.mark.parametrize(
    ("kind", "status", "expected_status", "expected_kind"),
    [
        ("unauthorized", 401, 401, "fhir-refused"),
        ("unauthorized", 403, 403, "fhir-refused"),
        ("timeout", None, 502, "fhir-timeout"),
        ("unreachable", None, 502, "fhir-unreachable"),
        ("malformed", None, 502, "fhir-malformed"),
    ],
)
def test_fhir_failures_become_clear_pages(
    kind: str, status: int | None, expected_status: int, expected_kind: str
) -> None:
    from cds_service.fhir_client import FhirError
    from cds_service.smart.record import _fhir_failure

    page = _fhir_failure(FhirError(kind, "detail", status))  # type: ignore[arg-type]
    assert (page.status, page.kind) == (expected_status, expected_kind)
    assert page.message.endswith(".") and "detail" not in page.message


def test_the_clinician_named_by_the_id_token() -> None:
    import base64

    from cds_service.smart.oauth import clinician_of

    def token(claims: object) -> str:
        body = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        return f"eyJhbGciOiJSUzI1NiJ9.{body}.c2ln"

    assert clinician_of(token({"name": "Dr  Amara\nOkafor", "fhirUser": "x"})) == "Dr Amara Okafor"
    url = "https://ehr.example.org/fhir/Practitioner/42"
    assert clinician_of(token({"fhirUser": url})) == "Practitioner/42"
    for junk in (None, "", "a.b", "a.!!!.c", token(["list"]), token({"name": 3}), "x" * 30_000):
        assert clinician_of(junk) is None
