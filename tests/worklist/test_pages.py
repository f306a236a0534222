"""The pages and the JSON API end to end through the Flask test client."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import store

from .conftest import FIXTURES, SERVER, assessment, page_csrf


@pytest.fixture
def listed(sessions: sessionmaker[Session]) -> dict[str, int]:
    rows = {}
    with sessions() as s:
        for pid, status, name in [
            ("pa", "candidate", "Alice Moreau"),
            ("pb", "needs-review", "Bob <b>Tanaka</b>"),
            ("pc", "ineligible", '=HYPERLINK("x")'),
        ]:
            rows[pid] = store.record_assessment(
                s,
                fhir_server=SERVER,
                assessment=assessment(pid, status),
                source="screen",
                display_name=name,
            )
    return rows


def test_list_shows_filters_and_patients(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int]
) -> None:
    client = as_role("recruiter")
    html = client.get("/worklist/").get_data(as_text=True)
    # the default view: candidates and needs-review patients; the ineligible one on request
    assert "Alice Moreau" in html and "2 found" in html and "HYPERLINK" not in html
    assert "Bob &lt;b&gt;Tanaka&lt;/b&gt;" in html  # escaped, never markup
    every = client.get("/worklist/?eligibility=candidate,needs-review,ineligible")
    assert "3 found" in every.get_data(as_text=True)
    filtered = client.get("/worklist/?eligibility=candidate").get_data(as_text=True)
    assert "Alice Moreau" in filtered and "Tanaka" not in filtered and "1 found" in filtered
    search = client.get("/worklist/?q=tanaka").get_data(as_text=True)
    assert "Tanaka" in search and "Alice" not in search
    bad = client.get("/worklist/?changed_since=yesterday&sort=nonsense")
    assert bad.status_code == 200 and "changed_since must be a date" in bad.get_data(as_text=True)


def test_patient_page_has_chart_criteria_history_and_audits_the_view(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    client = as_role("recruiter")
    row = listed["pa"]
    html = client.get(f"/worklist/patients/{row}").get_data(as_text=True)
    assert '<svg class="igg4-chart wide"' in html and '<svg class="igg4-chart compact"' in html
    assert 'class="threshold-line"' in html and 'class="inclusion-line"' in html
    assert "Observation/pa-I1" in html  # evidence
    assert html.count('<tr class="row-') == 7  # criteria rows
    with sessions() as s:
        actions = [(e.actor, e.action) for e in store.audit_of(s, row)]
    assert ("rita", "view") in actions


def test_state_change_note_and_assignment_through_the_forms(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int], sessions: sessionmaker[Session]
) -> None:
    client = as_role("recruiter")
    row = listed["pa"]
    html = client.get(f"/worklist/patients/{row}").get_data(as_text=True)
    token = page_csrf(client, f"/worklist/patients/{row}")
    version = re.search(r'name="version" value="(\d+)"', html)
    assert version
    assert '<option value="not-eligible">' not in html  # recruiters are not offered it
    r = client.post(
        f"/worklist/patients/{row}/state",
        data={"csrf_token": token, "state": "in-review", "version": version.group(1)},
    )
    assert r.status_code == 302
    stale = client.post(
        f"/worklist/patients/{row}/state",
        follow_redirects=True,
        data={"csrf_token": token, "state": "contacted", "version": version.group(1)},
    )
    assert "changed by someone else" in stale.get_data(as_text=True)
    client.post(
        f"/worklist/patients/{row}/notes",
        data={"csrf_token": token, "text": "Left a voicemail <script>"},
    )
    client.post(f"/worklist/patients/{row}/assign", data={"csrf_token": token, "assignee": "rita"})
    html = client.get(f"/worklist/patients/{row}").get_data(as_text=True)
    assert "Left a voicemail &lt;script&gt;" in html
    with sessions() as s:
        p = store.get_patient(s, row)
        assert p.workflow_state == "in-review" and p.assignee is not None
        assert p.assignee.username == "rita"


def test_lookup_redirects_to_the_patient_page(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int]
) -> None:
    client = as_role("recruiter")
    r = client.get("/worklist/patients/lookup", query_string={"server": SERVER, "patient": "pb"})
    assert r.status_code == 302 and r.headers["Location"] == f"/worklist/patients/{listed['pb']}"
    missing = client.get(
        "/worklist/patients/lookup", query_string={"server": SERVER, "patient": "nobody"}
    )
    assert missing.status_code == 404 and "not on the worklist" in missing.get_data(as_text=True)


def test_csv_export_follows_the_filters_and_defuses_formulas(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int]
) -> None:
    client = as_role("recruiter")
    r = client.get(
        "/worklist/export.csv?eligibility=ineligible,needs-review&sort=patient&order=asc"
    )
    assert r.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(r.get_data(as_text=True))))
    assert [row["patientId"] for row in rows] == ["pb", "pc"]
    assert rows[1]["displayName"].startswith("'=")
    assert rows[0]["url"].endswith(f"/worklist/patients/{listed['pb']}")


def test_fhir_export_is_a_valid_bundle_of_research_subjects_and_tasks(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int]
) -> None:
    client = as_role("investigator")
    token = page_csrf(client)
    client.post(
        f"/api/patients/{listed['pa']}/state",
        json={"state": "in-review"},
        headers={"X-CSRFToken": token},
    )
    r = client.get("/worklist/export.fhir.json?eligibility=candidate")
    assert r.mimetype == "application/fhir+json"
    data = json.loads(r.get_data(as_text=True))
    Bundle.model_validate(data)
    kinds = [e["resource"]["resourceType"] for e in data["entry"]]
    assert kinds == ["ResearchSubject", "Task"]
    subject, task = (e["resource"] for e in data["entry"])
    assert subject["status"] == "potential-candidate"
    assert subject["individual"]["reference"] == f"{SERVER}/Patient/pa"
    assert task["businessStatus"]["coding"][0]["code"] == "in-review"
    assert task["status"] == "in-progress"
    assert task["focus"]["reference"] == data["entry"][0]["fullUrl"]


def test_api_list_detail_and_actions(
    as_role: Callable[[str], FlaskClient], listed: dict[str, int]
) -> None:
    client = as_role("recruiter")
    token = page_csrf(client)
    page = client.get("/api/patients?eligibility=candidate,needs-review&sort=patient&order=asc")
    assert page.json is not None
    assert [i["patientId"] for i in page.json["items"]] == ["pa", "pb"]
    assert page.json["total"] == 2
    assert client.get("/api/patients?page=0").status_code == 400
    row = listed["pa"]
    detail = client.get(f"/api/patients/{row}").json
    assert detail is not None and detail["assessment"]["status"] == "candidate"
    assert "not-eligible" not in detail["allowedStates"]
    moved = client.post(
        f"/api/patients/{row}/state",
        json={"state": "in-review", "version": detail["version"]},
        headers={"X-CSRFToken": token},
    )
    assert moved.status_code == 200
    conflict = client.post(
        f"/api/patients/{row}/state",
        json={"state": "contacted", "version": detail["version"]},
        headers={"X-CSRFToken": token},
    )
    assert conflict.status_code == 409
    invalid = client.post(
        f"/api/patients/{row}/state", json={"state": "referred"}, headers={"X-CSRFToken": token}
    )
    assert invalid.status_code == 422
    assigned = client.post(
        f"/api/patients/{row}/assignee", json={"assignee": "ivan"}, headers={"X-CSRFToken": token}
    )
    assert assigned.json is not None and assigned.json["assignee"] == "ivan"
    unknown = client.post(
        f"/api/patients/{row}/assignee", json={"assignee": "ghost"}, headers={"X-CSRFToken": token}
    )
    assert unknown.status_code == 422
    assert client.get("/api/patients/99999").status_code == 404
    history = client.get(f"/api/patients/{row}/assessments").json
    assert history is not None and len(history["items"]) == 1
    trail = client.get(f"/api/patients/{row}/audit").json
    assert trail is not None
    assert {"state", "assign", "view"} <= {e["action"] for e in trail["items"]}
    found = client.get("/api/patients/lookup", query_string={"server": SERVER, "patient": "pa"})
    assert found.json is not None and found.json["id"] == row


def test_openapi_document_is_served_valid_and_complete(
    app: Flask, as_role: Callable[[str], FlaskClient]
) -> None:
    import schemathesis

    doc = as_role("recruiter").get("/api/openapi.json").json
    assert doc is not None and doc["openapi"].startswith("3.")
    schema = schemathesis.openapi.from_dict(doc)  # validates the document
    operations = [r.ok().label for r in schema.get_all_operations()]
    routes = {
        m + " " + re.sub(r"<(?:int:)?(\w+)>", r"{\1}", rule.rule)
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("worklist_api.") and rule.endpoint != "worklist_api.openapi"
        for m in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }
    assert set(operations) == routes  # every API call is documented, and nothing else


def _fixture(name_start: str) -> Path:
    paths = FIXTURES.glob(f"{name_start}*.json")
    return sorted(p for p in paths if not p.name.endswith(".expected.json"))[0]


@pytest.mark.skipif(not list(FIXTURES.glob("01-*.json")), reason="fixtures not written yet")
def test_manual_assessment_upload_and_add(
    as_role: Callable[[str], FlaskClient], sessions: sessionmaker[Session]
) -> None:
    client = as_role("investigator")
    token = page_csrf(client, "/worklist/assess")
    path = _fixture("01-")
    expected = json.loads(path.with_name(path.name.replace(".json", ".expected.json")).read_text())
    r = client.post(
        "/worklist/assess",
        data={
            "csrf_token": token,
            "as_of": expected["asOf"],
            "bundle": (io.BytesIO(path.read_bytes()), path.name),
        },
        content_type="multipart/form-data",
    )
    html = r.get_data(as_text=True)
    assert r.status_code == 200 and f"elig-{expected['status']}" in html
    assert '<svg class="igg4-chart wide"' in html and '<svg class="igg4-chart compact"' in html
    bundle_json = re.search(r'<textarea name="bundle_json" hidden>(.*?)</textarea>', html, re.S)
    assert bundle_json
    import html as html_lib

    added = client.post(
        "/worklist/assess/add",
        data={
            "csrf_token": token,
            "as_of": expected["asOf"],
            "server": SERVER,
            "bundle_json": html_lib.unescape(bundle_json.group(1)),
        },
    )
    assert added.status_code == 302
    with sessions() as s:
        row = int(added.headers["Location"].rsplit("/", 1)[1])
        p = store.get_patient(s, row)
        assert p.eligibility == expected["status"] and p.fhir_server == SERVER
        assert store.assessments_of(s, row)[0].source == "manual"
    garbage = client.post(
        "/worklist/assess",
        content_type="multipart/form-data",
        data={"csrf_token": token, "bundle": (io.BytesIO(b"not json"), "x.json")},
    )
    assert garbage.status_code == 422 and "not JSON" in garbage.get_data(as_text=True)
    no_patient = client.post(
        "/api/assess",
        json={"resourceType": "Bundle", "type": "collection"},
        headers={"X-CSRFToken": token},
    )
    assert no_patient.status_code == 422


@pytest.mark.skipif(not list(FIXTURES.glob("01-*.json")), reason="fixtures not written yet")
def test_api_assess_with_add(as_role: Callable[[str], FlaskClient]) -> None:
    client = as_role("investigator")
    path = _fixture("01-")
    r = client.post(
        "/api/assess?asOf=2026-11-24&add=true&server=" + SERVER,
        data=path.read_bytes(),
        content_type="application/fhir+json",
        headers={"X-CSRFToken": page_csrf(client)},
    )
    assert r.status_code == 200 and r.json is not None
    assert r.json["assessment"]["asOf"] == "2026-11-24"
    assert r.json["patient"]["fhirServer"] == SERVER
    assert r.json["patient"]["eligibility"] == r.json["assessment"]["status"]
