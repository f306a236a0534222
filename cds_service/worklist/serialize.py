"""Worklist rows as plain dicts: one shape for the JSON API and the CSV export."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from cds_service.worklist.models import AssessmentRecord, AuditEvent, FlaggedPatient, Note
from cds_service.worklist.workflow import CHANGE_LABELS


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def patient_summary(p: FlaggedPatient) -> dict[str, Any]:
    change = p.eligibility_change if not p.change_acknowledged else None
    return {
        "id": p.id,
        "fhirServer": p.fhir_server,
        "patientId": p.patient_id,
        "displayName": p.display_name,
        "eligibility": p.eligibility,
        "previousEligibility": p.previous_eligibility,
        "eligibilityChange": change,
        "eligibilityChangeLabel": CHANGE_LABELS.get(change or ""),
        "eligibilityChangedAt": _iso(p.eligibility_changed_at),
        "asOf": p.as_of.isoformat(),
        "lastAssessedAt": _iso(p.last_assessed_at),
        "state": p.workflow_state,
        "assignee": p.assignee.username if p.assignee else None,
        "version": p.version,
        "createdAt": _iso(p.created_at),
        "updatedAt": _iso(p.updated_at),
        "birthDate": p.birth_date,
        "gender": p.gender,
        "mrn": p.mrn,
        "phone": p.phone,
        "generalPractitioner": p.general_practitioner,
        "currentIgg4": (p.facts or {}).get("igg4"),
        "gaps": (p.facts or {}).get("gaps") or [],
        "visitConfirms": (p.facts or {}).get("confirm") or [],
        "reelevatedOn": p.reelevated_on.isoformat() if p.reelevated_on else None,
        "referredBy": p.referred_by,
        "referredVia": p.referred_via,
        "referredAt": _iso(p.referred_at),
        "decisionReason": p.decision_reason,
        "decisionCriterion": p.decision_criterion,
        "decisionNote": p.decision_note,
    }


def assessment_dict(a: AssessmentRecord) -> dict[str, Any]:
    return {
        "id": a.id,
        "status": a.status,
        "asOf": a.as_of.isoformat(),
        "lastAsOf": a.last_as_of.isoformat(),
        "source": a.source,
        "recordedAt": _iso(a.recorded_at),
        "criteria": a.criteria,
        "igg4": a.igg4,
        "dataIssues": a.data_issues,
        "parameters": a.parameters,
        "evidence": a.evidence or {},
    }


def note_dict(n: Note) -> dict[str, Any]:
    return {
        "id": n.id,
        "author": n.author.username if n.author else None,
        "text": n.body,
        "createdAt": _iso(n.created_at),
    }


def audit_dict(e: AuditEvent) -> dict[str, Any]:
    return {"at": _iso(e.at), "actor": e.actor, "action": e.action, "detail": e.detail}
