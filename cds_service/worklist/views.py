"""The worklist's pages (server-rendered): login, the list, the patient page, manual assessment,
exports and user management. Every route except login needs a logged-in user."""

from __future__ import annotations

from typing import Any

import orjson
from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from sqlalchemy import select
from werkzeug.exceptions import HTTPException
from werkzeug.wrappers import Response as BaseResponse

from cds_service.fhir_url import FhirUrlError, server_key
from cds_service.i18n import web as i18n
from cds_service.smart.missing import needed_texts
from cds_service.worklist import accounts, manual, oidc, rowfacts, store
from cds_service.worklist.auth import (
    Throttled,
    csrf_ok,
    current_user,
    end_session,
    login_with_password,
    require_roles,
    safe_next,
    setting,
    start_session,
    user,
)
from cds_service.worklist.chart import igg4_chart
from cds_service.worklist.db import db
from cds_service.worklist.downloads import csv_download, fhir_download
from cds_service.worklist.filters import filters_to_args, parse_filters
from cds_service.worklist.models import User
from cds_service.worklist.workflow import (
    CRITERION_IDS,
    DECLINE_REASONS,
    ROLES,
    STATES,
    ForbiddenTransition,
    TransitionError,
    allowed_targets,
)

bp = Blueprint(
    "worklist",
    __name__,
    url_prefix="/worklist",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static",
)
PUBLIC_ENDPOINTS = frozenset(
    {"worklist.login", "worklist.login_oidc", "worklist.oidc_callback", "worklist.static"}
)
Reply = BaseResponse | str | tuple[str, int]


@bp.before_request
def _guard() -> BaseResponse | None:
    if request.endpoint not in PUBLIC_ENDPOINTS and current_user() is None:
        return redirect(url_for("worklist.login", next=request.full_path.rstrip("?")))
    if not csrf_ok():
        abort(400, _l("The form has expired or did not come from this site; reload and try again."))
    return None


@bp.after_request
def _headers(response: BaseResponse) -> BaseResponse:
    if request.endpoint != "worklist.static":
        response.headers["Cache-Control"] = "no-store"  # patient data: never cached
    response.headers.setdefault(
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
    )
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    return response


@bp.errorhandler(HTTPException)
def _html_error(exc: HTTPException) -> tuple[str, int]:
    """Worklist pages get an HTML error page (the API blueprint answers JSON)."""
    code = exc.code or 500
    page = render_template(
        "worklist/error.html",
        code=code,
        name=i18n.http_title(code),
        description=i18n.http_detail(exc),
    )
    return page, code


@bp.app_template_global()
def state_label(state: str) -> str:
    return i18n.message(f"state.{state}", default=state)


@bp.app_template_global()
def change_label(change: str | None) -> str:
    return i18n.message(f"change.{change}", default="") if change else ""


# --- login ------------------------------------------------------------------------------------


def _login_page(target: str, error: str | None = None, status: int = 200) -> tuple[str, int]:
    page = render_template(
        "worklist/login.html", mode=setting("WORKLIST_AUTH"), next=target, error=error
    )
    return page, status


