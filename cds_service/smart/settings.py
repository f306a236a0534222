"""The SMART app's configuration keys and their defaults (overridable like any other key: the
config file, ``IGG4_CDS_<KEY>`` environment variables, or ``create_app``'s mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.config import resolve_section

DEFAULTS: dict[str, Any] = {
    # The app's registration with the EHR's authorization server. A public client (no secret)
    # protected by PKCE is the SMART default; a confidential client sets the secret.
    "SMART_CLIENT_ID": "igg4-cds",
    "SMART_CLIENT_SECRET": None,
    # FHIR servers (``iss``) the app may be launched from; None: FHIR_SERVER_ALLOWLIST.
    "SMART_ISS_ALLOWLIST": None,
    # None: this app's own /smart/callback (behind a proxy, set PUBLIC_BASE_URL or this).
    "SMART_REDIRECT_URI": None,
    # "auto": v2 scopes when the server's smart-configuration lists "permission-v2", else v1.
    "SMART_SCOPE_VERSION": "auto",
    "SMART_SCOPES_V1": "patient/*.read patient/Task.write",
    "SMART_SCOPES_V2": "patient/*.rs patient/Task.c",
    # Server-side sessions: "memory" (one process) or a Redis URL (several gunicorn workers).
    "SMART_SESSION_STORE": "memory",
    "SMART_COOKIE_SECURE": True,  # False only for plain-http local development
    "SMART_COOKIE_SAMESITE": "Lax",  # "None" (with Secure) when the EHR embeds the app in a frame
    "SMART_TOKEN_LIFETIME_DEFAULT_S": 300,  # when the token response has no expires_in
    "SMART_MAX_SESSION_S": 8 * 3600,  # a session never outlives this, whatever expires_in says
    "SMART_LAUNCH_TIMEOUT_S": 600,  # from /smart/launch to the callback
    "SMART_HTTP_TIMEOUT_S": 10.0,  # discovery, token exchange and the Task write, each
    "SMART_FHIR_TIME_BUDGET_S": 15.0,  # all reads of one page view
    # Task.owner of the referral; None: STUDY_TEAM_REFERENCE, else a display-only owner.
    "SMART_TASK_OWNER": None,
}


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The SMART keys: the app's config where set, else ``IGG4_CDS_<KEY>``, else the default."""
    out = resolve_section(DEFAULTS, config, environ)
    allow = out["SMART_ISS_ALLOWLIST"]
    if allow is None:
        allow = config.get("FHIR_SERVER_ALLOWLIST") or []
    if isinstance(allow, str):
        allow = [s for s in allow.replace(",", " ").split() if s]
    out["SMART_ISS_ALLOWLIST"] = list(allow)
    if out["SMART_SCOPE_VERSION"] not in ("auto", "v1", "v2"):
        raise ValueError("SMART_SCOPE_VERSION must be auto, v1 or v2")
    if out["SMART_COOKIE_SAMESITE"] not in ("Lax", "Strict", "None"):
        raise ValueError("SMART_COOKIE_SAMESITE must be Lax, Strict or None")
    if out["SMART_COOKIE_SAMESITE"] == "None" and not out["SMART_COOKIE_SECURE"]:
        raise ValueError("SMART_COOKIE_SAMESITE=None needs SMART_COOKIE_SECURE=true")
    store = str(out["SMART_SESSION_STORE"])
    if store != "memory" and not store.startswith(("redis://", "rediss://", "unix://")):
        raise ValueError("SMART_SESSION_STORE must be 'memory' or a Redis URL")
    for key in ("SMART_TOKEN_LIFETIME_DEFAULT_S", "SMART_MAX_SESSION_S", "SMART_LAUNCH_TIMEOUT_S"):
        if not isinstance(out[key], int) or out[key] <= 0:
            raise ValueError(f"{key} must be a positive whole number of seconds")
    return out
