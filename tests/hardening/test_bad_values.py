"""Issue 10 row 7: NUL bytes in feedback fields or ``fhirServer``, a page number >= 2^62, a row
id >= 2^31, ``asOf=0001-01-01`` and ``"NaN"``/``"Infinity"`` as values gave 500s on PostgreSQL
(and were silently accepted on SQLite); ``igg4-cds assess`` printed a traceback.

Each is now a 400 with a clear message on every database, or, for junk inside FHIR data (a value
of "NaN"), the result is not used and said in dataIssues, never a crash and never stored raw. The
CLI says one line and exits with status 2.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import select

from cds_service.app import create_app
from cds_service.cli import cli
from cds_service.worklist.db import session_factory
from cds_service.worklist.models import FlaggedPatient

from .helpers import (
    CANDIDATE,
    FEEDBACK_PATH,
    HOOK_PATH,
    api_token,
    fixture_bundle,
    login,
    prefetch_hook_body,
)

NUL = "\x00"
SERVER = "https://ehr.example.org/fhir"
NUL_SERVER = "https://ehr.example.org/nul"


@pytest.fixture(scope="module")
def app(module_database_url: str) -> Flask:
    """One application per database for the module (the probes do not disturb each other)."""
    return create_app(
        {
            "DATABASE_URL": module_database_url,
            "FHIR_SERVER_ALLOWLIST": [SERVER, NUL_SERVER],
            "JWT_VERIFY": False,
            "IGG4_AS_OF": "2026-11-24",
            "SECRET_KEY": "hardening-tests-" + "k" * 32,
            "TESTING": True,
        }
    )


def _feedback(**fields: Any) -> dict[str, Any]:
    item = {
        "card": "9d3c4c6e-1111-4c1e-9f7e-000000000001",
        "outcome": "overridden",
        "outcomeTimestamp": "2026-11-24T10:00:00Z",
    }
    item.update(fields)
    return {"feedback": [item]}


@pytest.mark.parametrize(
    "fields",
    [
        {"card": "abc" + NUL},
        {"overrideReason": {"userComment": "no" + NUL}},
        {"overrideReason": {"reason": {"code": "x" + NUL, "system": "s"}}},
        {"overrideReason": {"reason": {"display": NUL}}},
        {"acceptedSuggestions": [{"id": "s" + NUL}]},
    ],
    ids=["card", "comment", "code", "display", "suggestion"],
)
def test_nul_in_feedback_is_a_400(app: Flask, fields: dict[str, Any]) -> None:
    response = app.test_client().post(FEEDBACK_PATH, json=_feedback(**fields))
    assert response.status_code == 400
    assert "NUL" in response.get_json()["message"]


def test_nul_in_fhir_server_is_a_400(app: Flask) -> None:
    body = prefetch_hook_body(fhirServer="https://ehr.example.org/fhir" + NUL)
    response = app.test_client().post(HOOK_PATH, json=body)
    assert response.status_code == 400
    assert "fhirServer" in response.get_json()["message"]


def test_huge_page_numbers_and_row_ids_are_400s(app: Flask) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    for page in (2**62, 2**63, 10**30):
        response = client.get(f"/api/patients?page={page}", headers=auth)
        assert response.status_code == 400, page
        assert "page must be 1..1000000" in response.get_json()["message"]
    for path in ("/api/patients/{}", "/api/patients/{}/assessments", "/api/patients/{}/audit"):
        for row in (2**31, 2**63, 10**30):
            response = client.get(path.format(row), headers=auth)
            assert response.status_code == 400, (path, row)
            assert "row_id is out of range" in response.get_json()["message"]
    response = client.post(f"/api/patients/{2**31}/notes", json={"text": "x"}, headers=auth)
    assert response.status_code == 400
    assert client.get(f"/api/patients/{2**31 - 1}", headers=auth).status_code == 404
    # The pages: the list shows the error (and the first page), the patient page is a 400.
    assert login(client, "ivan").status_code == 302
    listing = client.get(f"/worklist/?page={2**62}")
    assert listing.status_code == 200 and "page must be 1..1000000" in listing.get_data(
        as_text=True
    )
    assert client.get(f"/worklist/patients/{2**31}").status_code == 400


def test_nul_in_worklist_input_is_a_400(app: Flask) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    response = client.get("/api/patients?q=a" + NUL, headers=auth)
    assert response.status_code == 400 and "NUL" in response.get_json()["message"]
    response = client.get("/api/patients/lookup?server=x&patient=p" + NUL, headers=auth)
    assert response.status_code == 400
    assert client.get("/worklist/login?next=/" + NUL).status_code == 400
    assert (
        client.post("/worklist/login", data={"username": "a" + NUL, "password": "x"}).status_code
        == 400
    )


def test_as_of_out_of_range_is_a_400(app: Flask) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    bundle = fixture_bundle()
    for day in ("0001-01-01", "1899-12-31", "9999-12-31"):
        response = client.post(f"/api/assess?asOf={day}", json=bundle, headers=auth)
        assert response.status_code == 400, day
        assert "between 1900-01-01 and 2999-12-31" in response.get_json()["message"]
    response = client.post("/api/assess?asOf=yesterday", json=bundle, headers=auth)
    assert response.status_code == 400
    assert client.post("/api/assess?asOf=2026-11-24", json=bundle, headers=auth).status_code == 200


def _with_values(value: Any) -> dict[str, Any]:
    bundle = copy.deepcopy(fixture_bundle())
    for entry in bundle["entry"]:
        quantity = entry["resource"].get("valueQuantity")
        if isinstance(quantity, dict):
            quantity["value"] = value
    return bundle


NON_NUMBERS = ["NaN", "Infinity", "-Infinity", "1e999", "sNaN"]


@pytest.mark.parametrize("value", NON_NUMBERS)
def test_non_numbers_as_values_are_data_issues_and_stored_on_every_database(
    app: Flask, value: str
) -> None:
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    response = client.post(
        "/api/assess?add=true&asOf=2026-11-24", json=_with_values(value), headers=auth
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    result = response.get_json()["assessment"]
    json.dumps(result, allow_nan=False)  # strict JSON: no NaN or Infinity anywhere
    assert result["status"] != "candidate"  # the IgG4 results were not usable
    assert response.get_json()["patient"] is not None  # listed, on PostgreSQL too
    # The same data through the hook: a card, and the patient on the worklist.
    server = f"https://ehr.example.org/values/{NON_NUMBERS.index(value)}"  # a row of its own
    response = client.post(
        HOOK_PATH, json=prefetch_hook_body(_with_values(value), fhirServer=server)
    )
    assert response.status_code == 200
    with session_factory(app)() as s:
        rows = list(
            s.scalars(select(FlaggedPatient.id).where(FlaggedPatient.fhir_server == server))
        )
    assert len(rows) == 1


def test_nul_inside_fhir_data_is_stored_without_it(app: Flask) -> None:
    """A NUL inside FHIR data is not the clinician's fault: the hook answers, and the worklist keeps
    the patient with the character replaced (PostgreSQL cannot store it)."""
    bundle = copy.deepcopy(fixture_bundle())
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Patient":
            resource["name"] = [{"text": "Pieter" + NUL + "Hallorann"}]
        quantity = resource.get("valueQuantity")
        if isinstance(quantity, dict):
            quantity["unit"] = quantity["code"] = "mg" + NUL
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    response = client.post("/api/assess?add=true", json=bundle, headers=auth)
    assert response.status_code == 200
    assert response.get_json()["patient"]["displayName"] == "Pieter\ufffdHallorann"
    body = prefetch_hook_body(bundle, fhirServer=NUL_SERVER)
    assert client.post(HOOK_PATH, json=body).status_code == 200
    with session_factory(app)() as s:
        names = list(
            s.scalars(
                select(FlaggedPatient.display_name).where(FlaggedPatient.fhir_server == NUL_SERVER)
            )
        )
    assert names == ["Pieter\ufffdHallorann"]


def test_cli_assess_says_one_line_and_exits_2(tmp_path: Path) -> None:
    runner = CliRunner()
    result = runner.invoke(cli, ["assess", "--as-of", "0001-01-01", str(CANDIDATE)])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "between 1900-01-01 and 2999-12-31" in result.output
    nan = tmp_path / "nan.json"
    nan.write_text(json.dumps(_with_values("NaN")))
    result = runner.invoke(cli, ["assess", "--json", "--as-of", "2026-11-24", str(nan)])
    assert result.exit_code == 0, result.output
    assessment = json.loads(result.output)
    assert any(
        "NaN" in issue or "no value" in issue or "not used" in issue
        for issue in assessment["dataIssues"]
    )
