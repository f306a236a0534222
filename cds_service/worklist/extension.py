"""Wires the worklist into the Flask app: settings, session cookie hardening, the secret key,
OIDC, the two blueprints and the assessment listener."""

from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

from cds_service.worklist import api, display, settings, views
from cds_service.worklist.auth import csrf_token, current_user
from cds_service.worklist.db import close_session, session_factory
from cds_service.worklist.listener import make_listener, make_referral_listener


def register(app: Flask) -> None:
    conf = settings.resolve(app.config)
    app.extensions["igg4_worklist_settings"] = conf
    _ensure_secret_key(app)
    app.config.update(
        SESSION_COOKIE_SECURE=bool(conf["WORKLIST_SECURE_COOKIES"]),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=int(conf["WORKLIST_SESSION_HOURS"])),
    )
    if conf["WORKLIST_AUTH"] == "oidc":
        from cds_service.worklist.oidc import init_oidc

        init_oidc(app, conf["WORKLIST_OIDC"])
    app.register_blueprint(views.bp)
    app.register_blueprint(api.bp)
    app.teardown_appcontext(close_session)
    app.add_template_global(current_user, "current_user")
    app.add_template_global(csrf_token, "csrf_token")
    display.register(app)
    app.extensions.setdefault("igg4_assessment_listeners", []).append(
        make_listener(session_factory(app))
    )
    app.extensions.setdefault("igg4_referral_listeners", []).append(
        make_referral_listener(session_factory(app))
    )


def _ensure_secret_key(app: Flask) -> None:
    """Sessions need one key shared by every worker: the configured SECRET_KEY, else
    ``IGG4_CDS_SECRET_KEY``, else a random key kept (mode 0600) in the instance folder."""
    if app.secret_key:
        return
    if os.environ.get("IGG4_CDS_SECRET_KEY"):
        app.secret_key = os.environ["IGG4_CDS_SECRET_KEY"]
        return
    path = Path(app.instance_path) / "secret_key"
    try:
        _keep_new_key(path)
        app.secret_key = path.read_text().strip()
    except OSError as exc:  # a read-only instance folder: say what to do, in one line
        raise ValueError(
            f"SECRET_KEY is not set and no key can be kept in {path.parent} ({exc.strerror}): "
            "set IGG4_CDS_SECRET_KEY to a long random value (e.g. the output of "
            "`python -c 'import secrets; print(secrets.token_hex(32))'`), the same for every "
            "worker and replica, or make INSTANCE_PATH a folder the service can write"
        ) from None


def _keep_new_key(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written whole to a private temporary file, then linked into place: workers starting
        # together never read a half-written key, and the first link wins.
        tmp = path.with_name(f".secret_key.{os.getpid()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
