"""The worklist's JSON API under ``/api/``: the same list and actions as the pages, described by
the OpenAPI document at ``/api/openapi.json``. Auth: the session cookie (with the
``X-CSRFToken`` header on writes) or a personal token (``Authorization: Bearer igg4wl_...``)."""

from __future__ import annotations

from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request, url_for
from werkzeug.exceptions import HTTPException

from cds_service.fhir_url import FhirUrlError, server_key
from cds_service.limits import NUL_MESSAGE, has_nul
from cds_service.worklist import accounts, manual, store
from cds_service.worklist.auth import csrf_ok, current_user, require_roles, setting, user
from cds_service.worklist.db import db
from cds_service.worklist.downloads import csv_download, fhir_download
from cds_service.worklist.filters import filters_to_args, parse_filters
from cds_service.worklist.openapi import openapi_document
from cds_service.worklist.serialize import (
    assessment_dict,
    audit_dict,
    note_dict,
    patient_summary,
)
from cds_service.worklist.workflow import ForbiddenTransition, TransitionError, allowed_targets

bp = Blueprint("worklist_api", __name__, url_prefix="/api")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _json(data: Any, status: int = 200) -> Response:
    return Response(orjson.dumps(data), status=status, mimetype="application/json")


@bp.before_request
def _guard() -> Response | None:
    if current_user() is None:
        response = _json({"error": "unauthorized", "message": "log in or send a bearer token"}, 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="igg4-cds worklist"'
        return response
    if not csrf_ok():
        return _json({"error": "csrf", "message": "missing or invalid X-CSRFToken header"}, 400)
    return None


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    return response


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError) -> Response:
    return _json({"error": exc.code, "message": exc.message}, exc.status)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return _json(
        {
            "error": (exc.name or "error").lower().replace(" ", "-"),
            "message": str(exc.description or ""),
        },
        code,
    )


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ApiError(400, "bad-request", "the body must be a JSON object")
    if has_nul(data):
        raise ApiError(400, "bad-request", NUL_MESSAGE)
    return data


def _version(data: dict[str, Any]) -> int | None:
    version = data.get("version")
    if version is None:
        return None
    if not isinstance(version, int) or isinstance(version, bool):
        raise ApiError(400, "bad-request", "version must be an integer")
    return version


def _patient_or_404(row_id: int) -> Any:
    try:
        return store.get_patient(db(), row_id)
    except store.NotFound:
        raise ApiError(404, "not-found", "no such patient on the worklist") from None


def _filters() -> Any:
    filters, errors = parse_filters(
        request.args, int(setting("WORKLIST_PAGE_SIZE")), empty_ok=False
    )
    if errors:
        raise ApiError(400, "bad-request", "; ".join(errors))
    return filters


@bp.get("/openapi.json")
def openapi() -> Response:
    return _json(openapi_document(request.host_url.rstrip("/")))


@bp.get("/me")
def me() -> Response:
    u = user()
    return _json({"username": u.username, "displayName": u.display_name, "role": u.role})


@bp.get("/patients")
def list_patients() -> Response:
    filters = _filters()
    page = store.list_patients(db(), filters, user())
    store.audit(
        db(), user(), "view-list", detail={"filters": filters_to_args(filters), "api": True}
    )
    return _json(
        {
            "items": [patient_summary(p) for p in page.items],
            "total": page.total,
            "page": page.page,
            "perPage": page.per_page,
            "pages": page.pages,
        }
    )


@bp.get("/patients/lookup")
def lookup() -> Response:
    server, pid = request.args.get("server", ""), request.args.get("patient", "")
    if not server or not pid:
        raise ApiError(400, "bad-request", "server and patient are required")
    p = store.find_patient_row(db(), server, pid)
    if p is None:
        raise ApiError(404, "not-found", "no such patient on the worklist")
    return _json({**patient_summary(p), "url": url_for("worklist.patient", row_id=p.id)})


@bp.get("/patients/<int:row_id>")
def patient(row_id: int) -> Response:
    p = _patient_or_404(row_id)
    s = db()
    store.audit(s, user(), "view", row_id, {"api": True})
    current = store.current_assessment(s, row_id)
    return _json(
        {
            **patient_summary(p),
            "allowedStates": allowed_targets(p.workflow_state, user().role),
            "assessment": assessment_dict(current) if current else None,
            "notes": [note_dict(n) for n in store.notes_of(s, row_id)],
        }
    )


