"""The FHIR client against mocked servers (``responses``): failures are named, never hang, never leak."""

from __future__ import annotations

import pytest
import requests
import responses

from cds_service.fhir_client import (
    Allowlist,
    FhirClient,
    FhirError,
    FhirLimits,
    fetch_patient_resources,
    normalize_base,
)

BASE = "https://ehr.example.org/fhir"
ALLOW = Allowlist([BASE])


def _bundle(resources: list[dict], next_url: str | None = None) -> dict:
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": r, "search": {"mode": "match"}} for r in resources],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def _obs(n: int) -> dict:
    return {"resourceType": "Observation", "id": f"o{n}", "subject": {"reference": "Patient/p1"}}


def test_normalize_base_and_allowlist() -> None:
    assert normalize_base("HTTPS://EHR.example.org:443/fhir/") == BASE
    assert normalize_base("http://h:8080/") == "http://h:8080"
    assert ALLOW.allows("https://ehr.example.org/fhir/")
    assert not ALLOW.allows("https://ehr.example.org/fhir2")
    assert not ALLOW.allows("https://ehr.example.org.evil.com/fhir")
    assert not ALLOW.allows("https://user:pw@ehr.example.org/fhir")
    assert not ALLOW.allows("file:///etc/passwd")
    assert not ALLOW.allows(None)


def test_client_refuses_a_server_off_the_allowlist_before_any_request() -> None:
    with responses.RequestsMock() as mock, pytest.raises(FhirError) as err:
        FhirClient("https://attacker.example.com/fhir", allowlist=ALLOW)
    assert err.value.kind == "not-allowed"
    assert len(mock.calls) == 0


@responses.activate
def test_search_follows_next_pages_and_sends_the_token() -> None:
    responses.get(
        f"{BASE}/Observation?patient=p1&_count=2",
        json=_bundle([_obs(1), _obs(2)], f"{BASE}/Observation?patient=p1&page=2"),
    )
    responses.get(f"{BASE}/Observation?patient=p1&page=2", json=_bundle([_obs(3)]))
    client = FhirClient(BASE, allowlist=ALLOW, token="secret", limits=FhirLimits(page_size=2))
    found = client.search("Observation?patient=p1")
    assert [r["id"] for r in found] == ["o1", "o2", "o3"]
    assert all(c.request.headers["Authorization"] == "Bearer secret" for c in responses.calls)
    assert len(responses.calls) == 2


@responses.activate
def test_next_link_loop_is_an_error_not_an_endless_fetch() -> None:
    url = f"{BASE}/Observation?patient=p1"
    responses.get(url, json=_bundle([_obs(1)], url))
    client = FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None))
    with pytest.raises(FhirError) as err:
        client.search("Observation?patient=p1")
    assert err.value.kind == "malformed"
    assert len(responses.calls) == 1


@responses.activate
def test_next_link_off_the_base_is_never_followed() -> None:
    responses.get(
        f"{BASE}/Observation?patient=p1",
        json=_bundle([_obs(1)], "https://attacker.example.com/steal?x=1"),
    )
    client = FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None))
    with pytest.raises(FhirError) as err:
        client.search("Observation?patient=p1")
    assert err.value.kind == "not-allowed"
    assert [c.request.url for c in responses.calls] == [f"{BASE}/Observation?patient=p1"]


@responses.activate
def test_too_many_pages_is_refused() -> None:
    for n in range(5):
        responses.get(
            f"{BASE}/Observation?patient=p1&page={n}",
            json=_bundle([_obs(n)], f"{BASE}/Observation?patient=p1&page={n + 1}"),
        )
    client = FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None, max_pages=3))
    with pytest.raises(FhirError) as err:
        client.search("Observation?patient=p1&page=0")
    assert err.value.kind == "too-large"
    assert len(responses.calls) == 3


@pytest.mark.parametrize(
    ("status", "kind"), [(401, "unauthorized"), (403, "unauthorized"), (500, "http-error")]
)
@responses.activate
def test_http_errors(status: int, kind: str) -> None:
    responses.get(f"{BASE}/Patient/p1", status=status, json={"resourceType": "OperationOutcome"})
    with pytest.raises(FhirError) as err:
        FhirClient(BASE, allowlist=ALLOW).read("Patient/p1")
    assert err.value.kind == kind
    assert err.value.status == status


@responses.activate
def test_redirects_are_not_followed() -> None:
    responses.get(f"{BASE}/Patient/p1", status=302, headers={"Location": "http://169.254.169.254/"})
    with pytest.raises(FhirError) as err:
        FhirClient(BASE, allowlist=ALLOW).read("Patient/p1")
    assert err.value.kind == "http-error"
    assert len(responses.calls) == 1


