"""Exports of the current list: CSV, and a FHIR R4 Bundle of ResearchSubject and Task resources
(built and validated with ``fhir.resources``; R4B models, identical to R4 for these two)."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final

from fhir.resources.R4B.bundle import Bundle

from cds_service.worklist.models import FlaggedPatient
from cds_service.worklist.serialize import patient_summary
from cds_service.worklist.workflow import STATE_LABELS

TRIAL_ID: Final = "NCT05974683"
TRIAL_REGISTRY: Final = "https://clinicaltrials.gov"
WORKFLOW_SYSTEM: Final = "http://igg4-cds.org/fhir/CodeSystem/worklist-state"
_NS: Final = uuid.UUID("6f1c8f0e-3b7e-4c55-9a52-2f0f3c7a4e11")

# R4 ResearchSubject.status (http://hl7.org/fhir/research-subject-status) for each workflow state.
RESEARCH_SUBJECT_STATUS: Final = {
    "new": "potential-candidate",
    "in-review": "potential-candidate",
    "contacted": "candidate",
    "pre-screened": "screening",
    "referred": "eligible",
    "enrolled": "on-study",
    "declined": "withdrawn",
    "not-eligible": "ineligible",
}
# Task.status of the recruiting task; the workflow state itself is Task.businessStatus.
TASK_STATUS: Final = {
    "new": "requested",
    "in-review": "in-progress",
    "contacted": "in-progress",
    "pre-screened": "in-progress",
    "referred": "in-progress",
    "enrolled": "completed",
    "declined": "completed",
    "not-eligible": "completed",
}

CSV_COLUMNS: Final = (
    "id",
    "patientId",
    "fhirServer",
    "displayName",
    "eligibility",
    "eligibilityChange",
    "asOf",
    "state",
    "assignee",
    "updatedAt",
    "url",
)


def _cell(value: Any) -> str:
    text = "" if value is None else str(value)
    # Spreadsheet formula injection: a cell must not start with = + - @ (OWASP).
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(patients: Iterable[FlaggedPatient], page_url: str) -> str:
    """``page_url``: the patient page URL with ``{id}`` in place of the row id."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for p in patients:
        row = patient_summary(p)
        row["url"] = page_url.format(id=p.id)
        writer.writerow([_cell(row[c]) for c in CSV_COLUMNS])
    return buf.getvalue()


def _urn(*parts: str) -> str:
    return f"urn:uuid:{uuid.uuid5(_NS, '|'.join(parts))}"


def _study() -> dict[str, Any]:
    return {
        "identifier": {"system": TRIAL_REGISTRY, "value": TRIAL_ID},
        "display": f"{TRIAL_ID}: low-dose MMF for IgG4 re-elevation in IgG4-RD",
    }


def to_fhir_bundle(
    patients: Iterable[FlaggedPatient], now: datetime | None = None
) -> dict[str, Any]:
    """A ``collection`` Bundle: per patient a ResearchSubject and the recruiter's Task,
    validated by the ``fhir.resources`` models."""
    entries: list[dict[str, Any]] = []
    for p in patients:
        patient_ref = {"reference": f"{p.fhir_server}/Patient/{p.patient_id}"}
        if p.display_name:
            patient_ref["display"] = p.display_name
        subject_url = _urn("ResearchSubject", p.fhir_server, p.patient_id)
        label = STATE_LABELS[p.workflow_state]
        subject = {
            "resourceType": "ResearchSubject",
            "id": f"worklist-{p.id}",
            "status": RESEARCH_SUBJECT_STATUS[p.workflow_state],
            "study": _study(),
            "individual": patient_ref,
            "period": {"start": p.created_at.date().isoformat()},
        }
        task: dict[str, Any] = {
            "resourceType": "Task",
            "id": f"worklist-task-{p.id}",
            "status": TASK_STATUS[p.workflow_state],
            "businessStatus": {
                "coding": [{"system": WORKFLOW_SYSTEM, "code": p.workflow_state, "display": label}],
                "text": label,
            },
            "intent": "order",
            "code": {"text": f"Recruit for {TRIAL_ID}"},
            "description": f"Trial recruitment ({p.eligibility}, assessed as of {p.as_of})",
            "focus": {"reference": subject_url},
            "for": patient_ref,
            "authoredOn": p.created_at.isoformat(),
            "lastModified": p.updated_at.isoformat(),
        }
        if p.assignee:
            task["owner"] = {"display": p.assignee.username}
        entries.append({"fullUrl": subject_url, "resource": subject})
        entries.append({"fullUrl": _urn("Task", p.fhir_server, p.patient_id), "resource": task})
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": (now or datetime.now(UTC)).isoformat(),
    }
    if entries:
        bundle["entry"] = entries
    out: dict[str, Any] = Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
    return out
