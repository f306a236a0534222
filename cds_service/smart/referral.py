"""The "refer to the study team" button: the worklist entry, and a FHIR ``Task`` in the EHR when
the token's scopes allow creating Tasks.

The Task carries a business identifier per patient and trial and is created conditionally
(``If-None-Exist``), so that a second click does not create a second Task on servers that support
conditional create.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from fhir.resources.R4B.task import Task
from flask_babel import lazy_gettext as _l

from cds_service.hooks.referral import TRIAL_ID
from cds_service.smart.scopes import Grants

IDENTIFIER_SYSTEM = "http://igg4-cds.org/fhir/NamingSystem/trial-referral"
FHIR_JSON = "application/fhir+json"


def may_write_task(grants: Grants) -> bool:
    return grants.permits("Task", "c")


def referral_task(
    *,
    patient_id: str,
    assessment: dict[str, Any],
    authored: datetime,
    owner: str | None,
    trial_url: str,
) -> dict[str, Any]:
    """A FHIR R4 Task asking the study team to screen the patient; validated (R4B models: Task
    is the same in R4 for every element used here)."""
    status = str(assessment.get("status"))
    task: dict[str, Any] = {
        "resourceType": "Task",
        "identifier": [{"system": IDENTIFIER_SYSTEM, "value": f"{TRIAL_ID}-{patient_id}"}],
        "status": "requested",
        "intent": "order",
        "priority": "routine",
        "code": {"text": f"Screen for clinical trial {TRIAL_ID}"},
        "description": f"Refer to the study team of trial {TRIAL_ID} (IgG4-RD re-elevation during "
        f"maintenance remission, low-dose MMF vs placebo): pre-screened as {status} as of "
        f"{assessment.get('asOf')}.",
        "for": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored.isoformat(timespec="seconds"),
        "reasonCode": {"text": f"igg4-cds pre-screening: {status}"},
        "note": [{"text": f"Trial record: {trial_url}"}],
    }
    task["owner"] = {"reference": owner} if owner else {"display": f"Study team of {TRIAL_ID}"}
    Task.model_validate(task)  # raises on an invalid resource: a bug, caught by the tests
    return task


@dataclass(frozen=True, slots=True)
class TaskOutcome:
    written: bool
    reference: str | None  # "Task/123" when the server said where
    problem: str | None  # why no Task was written, in words


def write_task(iss: str, token: str, task: dict[str, Any], http: requests.Session) -> TaskOutcome:
    identifier = task["identifier"][0]
    headers = {
        "Authorization": f"Bearer {token}",
        "Content-Type": FHIR_JSON,
        "Accept": FHIR_JSON,
        "If-None-Exist": f"identifier={identifier['system']}|{identifier['value']}",
        "Prefer": "return=minimal",
    }
    try:
        response = http.post(f"{iss.rstrip('/')}/Task", json=task, headers=headers)
    except requests.RequestException:
        return TaskOutcome(False, None, _l("the EHR's FHIR server could not be reached"))
    with response:
        status = response.status_code
        location = response.headers.get("Location") or response.headers.get("Content-Location")
    if status in (200, 201):
        return TaskOutcome(True, _task_reference(location), None)
    if status in (401, 403):
        return TaskOutcome(
            False, None, _l("the EHR refused to store the Task (HTTP %(status)s)", status=status)
        )
    return TaskOutcome(
        False, None, _l("the EHR could not store the Task (HTTP %(status)s)", status=status)
    )


def _task_reference(location: str | None) -> str | None:
    """``Task/id`` from a Location such as ``{base}/Task/123/_history/1``."""
    if not location:
        return None
    parts = [p for p in location.split("?", 1)[0].split("/") if p]
    if "Task" in parts:
        i = len(parts) - 1 - parts[::-1].index("Task")
        if i + 1 < len(parts):
            return f"Task/{parts[i + 1]}"
    return None
