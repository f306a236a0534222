"""HTTP of the CDS service: discovery, the patient-view hook and feedback (CDS Hooks 2.0)."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

import orjson
from flask import Blueprint, Response, current_app, request
from sqlalchemy import text

from cds_service import metrics
from cds_service.eligibility import assess_resources
from cds_service.fhir_url import FhirUrlError, normalize_fhir_server
from cds_service.hooks import HOOK, SERVICE_ID
from cds_service.hooks.cards import (
    CardContext,
    fingerprint,
    incomplete_card,
    screening_card,
)
from cds_service.hooks.gather import gather
from cds_service.hooks.narrowing import observation_plan
from cds_service.hooks.referral import accepted_referrals
from cds_service.hooks.state import HookState, get_state, notify_referral
from cds_service.hooks.suppression import (
    FeedbackError,
    is_suppressed,
    notify_feedback_listeners,
    parse_feedback,
    store_feedback,
)
from cds_service.hooks.templates import FHIR_ID
from cds_service.hooks.writes import retryable
from cds_service.i18n.locales import HTML_LANG, negotiate, parse_accept_language
from cds_service.limits import NUL_MESSAGE, has_nul, prefetch_resource_count, too_many
from cds_service.security import JwtError
from fhir_mappings.summary import handoff
from fhir_mappings.valuesets import default_valuesets

log = logging.getLogger("igg4_cds.hooks")

bp = Blueprint("cds_hooks", __name__)

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")


class RequestProblem(Exception):
    def __init__(self, status: int, error: str, message: str) -> None:
        super().__init__(message)
        self.status, self.error, self.message = status, error, message


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status=status, mimetype="application/json", headers=headers)


def problem(
    status: int, error: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    return json_response({"error": error, "message": message}, status, headers)


@bp.errorhandler(RequestProblem)
def _on_problem(exc: RequestProblem) -> Response:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
    return problem(exc.status, exc.error, exc.message, headers)


@bp.after_request
def _cors(response: Response) -> Response:
    origins = current_app.config["CORS_ORIGINS"]
    origin = request.headers.get("Origin")
    if origins == "*":
        response.headers["Access-Control-Allow-Origin"] = "*"
    elif origin and origin in origins:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers.add("Vary", "Origin")
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Max-Age"] = "600"
    return response


def service_definition(state: HookState) -> dict[str, Any]:
    return {
        "hook": HOOK,
        "id": SERVICE_ID,
        "title": "IgG4-RD trial NCT05974683 screening",
        "description": "Finds patients with IgG4-related disease whose serum IgG4 re-elevates "
        "during maintenance remission, candidates for trial NCT05974683 (low-dose mycophenolate mofetil "
        "vs placebo), with every inclusion and exclusion criterion explained.",
        "prefetch": dict(state.templates),
        "usageRequirements": "Send fhirServer and fhirAuthorization (read access to the patient's "
        "Patient, Observation, Condition, MedicationRequest, MedicationStatement, Procedure and "
        "ResearchSubject) unless every prefetch key is satisfied.",
    }


@bp.get("/cds-services")
def discovery() -> Response:
    return json_response({"services": [service_definition(get_state(current_app))]})


def _authenticate(state: HookState) -> None:
    if state.verifier is None:
        return
    configured = state.config["JWT_AUDIENCE"]
    if configured:
        audiences = [configured] if isinstance(configured, str) else list(configured)
    else:  # never the Host header: create_app requires one of the two (check_jwt_audience)
        audiences = [str(state.config["PUBLIC_BASE_URL"]).rstrip("/") + request.path]
    try:
        state.verifier.verify(request.headers.get("Authorization"), audiences)
    except JwtError as exc:
        raise RequestProblem(401, "unauthorized", str(exc)) from exc


def _body() -> dict[str, Any]:
    try:
        body = orjson.loads(request.get_data(cache=False))
    except orjson.JSONDecodeError as exc:
        raise RequestProblem(400, "bad-request", "body is not valid JSON") from exc
    if not isinstance(body, dict):
        raise RequestProblem(400, "bad-request", "body must be a JSON object")
    return body


def _check_service(service_id: str) -> None:
    if service_id != SERVICE_ID:
        raise RequestProblem(404, "not-found", "no such CDS service")


def _as_of(state: HookState) -> date:
    pinned = state.config["IGG4_AS_OF"]
    return pinned if isinstance(pinned, date) else datetime.now(UTC).date()


@bp.post("/cds-services/<service_id>")
def call_hook(service_id: str) -> Response:
    started = time.perf_counter()
    hook_instance = "-"
    status_code = 500
    note = ""
    try:
        _check_service(service_id)
        state = get_state(current_app)
        _authenticate(state)
        body = _body()
        raw_instance = body.get("hookInstance")
        if isinstance(raw_instance, str) and _UUID.fullmatch(raw_instance):
            hook_instance = raw_instance  # logged only when it is a UUID: never free text
        response, note = _run_hook(state, body)
        status_code = response.status_code
        return response
    except RequestProblem as exc:
        status_code = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.HOOK_SECONDS.labels(_outcome(status_code, note)).observe(elapsed)
        log.info(
            "hook hookInstance=%s http=%s %s ms=%.1f",
            hook_instance,
            status_code,
            note,
            elapsed * 1000,
        )


def _outcome(status: int, note: str) -> str:
    """The metric label of one hook call (a fixed, small set: never data)."""
    if status == 200:
        if "fhir-error=" in note or "engine-error=" in note:
            return "incomplete"
        return "card" if " cards=0" not in note else "no-card"
    return {401: "unauthorized", 404: "not-found", 412: "precondition-failed"}.get(
        status, "bad-request" if 400 <= status < 500 else "error"
    )


def _validated(body: dict[str, Any]) -> tuple[str, str | None, str | None, str | None]:
    if body.get("hook") != HOOK:
        raise RequestProblem(400, "bad-request", f"this service answers the '{HOOK}' hook only")
    if not isinstance(body.get("hookInstance"), str):
        raise RequestProblem(400, "bad-request", "hookInstance is required")
    context = body.get("context")
    if not isinstance(context, dict):
        raise RequestProblem(400, "bad-request", "context is required")
    patient_id = context.get("patientId")
    if not isinstance(patient_id, str) or not FHIR_ID.fullmatch(patient_id):
        raise RequestProblem(400, "bad-request", "context.patientId must be a FHIR id")
    user_id = context.get("userId") if isinstance(context.get("userId"), str) else None
    server = _fhir_server(body.get("fhirServer"))
    auth = body.get("fhirAuthorization")
    token = None
    if auth is not None:
        if not isinstance(auth, dict) or not server:
            raise RequestProblem(
                400, "bad-request", "fhirAuthorization must be an object and needs fhirServer"
            )
        if str(auth.get("token_type", "Bearer")).lower() != "bearer" or not isinstance(
            auth.get("access_token"), str
        ):
            raise RequestProblem(400, "bad-request", "fhirAuthorization must carry a Bearer token")
        token = auth["access_token"]
    prefetch = body.get("prefetch")
    if prefetch is not None and not isinstance(prefetch, dict):
        raise RequestProblem(400, "bad-request", "prefetch must be an object")
    return patient_id, user_id, server, token


def _check_prefetch_size(state: HookState, prefetch: Any) -> None:
    limit = int(state.config["MAX_RESOURCES_PER_PATIENT"])
    if isinstance(prefetch, dict) and prefetch_resource_count(prefetch) > limit:
        message = too_many("resources in the prefetch", limit, "MAX_RESOURCES_PER_PATIENT")
        raise RequestProblem(413, "too-large", message)


def _fhir_server(raw: Any) -> str | None:
    """fhirServer in its one spelling (it keys suppression and the worklist, and is checked
    against the allow-list in that form); None when absent or blank."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if not isinstance(raw, str):
        raise RequestProblem(400, "bad-request", "fhirServer must be a URL")
    try:
        return normalize_fhir_server(raw)
    except FhirUrlError as exc:
        raise RequestProblem(400, "bad-request", f"fhirServer is not usable: {exc}") from exc


