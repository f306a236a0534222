"""The OpenAPI 3.0 document of the worklist's JSON API (served at ``/api/openapi.json``)."""

from __future__ import annotations

from typing import Any

from cds_service.worklist.filters import list_pattern
from cds_service.worklist.store import ELIGIBILITY, MAX_PER_PAGE, REFERRAL_VIAS, SORTS
from cds_service.worklist.workflow import (
    CRITERION_IDS,
    DECLINE_REASONS,
    MAX_DECISION_NOTE,
    ROLES,
    STATES,
)


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json_response(description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


_ERR = {
    code: _json_response(text, _ref("Error"))
    for code, text in {
        "400": "Bad request",
        "401": "Not logged in",
        "403": "Not allowed for your role",
        "404": "No such patient",
        "409": "Changed by someone else (send the current version)",
        "413": "Too large",
        "422": "Not allowed by the workflow, or invalid content",
    }.items()
}


def _errors(*codes: str) -> dict[str, Any]:
    return {c: _ERR[c] for c in ("400", "401", *codes)}


ROW_ID = {
    "name": "row_id",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
    "description": "The patient's worklist id",
}

LIST_PARAMS: list[dict[str, Any]] = [
    {
        "name": "eligibility",
        "in": "query",
        "description": "comma-separated eligibilities (empty: any)",
        "schema": {"type": "string", "pattern": list_pattern(ELIGIBILITY)},
    },
    {
        "name": "state",
        "in": "query",
        "description": "comma-separated workflow states (empty: any)",
        "schema": {"type": "string", "pattern": list_pattern(STATES)},
    },
    {
        "name": "assignee",
        "in": "query",
        "description": "a user name, `me` or `none`",
        "schema": {"type": "string", "maxLength": 120},
    },
    {"name": "changed_since", "in": "query", "schema": {"type": "string", "format": "date"}},
    {
        "name": "q",
        "in": "query",
        "description": "name or patient id contains",
        "schema": {"type": "string", "maxLength": 200},
    },
    {"name": "sort", "in": "query", "schema": {"type": "string", "enum": list(SORTS)}},
    {"name": "order", "in": "query", "schema": {"type": "string", "enum": ["asc", "desc"]}},
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10**6}},
    {
        "name": "per_page",
        "in": "query",
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
    },
]

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error", "message"],
        "properties": {"error": {"type": "string"}, "message": {"type": "string"}},
    },
    "Patient": {
        "type": "object",
        "required": ["id", "fhirServer", "patientId", "eligibility", "state", "version", "asOf"],
        "properties": {
            "id": {"type": "integer"},
            "fhirServer": {"type": "string"},
            "patientId": {"type": "string"},
            "displayName": {"type": "string", "nullable": True},
            "eligibility": {"type": "string", "enum": list(ELIGIBILITY)},
            "previousEligibility": {"type": "string", "nullable": True},
            "eligibilityChange": {
                "type": "string",
                "nullable": True,
                "enum": [
                    "newly-candidate",
                    "no-longer-eligible",
                    "now-needs-review",
                    "may-be-eligible",
                    None,
                ],
            },
            "eligibilityChangeLabel": {"type": "string", "nullable": True},
            "eligibilityChangedAt": {"type": "string", "format": "date-time", "nullable": True},
            "asOf": {"type": "string", "format": "date"},
            "lastAssessedAt": {"type": "string", "format": "date-time"},
            "state": {"type": "string", "enum": list(STATES)},
            "assignee": {"type": "string", "nullable": True},
            "version": {"type": "integer"},
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "birthDate": {
                "type": "string",
                "nullable": True,
                "description": "as recorded: YYYY, YYYY-MM or YYYY-MM-DD",
            },
            "gender": {"type": "string", "nullable": True},
            "mrn": {
                "type": "string",
                "nullable": True,
                "description": "Patient.identifier of the type MRN_IDENTIFIER names",
            },
            "phone": {"type": "string", "nullable": True},
            "generalPractitioner": {"type": "string", "nullable": True},
            "currentIgg4": {
                "type": "object",
                "nullable": True,
                "description": "the current serum IgG4 beside the re-elevation line",
                "properties": {
                    "value": {"type": "number"},
                    "date": {"type": "string", "format": "date"},
                    "unit": {"type": "string"},
                    "threshold": {"type": "number", "nullable": True},
                    "above": {"type": "boolean"},
                },
            },
            "gaps": {
                "type": "array",
                "description": "real data gaps ({id, kind, ...}), visit confirmations apart",
                "items": {"type": "object"},
            },
            "visitConfirms": {"type": "array", "items": {"type": "string"}},
            "reelevatedOn": {"type": "string", "format": "date", "nullable": True},
            "referredBy": {"type": "string", "nullable": True},
            "referredVia": {"type": "string", "nullable": True, "enum": [*REFERRAL_VIAS, None]},
            "referredAt": {"type": "string", "format": "date-time", "nullable": True},
            "decisionReason": {"type": "string", "nullable": True},
            "decisionCriterion": {"type": "string", "nullable": True},
            "decisionNote": {"type": "string", "nullable": True},
        },
    },
    "PatientPage": {
        "type": "object",
        "required": ["items", "total", "page", "perPage", "pages"],
        "properties": {
            "items": {"type": "array", "items": _ref("Patient")},
            "total": {"type": "integer"},
            "page": {"type": "integer"},
            "perPage": {"type": "integer"},
            "pages": {"type": "integer"},
        },
    },
    "Assessment": {
        "type": "object",
        "required": ["status", "asOf", "criteria"],
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": list(ELIGIBILITY)},
            "asOf": {"type": "string", "format": "date"},
            "lastAsOf": {"type": "string", "format": "date"},
            "source": {"type": "string"},
            "criteria": {"type": "array", "items": {"type": "object"}},
            "igg4": {"type": "object"},
            "dataIssues": {"type": "array", "items": {"type": "string"}},
            "evidence": {
                "type": "object",
                "description": "what each cited resource says ({ref: {type, name, code, value, "
                "unit, date, status}})",
            },
        },
    },
    "Note": {
        "type": "object",
        "required": ["id", "text", "createdAt"],
        "properties": {
            "id": {"type": "integer"},
            "author": {"type": "string", "nullable": True},
            "text": {"type": "string"},
            "createdAt": {"type": "string", "format": "date-time"},
        },
    },
    "AuditEvent": {
        "type": "object",
        "required": ["at", "actor", "action"],
        "properties": {
            "at": {"type": "string", "format": "date-time"},
            "actor": {"type": "string"},
            "action": {"type": "string"},
            "detail": {"type": "object"},
        },
    },
}


