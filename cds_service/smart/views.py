"""The SMART on FHIR app's blueprint: launch, callback, the patient page and the referral.

GET  /smart/                     standalone start: pick the EHR (allow-listed FHIR servers)
GET  /smart/launch?iss=&launch=  EHR launch (with ``launch``) or standalone launch (without)
GET  /smart/callback             the authorization server's redirect: code -> token
GET  /smart/app/<id>             the patient's assessment, read with the clinician's token
POST /smart/app/<id>/refer       refer to the study team (worklist; Task when allowed)
POST /smart/app/<id>/end         end the session now
"""

from __future__ import annotations

import hmac
import logging
import re
import secrets
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    Response,
    current_app,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import lazy_gettext as _l
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from cds_service.eligibility import assess_resources
from cds_service.i18n import web as i18n
from cds_service.smart import oauth
from cds_service.smart.discovery import discover
from cds_service.smart.errors import SmartError, launch_again
from cds_service.smart.missing import missing_data
from cds_service.smart.record import read_record
from cds_service.smart.referral import (
    TaskOutcome,
    may_write_task,
    referral_task,
    write_task,
)
from cds_service.smart.scopes import Grants
from cds_service.smart.sessions import COOKIE_NAME, Session
from cds_service.smart.state import SmartState, smart_state
from cds_service.worklist.chart import igg4_chart
from cds_service.worklist.manual import display_name
from fhir_mappings.summary import MrnRule, handoff

log = logging.getLogger(__name__)
bp = Blueprint(
    "smart",
    __name__,
    url_prefix="/smart",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)

_FHIR_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
MAX_PENDING = 20  # launches in progress per browser
MAX_APPS = 10  # patients open per browser
_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "base-uri 'none'"
)


# ---- helpers -----------------------------------------------------------------------------------


def _load(state: SmartState) -> Session | None:
    return state.sessions.load(request.cookies.get(COOKIE_NAME))


def _with_cookie(response: BaseResponse, state: SmartState, session: Session) -> BaseResponse:
    state.sessions.save(session)
    lifetime = int(session.expires_at() - state.now()) + 1
    conf = state.settings
    response.set_cookie(
        COOKIE_NAME,
        session.cookie_value,
        max_age=max(lifetime, 0),
        path=bp.url_prefix or "/",
        secure=bool(conf["SMART_COOKIE_SECURE"]),
        httponly=True,
        samesite=str(conf["SMART_COOKIE_SAMESITE"]),
        # An EHR that frames the app from another site: browsers that block third-party cookies
        # still keep a Partitioned (CHIPS) one, for this app under that EHR only.
        partitioned=conf["SMART_COOKIE_SAMESITE"] == "None",
    )
    return response


def _redirect_uri(state: SmartState) -> str:
    configured = state.settings["SMART_REDIRECT_URI"]
    if configured:
        return str(configured)
    public = current_app.config.get("PUBLIC_BASE_URL")
    if public:
        return f"{str(public).rstrip('/')}{url_for('smart.callback')}"
    return url_for("smart.callback", _external=True)


def _scope(state: SmartState, endpoints: Any) -> tuple[str, str]:
    wanted = state.settings["SMART_SCOPE_VERSION"]
    version = ("v2" if endpoints.supports_v2 else "v1") if wanted == "auto" else wanted
    scope = str(state.settings["SMART_SCOPES_V2" if version == "v2" else "SMART_SCOPES_V1"])
    if "sso-openid-connect" in endpoints.capabilities:
        # who the clinician is (the id_token's fhirUser), so that a referral names them
        scope = " ".join(dict.fromkeys(["openid", "fhirUser", *scope.split()]))
    return version, scope


def _as_of() -> date:
    pinned = current_app.config.get("IGG4_AS_OF")
    return pinned if isinstance(pinned, date) else datetime.now(UTC).date()


def _open_app(state: SmartState, app_id: str) -> tuple[Session, dict[str, Any]]:
    session = _load(state)
    ctx = session.apps.get(app_id) if session is not None else None
    if session is None or ctx is None:
        raise SmartError(
            "session-ended",
            401,
            _l("Your session has ended"),
            launch_again(
                _l(
                    "The app's access to the EHR has expired (sessions end with the EHR's access "
                    "token), or this browser never opened this patient."
                )
            ),
        )
    return session, ctx


@bp.context_processor
def _template_globals() -> dict[str, Any]:
    return {"has_worklist_css": "worklist" in current_app.blueprints}


# ---- routes ------------------------------------------------------------------------------------


@bp.get("/")
def start() -> str:
    state = smart_state()
    return render_template("smart/start.html", servers=state.settings["SMART_ISS_ALLOWLIST"])


