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