def _run_hook(state: HookState, body: dict[str, Any]) -> tuple[Response, str]:
    patient_id, user_id, server, token = _validated(body)
    _check_prefetch_size(state, body.get("prefetch"))
    config = state.config
    plan = None
    if config["PREFETCH_OBSERVATIONS_BY_CODE"] and config["FHIR_NARROW_BY_DATE"]:
        plan = observation_plan(patient_id, _as_of(state), state.params, default_valuesets())
    got = gather(
        patient_id=patient_id,
        prefetch=body.get("prefetch"),
        templates=state.templates,
        fhir_server=server,
        access_token=token,
        allowlist=state.allowlist,
        limits=state.limits,
        session=state.http,
        observation_plan=plan,
    )
    note = f"prefetched={got.prefetched} fetched={got.fetched} rejected={len(got.rejected)}"
    if got.precondition:
        return problem(412, "precondition-failed", got.precondition), note
    if got.failure is not None:
        note += f" fhir-error={got.failure.kind} unavailable={len(got.unavailable)}"
        if config["FETCH_FAILURE_RESPONSE"] == "412":
            return problem(412, "precondition-failed", f"FHIR server: {got.failure.kind}"), note
        if not got.resources:  # the Patient itself could not be read: nothing to assess
            card = incomplete_card(
                str(uuid.uuid4()), got.failure.kind, config["TRIAL_URL"], _locale(config)
            )
            return _in_language(json_response({"cards": [card]}), config), note
    try:
        assessment = assess_resources(
            got.resources,
            as_of=_as_of(state),
            params=state.params,
            patient_ref=f"Patient/{patient_id}",
            unavailable=got.unavailable,
        ).to_dict()
    except Exception as exc:  # whatever the FHIR data holds, never a 500
        note += f" engine-error={type(exc).__name__}"
        card = incomplete_card(str(uuid.uuid4()), "engine", config["TRIAL_URL"], _locale(config))
        return _in_language(json_response({"cards": [card]}), config), note
    extra = handoff(got.resources, assessment, state.mrn_rule)  # for the worklist's rows
    # The worklist hand-off and the card record are stored by the writer thread (writes.py);
    # the hook waits for them unless the database is unavailable (then they wait in the outbox).
    state.writes.hand_off(server or "", assessment, "hook", extra)
    cards = _cards(state, assessment, patient_id, user_id, server, got.unread)
    if not state.writes.wait_mine():
        note += " writes=deferred"
    note += f" cards={len(cards)}"
    return _in_language(json_response({"cards": cards}), config), note


