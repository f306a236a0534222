"""The read-only fixture FHIR server: real HTTP, search, paging, _include, bearer token, 404."""

from __future__ import annotations

from typing import Any

import requests

from cds_service.fhir_fixture_server import FixtureFhirServer

from .conftest import FIXTURES
from .synthetic import long_record

AUTH = {"Authorization": "Bearer fixture-token"}


def _get(server: FixtureFhirServer, path: str, **kw: Any) -> requests.Response:
    return requests.get(f"{server.base_url}/{path}", timeout=10, **kw)


def _all_pages(server: FixtureFhirServer, path: str) -> list[dict[str, Any]]:
    url: str | None = f"{server.base_url}/{path}"
    found: list[dict[str, Any]] = []
    while url:
        bundle = requests.get(url, headers=AUTH, timeout=10).json()
        assert bundle["resourceType"] == "Bundle" and bundle["type"] == "searchset"
        found += [e["resource"] for e in bundle.get("entry", [])]
        url = next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), None)
    return found


def test_metadata_is_open_and_everything_else_needs_the_token(
    fixture_fhir: FixtureFhirServer,
) -> None:
    meta = _get(fixture_fhir, "metadata")
    assert meta.status_code == 200
    assert meta.json()["resourceType"] == "CapabilityStatement"
    assert meta.json()["fhirVersion"] == "4.0.1"
    refused = _get(fixture_fhir, "Patient/fx01")
    assert refused.status_code == 401
    assert refused.json()["resourceType"] == "OperationOutcome"
    wrong = _get(fixture_fhir, "Patient/fx01", headers={"Authorization": "Bearer nope"})
    assert wrong.status_code == 401
    assert _get(fixture_fhir, "Patient/fx01", headers=AUTH).json()["id"] == "fx01"


def test_read_unknown_is_404_and_writes_are_refused(fixture_fhir: FixtureFhirServer) -> None:
    assert _get(fixture_fhir, "Patient/no-such-patient", headers=AUTH).status_code == 404
    assert _get(fixture_fhir, "Patient/fx01/extra", headers=AUTH).status_code == 404
    post = requests.post(f"{fixture_fhir.base_url}/Patient", json={}, headers=AUTH, timeout=10)
    assert post.status_code == 405


def test_search_by_patient_in_every_spelling_with_paging(fixture_fhir: FixtureFhirServer) -> None:
    plain = _all_pages(fixture_fhir, "Observation?patient=fx01")
    assert len(plain) > 5  # more than one page of 5
    assert {r["subject"]["reference"] for r in plain} == {"Patient/fx01"}
    prefixed = _all_pages(fixture_fhir, "Observation?subject=Patient/fx01")
    assert [r["id"] for r in prefixed] == [r["id"] for r in plain]
    first = _get(fixture_fhir, "Observation?patient=fx01&_count=2", headers=AUTH).json()
    assert len(first["entry"]) == 2 and first["total"] == len(plain)
    subjects = _all_pages(fixture_fhir, "ResearchSubject?individual=fx48")
    assert subjects and all(r["individual"]["reference"] == "Patient/fx48" for r in subjects)


def test_search_by_code_type_level_and_id(fixture_fhir: FixtureFhirServer) -> None:
    igg4 = _all_pages(fixture_fhir, "Observation?patient=fx01&code=http://loinc.org|2469-5")
    assert igg4 and all(any(c["code"] == "2469-5" for c in r["code"]["coding"]) for r in igg4)
    either = _all_pages(fixture_fhir, "Observation?patient=fx01&code=2469-5,http://loinc.org|718-7")
    assert len(either) > len(igg4)
    everyone = _all_pages(fixture_fhir, "Condition?code=http://hl7.org/fhir/sid/icd-10-cm|D89.84")
    assert len({r["subject"]["reference"] for r in everyone}) > 10  # type-level, all patients
    by_id = _all_pages(fixture_fhir, "Patient?_id=fx01,fx02")
    assert sorted(r["id"] for r in by_id) == ["fx01", "fx02"]
    assert _all_pages(fixture_fhir, "Observation?patient=fx01&status=cancelled") == []


def test_include_brings_referenced_medications(fixture_fhir: FixtureFhirServer) -> None:
    found = _all_pages(
        fixture_fhir, "MedicationStatement?patient=fx04&_include=MedicationStatement:medication"
    )
    assert "Medication" in {r["resourceType"] for r in found}


def test_directory_loading_skips_expected_files_and_resolves_urn_uuid(tmp_path: Any) -> None:
    (tmp_path / "a.expected.json").write_text('{"status": "candidate"}')
    (tmp_path / "a.json").write_text(
        '{"resourceType": "Bundle", "type": "transaction", "entry": ['
        '{"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "id": "u1"}},'
        '{"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Condition", "id": "c1",'
        ' "subject": {"reference": "urn:uuid:1"}}}]}'
    )
    with FixtureFhirServer.from_directory(tmp_path) as server:
        found = _all_pages(server, "Condition?patient=Patient/u1")
    assert [r["subject"]["reference"] for r in found] == ["Patient/u1"]


def test_every_fixture_patient_is_served(fixture_fhir: FixtureFhirServer) -> None:
    patients = _all_pages(fixture_fhir, "Patient?_count=100")
    bundles = [p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json")]
    assert len(patients) == len(bundles)


def test_generated_record_server_counts_requests() -> None:
    with FixtureFhirServer(long_record("gen1", 40), page_size=10) as server:
        assert len(_all_pages(server, "Observation?patient=gen1")) == 40
        assert server.requests_served == 4