@bp.route("/login", methods=["GET", "POST"])
def login() -> Reply:
    target = safe_next(request.values.get("next"), url_for("worklist.index"))
    if request.method == "GET":
        return redirect(target) if current_user() is not None else _login_page(target)
    if setting("WORKLIST_AUTH") != "local":
        abort(404)
    try:
        u = login_with_password(request.form.get("username", ""), request.form.get("password", ""))
    except Throttled:
        minutes = -(-int(setting("WORKLIST_LOGIN_WINDOW_S")) // 60)
        return _login_page(
            target,
            ngettext(
                "Too many failed attempts. Wait %(num)d minute and try again.",
                "Too many failed attempts. Wait %(num)d minutes and try again.",
                minutes,
            ),
            429,
        )
    if u is None:
        return _login_page(target, _("Wrong user name or password."), 401)
    store.audit(db(), u, "login")
    return redirect(target)


@bp.route("/login/oidc")
def login_oidc() -> BaseResponse:
    if setting("WORKLIST_AUTH") != "oidc":
        abort(404)
    target = safe_next(request.args.get("next"), url_for("worklist.index"))
    session["wl_next"] = target
    response: BaseResponse = oidc.client().authorize_redirect(
        url_for("worklist.oidc_callback", _external=True)
    )
    return response


@bp.route("/oidc/callback")
def oidc_callback() -> Reply:
    if setting("WORKLIST_AUTH") != "oidc":
        abort(404)
    target = safe_next(session.get("wl_next"), url_for("worklist.index"))
    try:
        token = oidc.client().authorize_access_token()
    except Exception:  # authlib raises several error types; none is shown to the user
        current_app.logger.warning("worklist: OIDC login failed")
        return _login_page(target, _("Login with the identity provider failed."), 401)
    claims = dict(token.get("userinfo") or {})
    u = oidc.user_from_claims(db(), claims, setting("WORKLIST_OIDC"))
    if u is None:
        return _login_page(target, _("Your account has no access to the worklist."), 403)
    start_session(u)
    store.audit(db(), u, "login", detail={"via": "oidc"})
    return redirect(target)


@bp.route("/logout", methods=["POST"])
def logout() -> BaseResponse:
    store.audit(db(), user(), "logout")
    end_session()
    return redirect(url_for("worklist.login"))


# --- the list ---------------------------------------------------------------------------------


# The recruiter's default view: the patients worth a call (ineligible ones on request).
DEFAULT_VIEW = ("candidate", "needs-review")


@bp.route("/")
def index() -> str:
    filters, errors = parse_filters(
        request.args, int(setting("WORKLIST_PAGE_SIZE")), default_eligibility=DEFAULT_VIEW
    )
    page = store.list_patients(db(), filters, user())
    args = filters_to_args(filters)
    store.audit(db(), user(), "view-list", detail={"filters": args})
    return render_template(
        "worklist/list.html",
        page=page,
        f=filters,
        args=args,
        errors=errors,
        states=STATES,
        users=store.users_by_name(db()),
        ascending_first=store.ASCENDING_FIRST,
        default_view=not any(
            request.args.get(k) for k in ("eligibility", "state", "assignee", "changed_since", "q")
        ),
    )


@bp.route("/export.csv")
def export_csv() -> Response:
    return csv_download(parse_filters(request.args)[0])


@bp.route("/export.fhir.json")
def export_fhir() -> Response:
    return fhir_download(parse_filters(request.args)[0])


# --- the patient ------------------------------------------------------------------------------


@bp.route("/patients/lookup")
def lookup() -> BaseResponse:
    """The CDS card's link: the patient's page, found by FHIR server and patient id."""
    server, pid = request.args.get("server", ""), request.args.get("patient", "")
    p = store.find_patient_row(db(), server, pid) if pid else None
    if p is None:
        abort(404, _l("This patient is not on the worklist."))
    return redirect(url_for("worklist.patient", row_id=p.id))


@bp.route("/patients/<int:row_id>")
def patient(row_id: int) -> str:
    s = db()
    try:
        p = store.get_patient(s, row_id)
    except store.NotFound:
        abort(404)
    store.audit(s, user(), "view", row_id)
    history = store.assessments_of(s, row_id)
    current = history[0] if history else None
    criteria = [c for c in (current.criteria if current else []) if isinstance(c, dict)]
    by_id = {str(c.get("id")): c for c in criteria}
    views = request.args.get("audit") == "views"
    return render_template(
        "worklist/patient.html",
        p=p,
        current=current,
        history=history,
        chart=igg4_chart(current.igg4 if current else None, tr=i18n.tr()),
        chart_compact=igg4_chart(current.igg4 if current else None, compact=True, tr=i18n.tr()),
        gaps=[(g, by_id.get(g["id"], {})) for g in rowfacts.gaps(criteria)],
        confirm=[by_id[c] for c in rowfacts.visit_confirmations(criteria)],
        needed=needed_texts(i18n.tr()),
        criteria_titles={cid: i18n.criterion_title(c) for cid, c in by_id.items()},
        criterion_ids=CRITERION_IDS,
        decline_reasons=DECLINE_REASONS,
        notes=store.notes_of(s, row_id),
        audit=store.audit_of(s, row_id, views=views),
        audit_views=views,
        view_count=store.count_views(s, row_id),
        targets=allowed_targets(p.workflow_state, user().role),
        users=store.users_by_name(s),
    )


def _back(row_id: int) -> BaseResponse:
    return redirect(url_for("worklist.patient", row_id=row_id))


def _version() -> int | None:
    raw = request.form.get("version", "")
    return int(raw) if raw.isdigit() else None


@bp.route("/patients/<int:row_id>/state", methods=["POST"])
def change_state(row_id: int) -> BaseResponse:
    form = request.form
    try:
        store.change_state(
            db(),
            row_id,
            form.get("state", ""),
            user(),
            _version(),
            reason=form.get("reason") or None,
            criterion=form.get("criterion") or None,
            note=form.get("note") or None,
        )
        flash(_("State changed."), "ok")
    except store.NotFound:
        abort(404)
    except ForbiddenTransition as exc:
        abort(403, str(exc))
    except (TransitionError, store.Conflict) as exc:
        flash(str(exc), "error")
    return _back(row_id)


@bp.route("/patients/<int:row_id>/assign", methods=["POST"])
def assign(row_id: int) -> BaseResponse:
    name = request.form.get("assignee", "").strip()
    assignee = accounts.get_user(db(), name) if name else None
    if name and (assignee is None or not assignee.active):
        flash(_("No such user."), "error")
        return _back(row_id)
    try:
        store.assign(db(), row_id, assignee, user(), _version())
        flash(_("Assignee changed."), "ok")
    except store.NotFound:
        abort(404)
    except store.Conflict as exc:
        flash(str(exc), "error")
    return _back(row_id)


@bp.route("/patients/<int:row_id>/notes", methods=["POST"])
def add_note(row_id: int) -> BaseResponse:
    try:
        store.add_note(db(), row_id, user(), request.form.get("text", ""))
        flash(_("Note added."), "ok")
    except store.NotFound:
        abort(404)
    except ValueError as exc:
        flash(str(exc), "error")
    return _back(row_id)


@bp.route("/patients/<int:row_id>/acknowledge", methods=["POST"])
def acknowledge(row_id: int) -> BaseResponse:
    try:
        store.acknowledge_change(db(), row_id, user())
    except store.NotFound:
        abort(404)
    return _back(row_id)


# --- manual assessment (investigators) --------------------------------------------------------


@bp.route("/assess", methods=["GET", "POST"])
@require_roles("investigator")
def assess() -> Reply:
    context: dict[str, Any] = {
        "result": None,
        "bundle_json": "",
        "error": None,
        "server": manual.MANUAL_SERVER,
        "as_of": request.form.get("as_of", ""),
    }
    if request.method == "POST":
        upload = request.files.get("bundle")
        raw = upload.read(int(setting("WORKLIST_MAX_UPLOAD_BYTES")) + 1) if upload else b""
        raw = raw or request.form.get("bundle_json", "").encode()
        if len(raw) > int(setting("WORKLIST_MAX_UPLOAD_BYTES")):
            context["error"] = _("The file is too large.")
            return render_template("worklist/assess.html", **context), 413
        try:
            day = manual.parse_as_of(request.form.get("as_of"))
            bundle = manual.parse_bundle(raw)
            result = manual.assess_upload(current_app, bundle, day)
        except manual.UploadError as exc:
            context["error"] = str(exc)
            return render_template("worklist/assess.html", **context), exc.status
        store.audit(db(), user(), "manual-assessment", detail={"status": result["status"]})
        context.update(
            result=result,
            name=manual.display_name(bundle),
            bundle_json=orjson.dumps(bundle).decode(),
            chart=igg4_chart(result.get("igg4"), tr=i18n.tr()),
            chart_compact=igg4_chart(result.get("igg4"), compact=True, tr=i18n.tr()),
            evidence=manual.bundle_handoff(current_app, bundle, result)["evidence"],
        )
    return render_template("worklist/assess.html", **context)


@bp.route("/assess/add", methods=["POST"])
@require_roles("investigator")
def assess_add() -> Reply:
    """Re-assesses the posted Bundle on the server (never trusts a posted assessment) and lists it."""
    try:
        day = manual.parse_as_of(request.form.get("as_of"))
        bundle = manual.parse_bundle(request.form.get("bundle_json", ""))
        result = manual.assess_upload(current_app, bundle, day)
    except manual.UploadError as exc:
        abort(exc.status, str(exc))
    try:
        server = server_key(request.form.get("server", "")) or manual.MANUAL_SERVER
    except FhirUrlError as exc:
        abort(400, _l("The FHIR server is not usable: %(problem)s.", problem=str(exc)))
    row_id = store.record_assessment(
        db(),
        fhir_server=server,
        assessment=result,
        source="manual",
        display_name=manual.display_name(bundle),
        handoff=manual.bundle_handoff(current_app, bundle, result),
    )
    store.audit(db(), user(), "manual-add", row_id)
    flash(_("Added to the worklist."), "ok")
    return _back(row_id)


# --- users (admins) ---------------------------------------------------------------------------


@bp.route("/admin/users", methods=["GET", "POST"])
@require_roles("admin")
def users() -> Reply:
    """User management. A new or reset password is shown once, in this response only."""
    s = db()
    shown: str | None = None
    if request.method == "POST":
        password = request.form.get("password") or accounts.generate_password()
        try:
            created = accounts.create_user(
                s,
                request.form.get("username", ""),
                request.form.get("role", ""),
                password,
                request.form.get("display_name") or None,
            )
            accounts.set_email(created, request.form.get("email"))
            detail = {"user": created.username, "role": created.role}
            store.audit(s, user(), "user-add", detail=detail)
            shown = _(
                "User %(name)s created. Password: %(password)s",
                name=created.username,
                password=password,
            )
        except accounts.AccountError as exc:
            s.rollback()
            flash(str(exc), "error")
    return _users_page(shown)


def _users_page(shown: str | None) -> str:
    everyone = list(db().execute(select(User).order_by(User.username)).scalars())
    return render_template("worklist/users.html", everyone=everyone, roles=ROLES, shown=shown)


@bp.route("/admin/users/<int:uid>", methods=["POST"])
@require_roles("admin")
def user_update(uid: int) -> Reply:
    s = db()
    target = s.get(User, uid)
    if target is None:
        abort(404)
    action = request.form.get("action", "")
    shown: str | None = None
    try:
        if action == "role":
            accounts.set_role(target, request.form.get("role", ""))
        elif action in ("deactivate", "activate"):
            if target.id == user().id:
                raise accounts.AccountError(_l("you cannot deactivate yourself"))
            accounts.set_active(target, action == "activate")
        elif action == "email":
            accounts.set_email(target, request.form.get("email"))
        elif action == "reset-password":
            password = accounts.generate_password()
            accounts.set_password(target, password)
            shown = _(
                "New password for %(name)s: %(password)s", name=target.username, password=password
            )
        else:
            abort(400)
        store.audit(
            s, user(), f"user-{action}", detail={"user": target.username, "role": target.role}
        )
    except accounts.AccountError as exc:
        s.rollback()
        flash(str(exc), "error")
    return _users_page(shown) if shown else redirect(url_for("worklist.users"))
