"""The Flask application factory of igg4-cds.

``create_app(config)`` builds the configuration (see ``cds_service.config``), opens the database
(applying migrations), prepares the CDS Hooks service and registers the blueprints.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask, Response, abort, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from cds_service import limits, metrics
from cds_service.config import build_config
from cds_service.db import make_engine, make_session_factory, upgrade
from cds_service.hooks.blueprint import bp as hooks_bp
from cds_service.hooks.blueprint import health_bp, problem
from cds_service.hooks.state import LISTENERS_KEY, build_state
from fhir_mappings import units

log = logging.getLogger("igg4_cds")


def create_app(config: Mapping[str, Any] | None = None, *, serving: bool = True) -> Flask:
    """The application. ``serving=False`` (``igg4-cds users``: the database only) skips the checks
    that only matter to a service answering CDS clients."""
    settings = build_config(config)
    app = Flask(__name__, instance_relative_config=True, instance_path=settings["INSTANCE_PATH"])
    app.config.update(settings)
    if serving:
        check_jwt_audience(app.config)
    # Flask defines MAX_CONTENT_LENGTH (None), so it must be assigned, not defaulted; each request
    # then gets the limit of its endpoint (_limit_body).
    app.config["MAX_CONTENT_LENGTH"] = int(app.config["MAX_REQUEST_BYTES"])
    app.json.sort_keys = False  # type: ignore[attr-defined]
    units.configure(max_unit_length=app.config["MAX_UNIT_LENGTH"])  # the engine's, per process

    url = app.config["DATABASE_URL"] or default_database_url(app)
    app.config["DATABASE_URL"] = url
    if app.config["DATABASE_AUTO_UPGRADE"]:
        upgrade(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    app.extensions["igg4_db"] = {"engine": engine, "sessions": sessions}
    app.extensions.setdefault(LISTENERS_KEY, [])
    # urllib3 logs request URLs at DEBUG, and FHIR search URLs name patients: never let them out.
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    app.extensions["igg4_hooks"] = build_state(
        app.config,
        sessions,
        listeners=app.extensions[LISTENERS_KEY],
        instance_path=app.instance_path,
    )
    if serving and not app.config["JWT_VERIFY"]:
        log.warning(
            "!!! JWT verification of CDS clients is OFF (JWT_VERIFY=false): any caller is trusted. "
            "Development only. !!!"
        )

    _register_blueprints(app)
    _register_error_handlers(app)
    app.before_request(_limit_body)
    app.url_value_preprocessor(_check_ids)
    app.before_request(_refuse_nul)
    return app


MAX_ROW_ID = 2**31 - 1  # the databases' integer keys (PostgreSQL INTEGER)


def _check_ids(endpoint: str | None, values: dict[str, Any] | None) -> None:
    """A row id in a URL beyond any row (e.g. 2^31) is a 400, not a database error."""
    for name, value in (values or {}).items():
        if isinstance(value, int) and not isinstance(value, bool) and value > MAX_ROW_ID:
            abort(400, f"{name} is out of range (at most {MAX_ROW_ID})")


def _refuse_nul() -> None:
    """A NUL character is never valid input (PostgreSQL cannot store one; SQLite would keep it
    silently): a query parameter or form field holding one is a 400 on every database."""
    if limits.has_nul(request.args) or (
        request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data")
        and limits.has_nul(request.form)
    ):
        abort(400, limits.NUL_MESSAGE)


def body_limit(app: Flask, endpoint: str | None, blueprint: str | None) -> tuple[int, str]:
    """The largest body a request to ``endpoint`` may send, and the setting that says so."""
    if endpoint == "cds_hooks.feedback":
        return int(app.config["FEEDBACK_MAX_BYTES"]), "FEEDBACK_MAX_BYTES"
    worklist = app.extensions.get("igg4_worklist_settings")
    if worklist and blueprint in ("worklist", "worklist_api"):
        upload = int(worklist["WORKLIST_MAX_UPLOAD_BYTES"])
        if blueprint == "worklist":  # a form post: the Bundle URL-encoded, beside small fields
            upload = upload * limits.FORM_ENCODING_FACTOR + limits.FORM_OVERHEAD_BYTES
        return upload, "WORKLIST_MAX_UPLOAD_BYTES"
    return int(app.config["MAX_REQUEST_BYTES"]), "MAX_REQUEST_BYTES"


def _limit_body() -> None:
    """Refuse a body over its endpoint's limit before anything reads it: 413 with the limit and
    its setting. A body without Content-Length (chunked) is read here, up to the limit."""
    from flask import current_app

    limit, setting = body_limit(current_app, request.endpoint, request.blueprint)
    request.max_content_length = limit
    request.max_form_memory_size = limit
    message = limits.too_large("the request body", limit, setting)
    length = request.content_length
    if length is not None:
        if length > limit:
            abort(413, message)
    elif request.method in ("POST", "PUT", "PATCH") and request.environ.get(
        "wsgi.input_terminated"
    ):
        # werkzeug stops reading at max_content_length without an error: read one byte more
        # than the limit, and a body that long is over it.
        request.max_content_length = limit + 1
        try:
            over = len(request.get_data(cache=True)) > limit
        except RequestEntityTooLarge:
            over = True
        if over:
            abort(413, message)


def check_jwt_audience(config: Mapping[str, Any]) -> None:
    """With JWT verification on, the audience a CDS client's token must name is configured:
    PUBLIC_BASE_URL (the URL clients call) or JWT_AUDIENCE. Taking it from the request's Host header
    would let a token minted for another service be replayed here with that Host (issue 10 row 8),
    so the service refuses to start without one."""
    if config["JWT_VERIFY"] and not (config["PUBLIC_BASE_URL"] or config["JWT_AUDIENCE"]):
        raise ValueError(
            "JWT_VERIFY is on but no audience is configured: set PUBLIC_BASE_URL to the URL EHRs "
            "call this service at (e.g. IGG4_CDS_PUBLIC_BASE_URL=https://cds.example.org), or "
            "JWT_AUDIENCE to the exact audience their tokens carry"
        )


def default_database_url(app: Flask) -> str:
    path = Path(app.instance_path) / "igg4-cds.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# ---- Blueprint registration: the one place where the application's parts are plugged in. ----
def _register_blueprints(app: Flask) -> None:
    from cds_service.i18n import web as i18n  # Flask-Babel, the language switcher

    i18n.init_app(app)
    app.register_blueprint(health_bp)
    app.register_blueprint(hooks_bp)
    metrics.register(app)  # /metrics, when METRICS_ENABLED
    if importlib.util.find_spec("cds_service.worklist") is not None:
        from cds_service import worklist  # the recruiter worklist (its own helper's module)

        register = getattr(worklist, "register", None)
        blueprint = getattr(worklist, "bp", None)
        if callable(register):
            register(app)
        elif blueprint is not None:
            app.register_blueprint(blueprint)
    from cds_service import smart  # the clinician's SMART on FHIR app (issue 6)

    smart.register(app)


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> Response:
        code = exc.code or 500
        return problem(
            code, (exc.name or "error").lower().replace(" ", "-"), str(exc.description or "")
        )

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled %s", type(exc).__name__)  # the type only: messages may hold data
        return problem(500, "internal-error", "internal error")