def _items(schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items"],
        "properties": {"items": {"type": "array", "items": schema}},
    }


def _body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def openapi_document(server_url: str = "") -> dict[str, Any]:
    patient_ok = _json_response("The patient", _ref("Patient"))
    version = {"type": "integer", "description": "the version you loaded (optimistic lock)"}
    paths: dict[str, Any] = {
        "/api/me": {
            "get": {
                "operationId": "me",
                "summary": "The logged-in user",
                "responses": {
                    "200": _json_response(
                        "The user",
                        {
                            "type": "object",
                            "required": ["username", "role"],
                            "properties": {
                                "username": {"type": "string"},
                                "displayName": {"type": "string", "nullable": True},
                                "role": {"type": "string", "enum": list(ROLES)},
                            },
                        },
                    ),
                    "401": _ERR["401"],
                },
            }
        },
        "/api/patients": {
            "get": {
                "operationId": "listPatients",
                "summary": "The worklist: filter, search, sort, page",
                "parameters": LIST_PARAMS,
                "responses": {
                    "200": _json_response("A page of patients", _ref("PatientPage")),
                    **_errors(),
                },
            }
        },
        "/api/patients/lookup": {
            "get": {
                "operationId": "lookupPatient",
                "summary": "Find a listed patient by FHIR server and patient id",
                "parameters": [
                    {
                        "name": "server",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                    {
                        "name": "patient",
                        "in": "query",
                        "required": True,
                        "schema": {"type": "string"},
                    },
                ],
                "responses": {"200": patient_ok, **_errors("404")},
            }
        },
        "/api/patients/{row_id}": {
            "get": {
                "operationId": "getPatient",
                "summary": "A patient with the current assessment and notes",
                "parameters": [ROW_ID],
                "responses": {"200": patient_ok, **_errors("404")},
            }
        },
        "/api/patients/{row_id}/assessments": {
            "get": {
                "operationId": "listAssessments",
                "summary": "The assessment history, newest first",
                "parameters": [ROW_ID],
                "responses": {
                    "200": _json_response("History", _items(_ref("Assessment"))),
                    **_errors("404"),
                },
            }
        },
        "/api/patients/{row_id}/audit": {
            "get": {
                "operationId": "auditTrail",
                "summary": "Who viewed or changed the patient, newest first",
                "parameters": [ROW_ID],
                "responses": {
                    "200": _json_response("Audit trail", _items(_ref("AuditEvent"))),
                    **_errors("404"),
                },
            }
        },
        "/api/patients/{row_id}/state": {
            "post": {
                "operationId": "changeState",
                "summary": "Move the patient in the workflow (investigators only: not-eligible, "
                "enrolled). Declined needs a reason ('other' also a note); not-eligible the "
                "criterion that rules the patient out.",
                "parameters": [ROW_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["state"],
                        "properties": {
                            "state": {"type": "string", "enum": list(STATES)},
                            "version": version,
                            "reason": {"type": "string", "enum": list(DECLINE_REASONS)},
                            "criterion": {"type": "string", "enum": list(CRITERION_IDS)},
                            "note": {"type": "string", "maxLength": MAX_DECISION_NOTE},
                        },
                    }
                ),
                "responses": {"200": patient_ok, **_errors("403", "404", "409", "422")},
            }
        },
        "/api/patients/{row_id}/assignee": {
            "post": {
                "operationId": "assignPatient",
                "summary": "Assign the patient to a user (null: nobody)",
                "parameters": [ROW_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["assignee"],
                        "properties": {
                            "assignee": {"type": "string", "nullable": True},
                            "version": version,
                        },
                    }
                ),
                "responses": {"200": patient_ok, **_errors("404", "409", "422")},
            }
        },
        "/api/patients/{row_id}/notes": {
            "post": {
                "operationId": "addNote",
                "summary": "Add a note",
                "parameters": [ROW_ID],
                "requestBody": _body(
                    {
                        "type": "object",
                        "required": ["text"],
                        "properties": {
                            "text": {"type": "string", "minLength": 1, "maxLength": 5000}
                        },
                    }
                ),
                "responses": {
                    "201": _json_response("The note", _ref("Note")),
                    **_errors("404", "422"),
                },
            }
        },
        "/api/patients/{row_id}/acknowledge": {
            "post": {
                "operationId": "acknowledgeChange",
                "summary": "Mark the patient's eligibility change as seen",
                "parameters": [ROW_ID],
                "responses": {"200": patient_ok, **_errors("404")},
            }
        },
        "/api/exports/csv": {
            "get": {
                "operationId": "exportCsv",
                "summary": "The filtered list as CSV",
                "parameters": LIST_PARAMS,
                "responses": {
                    "200": {
                        "description": "CSV",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **_errors(),
                },
            }
        },
        "/api/exports/fhir": {
            "get": {
                "operationId": "exportFhir",
                "summary": "The filtered list as a FHIR R4 Bundle of ResearchSubject and Task",
                "parameters": LIST_PARAMS,
                "responses": {
                    "200": {
                        "description": "FHIR Bundle",
                        "content": {"application/fhir+json": {"schema": {"type": "object"}}},
                    },
                    **_errors(),
                },
            }
        },
        "/api/assess": {
            "post": {
                "operationId": "assessBundle",
                "summary": "Assess a patient Bundle with the engine (investigators); add=true lists it",
                "parameters": [
                    {"name": "asOf", "in": "query", "schema": {"type": "string", "format": "date"}},
                    {"name": "add", "in": "query", "schema": {"type": "boolean"}},
                    {
                        "name": "server",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 500},
                    },
                ],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/fhir+json": {"schema": {"type": "object"}},
                        "application/json": {"schema": {"type": "object"}},
                    },
                },
                "responses": {
                    "200": _json_response(
                        "The assessment",
                        {
                            "type": "object",
                            "required": ["assessment"],
                            "properties": {
                                "assessment": {"type": "object"},
                                "patient": {"nullable": True, "allOf": [_ref("Patient")]},
                            },
                        },
                    ),
                    **_errors("403", "413", "422"),
                },
            }
        },
    }
    return {
        "openapi": "3.0.3",
        "info": {
            "title": "igg4-cds recruiter worklist API",
            "version": "1.0.0",
            "description": "Patients flagged for trial NCT05974683, their assessments and the "
            "recruiters' workflow. Writes with a session cookie need the X-CSRFToken header.",
        },
        "servers": [{"url": server_url or "/"}],
        "security": [{"bearerToken": []}, {"sessionCookie": []}],
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearerToken": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "igg4-cds users token NAME",
                },
                "sessionCookie": {"type": "apiKey", "in": "cookie", "name": "session"},
            },
        },
    }
