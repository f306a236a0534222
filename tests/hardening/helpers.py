"""Small builders shared by the hardening tests."""

from __future__ import annotations

import uuid
from typing import Any

HOOK_PATH = "/cds-services/igg4rd-trial-screening"
FEEDBACK_PATH = HOOK_PATH + "/feedback"


def hook_body(patient_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/test-user", "patientId": patient_id},
    }
    body.update(extra)
    return body


REPO = __import__("pathlib").Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "patients"
CANDIDATE = FIXTURES / "01-candidate-mgl-male.json"
PASSWORD = "correct horse battery staple"


def fixture_bundle(path: Any = CANDIDATE) -> dict[str, Any]:
    import json

    data: dict[str, Any] = json.loads(path.read_text())
    return data


def full_prefetch(bundle: dict[str, Any]) -> dict[str, Any]:
    """Every prefetch template of the service satisfied from one patient's Bundle."""
    from cds_service.hooks.templates import prefetch_templates

    resources = [e["resource"] for e in bundle["entry"]]
    patient = next(r for r in resources if r["resourceType"] == "Patient")

    def searchset(*types: str) -> dict[str, Any]:
        return {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r} for r in resources if r["resourceType"] in types],
        }

    prefetch: dict[str, Any] = {}
    for key, template in prefetch_templates(observations_by_code=False).items():
        rtype = template.split("?")[0].split("/")[0]
        if rtype == "Patient":
            prefetch[key] = patient
        elif rtype in ("MedicationRequest", "MedicationStatement"):
            prefetch[key] = searchset(rtype, "Medication")
        else:
            prefetch[key] = searchset(rtype)
    return prefetch


def prefetch_hook_body(bundle: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    bundle = bundle or fixture_bundle()
    patient = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient"
    )
    return hook_body(patient["id"], prefetch=full_prefetch(bundle), **extra)


def api_token(app: Any, name: str = "ivan", role: str = "investigator") -> str:
    """A user and a personal API token (the worklist API's Bearer auth)."""
    from cds_service.worklist import accounts
    from cds_service.worklist.db import session_factory

    with session_factory(app)() as s:
        user = accounts.get_user(s, name) or accounts.create_user(s, name, role, PASSWORD)
        token = accounts.create_api_token(s, user, "tests")
        s.commit()
    return token


def csrf_from(html: str) -> str:
    import re

    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: Any, name: str, password: str = PASSWORD) -> Any:
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    return client.post(
        "/worklist/login", data={"username": name, "password": password, "csrf_token": token}
    )
