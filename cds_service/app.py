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

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from cds_service.config import build_config
from cds_service.db import make_engine, make_session_factory, upgrade
from cds_service.hooks.blueprint import bp as hooks_bp
from cds_service.hooks.blueprint import health_bp, problem
from cds_service.hooks.state import LISTENERS_KEY, build_state

log = logging.getLogger("igg4_cds")

MAX_REQUEST_BYTES = 32 * 1024 * 1024  # a full prefetch of a long record fits comfortably


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(build_config(config))
    app.config.setdefault("MAX_CONTENT_LENGTH", MAX_REQUEST_BYTES)
    app.json.sort_keys = False  # type: ignore[attr-defined]

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
    app.extensions["igg4_hooks"] = build_state(app.config, sessions)
    if not app.config["JWT_VERIFY"]:
        log.warning(
            "!!! JWT verification of CDS clients is OFF (JWT_VERIFY=false): any caller is trusted. "
            "Development only. !!!"
        )

    _register_blueprints(app)
    _register_error_handlers(app)
    return app


def default_database_url(app: Flask) -> str:
    path = Path(app.instance_path) / "igg4-cds.db"
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


# ---- Blueprint registration: the one place where the application's parts are plugged in. ----
def _register_blueprints(app: Flask) -> None:
    app.register_blueprint(health_bp)
    app.register_blueprint(hooks_bp)
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
        return problem(code, (exc.name or "error").lower().replace(" ", "-"), exc.description or "")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> Response:
        log.error("unhandled %s", type(exc).__name__)  # the type only: messages may hold data
        return problem(500, "internal-error", "internal error")