@responses.activate
def test_timeout_and_unreachable() -> None:
    responses.get(f"{BASE}/Patient/slow", body=requests.ReadTimeout("slow"))
    responses.get(f"{BASE}/Patient/down", body=requests.ConnectionError("refused"))
    client = FhirClient(BASE, allowlist=ALLOW)
    with pytest.raises(FhirError) as slow:
        client.read("Patient/slow")
    with pytest.raises(FhirError) as down:
        client.read("Patient/down")
    assert (slow.value.kind, down.value.kind) == ("timeout", "unreachable")


@pytest.mark.parametrize(
    "body",
    [
        b"<html>not json</html>",
        b"[1, 2, 3]",
        b'{"no": "resourceType"}',
        b'{"resourceType": "Bundle", "entry": "nope"}',
        b'{"resourceType": "Bundle", "entry": [{"fullUrl": "x"}]}',
        b'{"resourceType": "Bundle", "link": [{"relation": "next"}]}',
        b'{"resourceType": "Patient", "id": "p1"}',
    ],
)
@responses.activate
def test_malformed_bundles(body: bytes) -> None:
    responses.get(f"{BASE}/Condition?patient=p1", body=body, content_type="application/fhir+json")
    with pytest.raises(FhirError) as err:
        FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None)).search(
            "Condition?patient=p1"
        )
    assert err.value.kind == "malformed"


@responses.activate
def test_response_over_the_size_limit_is_refused() -> None:
    big = _bundle([_obs(n) for n in range(2000)])
    responses.get(f"{BASE}/Observation?patient=p1", json=big)
    client = FhirClient(
        BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None, max_response_bytes=10_000)
    )
    with pytest.raises(FhirError) as err:
        client.search("Observation?patient=p1")
    assert err.value.kind == "too-large"


@responses.activate
def test_operation_outcome_entries_are_dropped_from_searches() -> None:
    outcome = {"resourceType": "OperationOutcome", "issue": []}
    responses.get(
        f"{BASE}/Condition?patient=p1",
        json={
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [
                {"resource": outcome, "search": {"mode": "outcome"}},
                {"resource": _obs(1), "search": {"mode": "match"}},
            ],
        },
    )
    found = FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None)).search(
        "Condition?patient=p1"
    )
    assert [r["resourceType"] for r in found] == ["Observation"]


@responses.activate
def test_fetch_many_reports_each_failure_and_fetch_patient_resources_raises() -> None:
    responses.get(f"{BASE}/Patient/p1", json={"resourceType": "Patient", "id": "p1"})
    responses.get(f"{BASE}/Observation?patient=p1", json=_bundle([_obs(1), _obs(1)]))
    responses.get(f"{BASE}/Condition?patient=p1", status=503)
    queries = {
        "patient": "Patient/p1",
        "observations": "Observation?patient=p1",
        "conditions": "Condition?patient=p1",
    }
    client = FhirClient(BASE, allowlist=ALLOW, limits=FhirLimits(page_size=None))
    results = client.fetch_many(queries)
    assert isinstance(results["conditions"], FhirError)
    assert [r["id"] for r in results["observations"]] == ["o1", "o1"]  # type: ignore[index]
    with pytest.raises(FhirError) as err:
        fetch_patient_resources(
            BASE, "p1", allowlist=ALLOW, limits=FhirLimits(page_size=None), queries=queries
        )
    assert err.value.status == 503
    del queries["conditions"]
    found = fetch_patient_resources(
        BASE, "p1", allowlist=ALLOW, limits=FhirLimits(page_size=None), queries=queries
    )
    assert sorted(r["id"] for r in found) == ["o1", "p1"]  # duplicates collapsed


@pytest.mark.timeout(20)  # a hang fails here instead of blocking the suite
def test_time_budget_is_kept_against_a_server_that_never_answers() -> None:
    """A real socket that accepts and stays silent: fetch_many returns with timeouts, no hang."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    base = f"http://127.0.0.1:{listener.getsockname()[1]}/fhir"
    try:
        client = FhirClient(base, allowlist=Allowlist([base]), limits=FhirLimits(time_budget_s=0.5))
        results = client.fetch_many({"a": "Patient/p1", "b": "Condition?patient=p1"})
    finally:
        listener.close()
    assert [r.kind for r in results.values() if isinstance(r, FhirError)] == ["timeout", "timeout"]