@bp.get("/launch")
def launch() -> BaseResponse:
    state = smart_state()
    iss = (request.args.get("iss") or "").strip()
    launch_token = request.args.get("launch") or None
    if not iss:
        raise SmartError(
            "no-iss",
            400,
            _l("The launch names no EHR"),
            _l(
                "The app must be launched from the EHR (which names its FHIR server as iss), or "
                "started from this app's start page."
            ),
        )
    parts = urlsplit(iss)
    if not state.allowlist.allows(iss) or parts.query or parts.fragment or len(iss) > 500:
        raise SmartError(
            "iss-not-allowed",
            400,
            _l("This EHR is not configured for the app"),
            _l(
                "The FHIR server that launched the app is not on this deployment's allow-list, so "
                "the app will not contact it. Ask the study team to add it."
            ),
        )
    if launch_token is not None and len(launch_token) > 1000:
        raise SmartError("bad-launch", 400, _l("The launch is invalid"), launch_again(""))
    http = state.http()
    with http:
        endpoints = discover(iss, http)
        version, scope = _scope(state, endpoints)
        authz = oauth.start(
            endpoints,
            iss=iss,
            client_id=str(state.settings["SMART_CLIENT_ID"]),
            client_secret=state.settings["SMART_CLIENT_SECRET"],
            redirect_uri=_redirect_uri(state),
            scope=scope,
            launch=launch_token,
            http=http,
        )
    session = _load(state) or state.sessions.new()
    now = state.now()
    if len(session.pending) >= MAX_PENDING:
        oldest = min(session.pending, key=lambda k: float(session.pending[k]["expires_at"]))
        del session.pending[oldest]
    session.pending[authz.state] = {
        "client": authz.client_state,
        "iss": iss,
        "mode": "ehr" if launch_token else "standalone",
        "version": version,
        "discovery": endpoints.source,
        "expires_at": now + int(state.settings["SMART_LAUNCH_TIMEOUT_S"]),
    }
    log.info(
        "smart: launch (%s, %s scopes, via %s)",
        session.pending[authz.state]["mode"],
        version,
        endpoints.source,
    )
    return _with_cookie(redirect(authz.url, 302), state, session)


@bp.get("/callback")
def callback() -> BaseResponse:
    state = smart_state()
    args = {k: v for k, v in request.args.items() if isinstance(v, str)}
    session = _load(state)
    if session is None:
        raise SmartError(
            "no-session",
            400,
            _l("Sign-in could not be matched to a launch"),
            launch_again(
                _l(
                    "This browser has no launch of the app in progress: it may have taken longer "
                    "than allowed, or the browser blocks the app's cookie."
                )
            ),
        )
    pending = session.pending.pop(args.get("state") or "", None)
    if pending is None:
        raise SmartError(
            "state-mismatch",
            400,
            _l("Sign-in refused"),
            launch_again(
                _l(
                    "The sign-in response does not belong to a launch made in this browser (its "
                    "state is unknown or was already used), so it was not accepted."
                )
            ),
        )
    state.sessions.save(session)  # the state is single-use, whatever happens next
    denied = oauth.authorization_error(args)
    if denied is not None:
        raise denied
    http = state.http()
    with http:
        grant = oauth.exchange(pending["client"], args, http)
    if not grant.patient or not _FHIR_ID.match(grant.patient):
        raise SmartError(
            "no-patient-context",
            400,
            _l("No patient selected"),
            launch_again(_l("The EHR did not say which patient the app is for.")),
        )
    now = state.now()
    expires = oauth.token_expiry(
        grant,
        now=now,
        default_s=int(state.settings["SMART_TOKEN_LIFETIME_DEFAULT_S"]),
        max_s=int(state.settings["SMART_MAX_SESSION_S"]),
    )
    if expires <= now:
        raise SmartError("token-expired", 401, _l("Your session has ended"), launch_again(""))
    session = state.sessions.rotate(session)  # a new id after sign-in: no session fixation
    if len(session.apps) >= MAX_APPS:
        oldest = min(session.apps, key=lambda k: float(session.apps[k]["expires_at"]))
        del session.apps[oldest]
    app_id = secrets.token_urlsafe(16)
    session.apps[app_id] = {
        "iss": pending["iss"],
        "token": grant.access_token,
        "scope": grant.scope,
        "patient": grant.patient,
        "version": pending["version"],
        "mode": pending["mode"],
        "expires_at": expires,
        "csrf": secrets.token_urlsafe(24),
        "banner": bool(grant.context.get("need_patient_banner", True)),
        "clinician": grant.clinician,  # the id_token's name or fhirUser, when the EHR said
    }
    log.info("smart: signed in (%s launch)", pending["mode"])
    response = redirect(url_for("smart.page", app_id=app_id), 303)
    return _with_cookie(response, state, session)