def _locale(config: Mapping[str, Any]) -> str:
    """The cards' language: the request's Accept-Language, else the site's DEFAULT_LOCALE."""
    asked = negotiate(parse_accept_language(request.headers.get("Accept-Language")))
    return asked or str(config["DEFAULT_LOCALE"])


def _in_language(response: Response, config: Mapping[str, Any]) -> Response:
    response.headers["Content-Language"] = HTML_LANG[_locale(config)]
    response.vary.add("Accept-Language")
    return response


def _cards(
    state: HookState,
    assessment: dict[str, Any],
    patient_id: str,
    user_id: str | None,
    server: str | None,
    unread: dict[str, str],
) -> list[dict[str, Any]]:
    config = state.config
    if assessment["status"] == "ineligible" and not config["SHOW_INELIGIBLE_CARD"]:
        return []
    now = datetime.now(UTC)
    mark = fingerprint(assessment)
    ctx = CardContext(
        card_uuid=str(uuid.uuid4()),
        suggestion_uuid=str(uuid.uuid4()),
        patient_id=patient_id,
        fhir_server=server,
        user_id=user_id,
        worklist_base_url=config["WORKLIST_BASE_URL"]
        or config["PUBLIC_BASE_URL"]
        or request.host_url,
        smart_launch_url=config["SMART_LAUNCH_URL"],
        trial_url=config["TRIAL_URL"],
        study_team=config["STUDY_TEAM_REFERENCE"],
        now=now,
        unread=unread,
        locale=_locale(config),
    )
    if _suppressed(state, server or "", patient_id, mark, now, user_id):
        return []
    card = screening_card(assessment, ctx)
    state.writes.card(
        card_uuid=ctx.card_uuid,
        service_id=SERVICE_ID,
        fhir_server=server or "",
        patient_id=patient_id,
        status=assessment["status"],
        fingerprint=mark,
        now=now,
        user_id=user_id,
    )
    metrics.CARDS.labels(assessment["status"]).inc()
    return [card]


