"""Login through an OpenID Connect provider instead of local accounts (``WORKLIST_AUTH: oidc``).

The provider's claims decide the role (``role_claim`` values mapped through ``role_map``);
accounts are provisioned on first login when ``default_role`` or a mapped role gives one, or
pre-created by an admin (``igg4-cds users add NAME --role R --oidc``).
"""

from __future__ import annotations

from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Flask, current_app
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.worklist import accounts
from cds_service.worklist.models import User
from cds_service.worklist.workflow import ROLES

_EXT = "igg4_worklist_oauth"


def init_oidc(app: Flask, oidc: dict[str, Any]) -> None:
    oauth = OAuth(app)
    oauth.register(
        "worklist_oidc",
        client_id=oidc["client_id"],
        client_secret=oidc.get("client_secret"),
        server_metadata_url=oidc["metadata_url"],
        client_kwargs={"scope": oidc.get("scope", "openid profile email")},
    )
    app.extensions[_EXT] = oauth


def client() -> Any:
    return current_app.extensions[_EXT].create_client("worklist_oidc")


def role_from_claims(claims: dict[str, Any], oidc: dict[str, Any]) -> str | None:
    """The highest role any of the user's claim values maps to, or None."""
    raw = claims.get(oidc.get("role_claim", "roles"), [])
    values = [raw] if isinstance(raw, str) else list(raw or [])
    role_map: dict[str, str] = oidc.get("role_map") or {r: r for r in ROLES}
    mapped = {role_map[v] for v in values if isinstance(v, str) and role_map.get(v) in ROLES}
    for role in ("admin", "investigator", "recruiter"):
        if role in mapped:
            return role
    return None


def user_from_claims(session: Session, claims: dict[str, Any], oidc: dict[str, Any]) -> User | None:
    """The account for these ID token claims (provisioned or updated), or None if not allowed."""
    subject = str(claims.get("sub") or "")
    if not subject:
        return None
    role = role_from_claims(claims, oidc)
    default = oidc.get("default_role") if oidc.get("default_role") in ROLES else None
    user = session.execute(select(User).where(User.oidc_subject == subject)).scalar_one_or_none()
    if user is None:
        name = str(claims.get(oidc.get("username_claim", "preferred_username")) or subject)[:120]
        existing = accounts.get_user(session, name)
        if existing is not None and existing.password_hash is None and not existing.oidc_subject:
            existing.oidc_subject = subject  # pre-created by an admin for OIDC
            user = existing
        elif existing is None and (role or default):
            user = accounts.create_user(
                session, name, role or str(default), None, claims.get("name"), oidc_subject=subject
            )
        else:
            return None
    if not user.active:
        return None
    if role is not None and user.role != role:  # the provider's groups are authoritative
        accounts.set_role(user, role)
    session.commit()
    return user