@bp.get("/app/<app_id>")
def page(app_id: str) -> BaseResponse:
    state = smart_state()
    session, ctx = _open_app(state, app_id)
    grants = Grants.parse(ctx["scope"])
    record = read_record(
        ctx["iss"],
        ctx["patient"],
        ctx["token"],
        grants,
        allowlist=state.allowlist,
        limits=state.fhir_limits,
    )
    as_of = _as_of()
    assessment = assess_resources(
        record.resources,
        as_of=as_of,
        params=state.params(),
        patient_ref=f"Patient/{ctx['patient']}",
        unavailable=record.unavailable,
    ).to_dict()
    name = display_name({"entry": [{"resource": record.patient}]})
    ctx["assessment"] = assessment
    ctx["name"] = name
    rule = MrnRule.from_config(current_app.config.get("MRN_IDENTIFIER"))
    ctx["handoff"] = handoff(record.resources, assessment, rule)  # for the worklist, on Refer
    referral = ctx.get("referral")
    html = render_template(
        "smart/page.html",
        app_id=app_id,
        ctx=ctx,
        name=name,
        patient=record.patient,
        assessment=assessment,
        chart=igg4_chart(assessment.get("igg4"), tr=i18n.tr()),
        chart_compact=igg4_chart(assessment.get("igg4"), compact=True, tr=i18n.tr()),
        evidence=ctx["handoff"].get("evidence") or {},
        missing=missing_data(assessment, record.unavailable, i18n.tr()),
        unavailable=record.unavailable,
        unavailable_text={t: i18n.tr()(why) for t, why in record.unavailable.items()},
        granted=grants.raw,
        may_write_task=may_write_task(grants),
        referral=referral,
        expires_at=datetime.fromtimestamp(float(ctx["expires_at"]), UTC),
    )
    return _with_cookie(Response(html, 200, mimetype="text/html"), state, session)


@bp.post("/app/<app_id>/refer")
def refer(app_id: str) -> BaseResponse:
    state = smart_state()
    session, ctx = _open_app(state, app_id)
    sent = request.form.get("csrf_token") or ""
    if not hmac.compare_digest(sent.encode(), str(ctx["csrf"]).encode()):
        raise SmartError(
            "csrf",
            400,
            _l("The form has expired"),
            _l("Reload the page and press the button again."),
        )
    assessment = ctx.get("assessment")
    if not isinstance(assessment, dict):
        return redirect(url_for("smart.page", app_id=app_id), 303)
    grants = Grants.parse(ctx["scope"])
    outcome = TaskOutcome(False, None, _l("this app was not granted permission to create Tasks"))
    if may_write_task(grants):
        task = referral_task(
            patient_id=ctx["patient"],
            assessment=assessment,
            authored=datetime.now(UTC),
            owner=state.task_owner(current_app.config),
            trial_url=str(current_app.config.get("TRIAL_URL") or ""),
        )
        http = state.http()
        with http:
            outcome = write_task(ctx["iss"], ctx["token"], task, http)
    row = state.record_referral(
        current_app,
        ctx["iss"],
        assessment,
        ctx.get("name"),
        outcome,
        ctx.get("handoff"),
        ctx.get("clinician"),
    )
    ctx["referral"] = {
        "at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "worklist_row": row,
        "task": outcome.reference,
        "task_written": outcome.written,
        "task_problem": str(outcome.problem) if outcome.problem else None,  # kept in the session
    }
    log.info("smart: referral (task written: %s)", outcome.written)
    response = redirect(url_for("smart.page", app_id=app_id), 303)
    return _with_cookie(response, state, session)


@bp.post("/app/<app_id>/end")
def end(app_id: str) -> BaseResponse:
    state = smart_state()
    session, ctx = _open_app(state, app_id)
    if not hmac.compare_digest(
        (request.form.get("csrf_token") or "").encode(), str(ctx["csrf"]).encode()
    ):
        raise SmartError(
            "csrf", 400, _l("The form has expired"), _l("Reload the page and try again.")
        )
    del session.apps[app_id]
    html = render_template("smart/ended.html")
    return _with_cookie(Response(html, 200, mimetype="text/html"), state, session)


# ---- errors and headers ------------------------------------------------------------------------


def _error_page(kind: str, status: int, title: Any, message: Any) -> Response:
    html = render_template("smart/error.html", kind=kind, title=title, message=message)
    return Response(html, status, mimetype="text/html")


@bp.errorhandler(SmartError)
def _smart_error(exc: SmartError) -> Response:
    log.info("smart: %s (HTTP %d)", exc.kind, exc.status)  # the kind only: never data
    return _error_page(exc.kind, exc.status, exc.title, exc.message)


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException) -> Response:
    code = exc.code or 500
    return _error_page(f"http-{code}", code, i18n.http_title(code), i18n.http_detail(exc))


@bp.errorhandler(Exception)
def _unexpected(exc: Exception) -> Response:
    log.error("smart: unhandled %s", type(exc).__name__)  # the type only: messages may hold data
    return _error_page(
        "internal-error",
        500,
        _l("Something went wrong"),
        _l(
            "The app failed unexpectedly. Nothing was changed in the EHR. Try again, or tell the "
            "study team."
        ),
    )


@bp.after_request
def _headers(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers.setdefault("Content-Security-Policy", _CSP)
    return response