def _suppressed(
    state: HookState,
    fhir_server: str,
    patient_id: str,
    mark: str,
    now: datetime,
    user_id: str | None,
) -> bool:
    """Whether the clinician dismissed this card; False (the card is shown) when the database
    cannot tell: a card shown once more beats a candidate hidden by an outage."""
    if not state.health.available():
        return False
    try:
        with state.sessions() as session:
            hidden = is_suppressed(
                session,
                fhir_server=fhir_server,
                patient_id=patient_id,
                fingerprint=mark,
                now=now,
                days=int(state.config["OVERRIDE_SUPPRESS_DAYS"]),
                user_id=user_id,
                scope=state.config["OVERRIDE_SUPPRESS_SCOPE"],
            )
    except Exception as exc:
        if not retryable(exc):
            raise
        state.health.failed("suppression")
        return False
    state.health.ok()
    return hidden


@bp.post("/cds-services/<service_id>/feedback")
def feedback(service_id: str) -> Response:
    _check_service(service_id)
    state = get_state(current_app)
    _authenticate(state)
    body = _body()
    if has_nul(body):  # stored as sent: PostgreSQL cannot hold a NUL, SQLite would keep it
        raise RequestProblem(400, "bad-request", NUL_MESSAGE)
    limit = int(state.config["FEEDBACK_MAX_ITEMS"])
    if isinstance(body.get("feedback"), list) and len(body["feedback"]) > limit:
        raise RequestProblem(
            413, "too-large", too_many("feedback items", limit, "FEEDBACK_MAX_ITEMS")
        )
    try:
        items = parse_feedback(body)
    except FeedbackError as exc:
        raise RequestProblem(400, "bad-request", str(exc)) from exc
    received = datetime.now(UTC)  # suppression runs from here, never from outcomeTimestamp
    if state.health.available():
        state.writes.flush(timeout=state.writes.wait_s)  # cards this worker issued are stored
    with state.sessions() as session, session.begin():
        stored = store_feedback(session, items, SERVICE_ID, received)
        referred = accepted_referrals(session, items)
    for server, patient_id, user_id in referred:  # the clinician's referral reaches the worklist
        notify_referral(current_app._get_current_object(), server, patient_id, user_id, received)  # type: ignore[attr-defined]
    notify_feedback_listeners(current_app._get_current_object(), stored)  # type: ignore[attr-defined]
    for item in items:
        metrics.FEEDBACK.labels(item.outcome).inc()
    log.info("feedback items=%d", len(stored))
    return json_response({})


health_bp = Blueprint("health", __name__)


@health_bp.get("/healthz")
def healthz() -> Response:
    """Liveness: the process answers. Never depends on the database (a restart would not help)."""
    return json_response({"status": "ok"})


@health_bp.get("/readyz")
def readyz() -> Response:
    """Readiness: the database answers (the hook still works without it, degraded: no
    suppression, worklist hand-offs and card records wait in the outbox)."""
    state = get_state(current_app)
    try:
        with state.sessions() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        if not retryable(exc):
            raise
        state.health.failed("readyz")
        return json_response(
            {
                "status": "degraded",
                "database": "unavailable",
                "pendingWrites": state.writes.pending(),
            },
            503,
        )
    state.health.ok()
    return json_response(
        {"status": "ready", "database": "ok", "pendingWrites": state.writes.pending()}
    )
