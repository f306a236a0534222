"""User accounts: Argon2id password hashes, roles, API tokens. Used by the CLI, the admin page
and the login views."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask_babel import lazy_gettext as _l
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.worklist.models import ApiToken, User
from cds_service.worklist.workflow import ROLES

_hasher = PasswordHasher()  # argon2id with the library's current recommended parameters
# The hash a login for an unknown user is checked against (same cost as a real one). Computed on
# first use, not at import: importing this module (the CLI, the service) costs no Argon2 round.
_DUMMY_HASH: str | None = None
MIN_PASSWORD_CHARS = 10
TOKEN_PREFIX = "igg4wl_"


class AccountError(ValueError):
    """A user-management request that cannot be done (bad role, weak password, duplicate)."""


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            _l("a password has at least %(count)d characters", count=MIN_PASSWORD_CHARS)
        )
    return _hasher.hash(password)


def _check_role(role: str) -> None:
    if role not in ROLES:
        raise AccountError(_l("role must be one of %(roles)s", roles=", ".join(ROLES)))


def get_user(session: Session, username: str) -> User | None:
    return session.execute(select(User).where(User.username == username)).scalar_one_or_none()


def create_user(
    session: Session,
    username: str,
    role: str,
    password: str | None,
    display_name: str | None = None,
    oidc_subject: str | None = None,
) -> User:
    """Create an account (not committed). ``password`` None: an OIDC-only account."""
    _check_role(role)
    name = username.strip()
    if not name or len(name) > 120 or any(c.isspace() for c in name):
        raise AccountError(_l("a username is 1-120 characters without spaces"))
    if get_user(session, name) is not None:
        raise AccountError(_l("user %(name)r exists", name=name))
    user = User(
        username=name,
        role=role,
        display_name=display_name,
        password_hash=hash_password(password) if password is not None else None,
        oidc_subject=oidc_subject,
        active=True,
        session_epoch=0,
    )
    session.add(user)
    session.flush()
    return user


def set_password(user: User, password: str) -> None:
    user.password_hash = hash_password(password)
    user.session_epoch = (user.session_epoch or 0) + 1


def set_role(user: User, role: str) -> None:
    _check_role(role)
    user.role = role
    user.session_epoch = (user.session_epoch or 0) + 1


def set_active(user: User, active: bool) -> None:
    user.active = active
    user.session_epoch = (user.session_epoch or 0) + 1


def _dummy_hash() -> str:
    global _DUMMY_HASH
    if _DUMMY_HASH is None:
        _DUMMY_HASH = _hasher.hash(secrets.token_hex(16))
    return _DUMMY_HASH


def warm_up() -> None:
    """Compute the dummy hash now (at start-up), so that the first login costs what later ones do."""
    _dummy_hash()


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active local user with this password, else None. Takes the same time either way."""
    user = get_user(session, username.strip())
    stored = user.password_hash if user is not None and user.active else None
    try:
        _hasher.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None or stored is None:
        return None
    if _hasher.check_needs_rehash(stored):
        user.password_hash = _hasher.hash(password)
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(15)


# --- API tokens: the token is shown once; only its SHA-256 is stored ---------------------------


def _token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_token(session: Session, user: User, label: str | None = None) -> str:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(ApiToken(user_id=user.id, token_hash=_token_digest(token), label=label))
    session.flush()
    return token


def user_for_token(session: Session, token: str) -> User | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = session.execute(
        select(ApiToken).where(ApiToken.token_hash == _token_digest(token))
    ).scalar_one_or_none()
    if row is None or row.revoked or not row.user.active:
        return None
    return row.user


def set_email(user: User, email: str | None) -> None:
    """The address of the daily digest (None: no digest)."""
    address = (email or "").strip() or None
    if address is not None and (
        len(address) > 254 or address.count("@") != 1 or any(c.isspace() for c in address)
    ):
        raise AccountError(_l("an e-mail address looks like name@example.org"))
    user.email = address
