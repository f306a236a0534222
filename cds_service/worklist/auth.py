"""Who is asking: session cookies (pages and the browser's API calls) or personal API tokens
(``Authorization: Bearer igg4wl_...``), roles enforced on the server, CSRF on every form, and the
login itself with throttling. OIDC lives in ``oidc.py``."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any, ParamSpec, TypeVar
from urllib.parse import urlsplit

from flask import abort, current_app, g, request, session
from flask_wtf.csrf import generate_csrf, validate_csrf
from sqlalchemy import delete
from wtforms.validators import ValidationError

from cds_service.worklist import accounts, throttle
from cds_service.worklist.db import db
from cds_service.worklist.models import LoginSession, User, utcnow

P = ParamSpec("P")
R = TypeVar("R")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def setting(key: str) -> Any:
    return current_app.extensions["igg4_worklist_settings"][key]


def current_user() -> User | None:
    """The authenticated user of this request (cached on ``g``), or None."""
    if "worklist_user" in g:
        user: User | None = g.worklist_user
        return user
    user = None
    g.worklist_token_auth = False
    header = request.headers.get("Authorization", "")
    if header[:7].lower() == "bearer ":
        user = accounts.user_for_token(db(), header[7:].strip())
        g.worklist_token_auth = user is not None
    else:
        user = _session_user(session.get("wl_sid"))
    g.worklist_user = user
    return user


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _session_user(token: object) -> User | None:
    """The user of a live server-side session: the cookie holds a random token, the database
    its digest. Logout deletes the row; expiry, deactivation and a password or role change (the
    user's epoch) end it too."""
    if not isinstance(token, str) or not token:
        return None
    row = db().get(LoginSession, _digest(token))
    if row is None or row.expires_at <= utcnow():
        return None
    candidate = db().get(User, row.user_id)
    if candidate is None or not candidate.active or candidate.session_epoch != row.epoch:
        return None
    return candidate


def user() -> User:
    """The authenticated user; only call behind the login check."""
    u = current_user()
    if u is None:
        abort(401)
    return u


def has_role(*roles: str) -> bool:
    u = current_user()
    return u is not None and u.role in roles


def require_roles(*roles: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: 403 unless the user has one of ``roles`` (checked on the server, every call)."""

    def decorate(view: Callable[P, R]) -> Callable[P, R]:
        @wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not has_role(*roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def csrf_ok() -> bool:
    """True for safe methods, token-authenticated API calls, and requests carrying a valid token
    (form field ``csrf_token`` or header ``X-CSRFToken``)."""
    if request.method not in UNSAFE_METHODS:
        return True
    current_user()
    if g.get("worklist_token_auth"):
        return True  # a bearer token is not an ambient credential: no cross-site risk
    token = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(token, time_limit=int(setting("WORKLIST_SESSION_HOURS")) * 3600)
    except ValidationError:
        return False
    return True


def csrf_token() -> str:
    return str(generate_csrf())


def safe_next(target: str | None, default: str) -> str:
    """Only same-site relative paths (no open redirect)."""
    if not target:
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target:
        return default
    return target


def start_session(u: User) -> None:
    """Log ``u`` in: a fresh session (no fixation), permanent for WORKLIST_SESSION_HOURS, kept on
    the server (``LoginSession``) so that it can be revoked. Commits."""
    s = db()
    now = utcnow()
    s.execute(delete(LoginSession).where(LoginSession.expires_at <= now))  # tidy up
    token = secrets.token_urlsafe(32)
    hours = int(setting("WORKLIST_SESSION_HOURS"))
    s.add(
        LoginSession(
            id=_digest(token),
            user_id=u.id,
            epoch=u.session_epoch,
            created_at=now,
            expires_at=now + timedelta(hours=hours),
        )
    )
    s.commit()
    session.clear()
    session.permanent = True
    session["wl_sid"] = token
    g.worklist_user = u


def end_session() -> None:
    """Log out: the server-side session is deleted, so any copy of the cookie is worthless."""
    token = session.get("wl_sid")
    if isinstance(token, str) and token:
        s = db()
        s.execute(delete(LoginSession).where(LoginSession.id == _digest(token)))
        s.commit()
    session.clear()
    g.worklist_user = None


def client_ip() -> str:
    # Behind a proxy, configure werkzeug's ProxyFix so that remote_addr is the client's address.
    return request.remote_addr or "unknown"


class Throttled(Exception):
    """Too many failed logins (HTTP 429)."""


def login_with_password(username: str, password: str) -> User | None:
    """Check a local login, throttled per user name and per client address; log in on success."""
    session_db = db()
    name = username.strip().lower()[:120]
    window = int(setting("WORKLIST_LOGIN_WINDOW_S"))
    user_key, ip_key = f"user:{name}", f"ip:{client_ip()[:120]}"
    limits = {
        user_key: int(setting("WORKLIST_LOGIN_MAX_FAILURES")),
        ip_key: int(setting("WORKLIST_LOGIN_MAX_FAILURES_PER_IP")),
    }
    # The attempt is counted before the password is checked (atomically), so parallel attempts
    # can never check more passwords than the limit.
    if not throttle.reserve(session_db, limits, window):
        raise Throttled()
    u = accounts.authenticate(session_db, username, password)
    if u is not None:
        throttle.succeeded(session_db, user_key, [ip_key])
    session_db.commit()  # (and any password rehash)
    if u is not None:
        start_session(u)
    return u