@bp.get("/patients/<int:row_id>/assessments")
def assessments(row_id: int) -> Response:
    _patient_or_404(row_id)
    store.audit(db(), user(), "view-history", row_id, {"api": True})
    return _json({"items": [assessment_dict(a) for a in store.assessments_of(db(), row_id)]})


@bp.get("/patients/<int:row_id>/audit")
def audit_trail(row_id: int) -> Response:
    _patient_or_404(row_id)
    return _json({"items": [audit_dict(e) for e in store.audit_of(db(), row_id)]})


@bp.post("/patients/<int:row_id>/state")
def change_state(row_id: int) -> Response:
    data = _body()
    target = data.get("state")
    if not isinstance(target, str):
        raise ApiError(400, "bad-request", "state must be a string")
    decision = {k: data.get(k) for k in ("reason", "criterion", "note")}
    if any(v is not None and not isinstance(v, str) for v in decision.values()):
        raise ApiError(400, "bad-request", "reason, criterion and note must be strings")
    _patient_or_404(row_id)
    try:
        p = store.change_state(db(), row_id, target, user(), _version(data), **decision)
    except ForbiddenTransition as exc:
        raise ApiError(403, "forbidden", str(exc)) from None
    except TransitionError as exc:
        raise ApiError(422, "invalid-transition", str(exc)) from None
    except store.Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return _json(patient_summary(p))


@bp.post("/patients/<int:row_id>/assignee")
def change_assignee(row_id: int) -> Response:
    data = _body()
    if "assignee" not in data:
        raise ApiError(400, "bad-request", "assignee is required: a user name, or null for nobody")
    name = data.get("assignee")
    if name is not None and not isinstance(name, str):
        raise ApiError(400, "bad-request", "assignee must be a user name or null")
    _patient_or_404(row_id)
    assignee = accounts.get_user(db(), name) if name else None
    if name and (assignee is None or not assignee.active):
        raise ApiError(422, "unknown-user", "no such active user")
    try:
        p = store.assign(db(), row_id, assignee, user(), _version(data))
    except store.Conflict as exc:
        raise ApiError(409, "conflict", str(exc)) from None
    return _json(patient_summary(p))


@bp.post("/patients/<int:row_id>/notes")
def add_note(row_id: int) -> Response:
    text = _body().get("text")
    if not isinstance(text, str):
        raise ApiError(400, "bad-request", "text must be a string")
    _patient_or_404(row_id)
    try:
        note = store.add_note(db(), row_id, user(), text)
    except ValueError as exc:
        raise ApiError(422, "invalid-note", str(exc)) from None
    return _json(note_dict(note), 201)


@bp.post("/patients/<int:row_id>/acknowledge")
def acknowledge(row_id: int) -> Response:
    _patient_or_404(row_id)
    store.acknowledge_change(db(), row_id, user())
    return _json(patient_summary(_patient_or_404(row_id)))


@bp.get("/exports/csv")
def export_csv() -> Response:
    return csv_download(_filters(), via_api=True)


@bp.get("/exports/fhir")
def export_fhir() -> Response:
    return fhir_download(_filters(), via_api=True)


@bp.post("/assess")
@require_roles("investigator")
def assess() -> Response:
    """Assess a posted patient Bundle; ``?add=true`` also lists the patient."""
    if (request.content_length or 0) > int(setting("WORKLIST_MAX_UPLOAD_BYTES")):
        raise ApiError(413, "too-large", "the Bundle is too large")
    try:
        day = manual.parse_as_of(request.args.get("asOf"))
        bundle = manual.parse_bundle(request.get_data())
        result = manual.assess_upload(current_app, bundle, day)
    except manual.UploadError as exc:
        code = {400: "bad-request", 413: "too-large"}.get(exc.status, "invalid-bundle")
        raise ApiError(exc.status, code, str(exc)) from None
    added = None
    if request.args.get("add", "").lower() in ("1", "true", "yes"):
        try:
            server = server_key(request.args.get("server") or "") or manual.MANUAL_SERVER
        except FhirUrlError as exc:
            raise ApiError(400, "bad-request", f"server is not usable: {exc}") from None
        row_id = store.record_assessment(
            db(),
            fhir_server=server,
            assessment=result,
            source="manual",
            display_name=manual.display_name(bundle),
            handoff=manual.bundle_handoff(current_app, bundle, result),
        )
        store.audit(db(), user(), "manual-add", row_id, {"api": True})
        added = patient_summary(store.get_patient(db(), row_id))
    else:
        store.audit(db(), user(), "manual-assessment", detail={"status": result["status"]})
    return _json({"assessment": result, "patient": added})
