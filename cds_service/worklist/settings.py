"""The worklist's configuration keys and their defaults (overridable like any other key:
the config file, ``IGG4_CDS_<KEY>`` environment variables, or ``create_app``'s mapping)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cds_service.config import resolve_section

DEFAULTS: dict[str, Any] = {
    "WORKLIST_AUTH": "local",  # "local" accounts, or "oidc" (an OpenID Connect provider)
    # {"metadata_url": ".../.well-known/openid-configuration", "client_id", "client_secret",
    #  "scope": "openid profile email", "role_claim": "roles",
    #  "role_map": {"idp-group": "investigator", ...}, "default_role": "recruiter" | None,
    #  "username_claim": "preferred_username"}
    "WORKLIST_OIDC": {},
    "WORKLIST_SECURE_COOKIES": True,  # False only for plain-http local development
    "WORKLIST_SESSION_HOURS": 8,
    "WORKLIST_LOGIN_WINDOW_S": 900,
    "WORKLIST_LOGIN_MAX_FAILURES": 5,  # per user name in the window
    "WORKLIST_LOGIN_MAX_FAILURES_PER_IP": 20,
    "WORKLIST_PAGE_SIZE": 25,
    "WORKLIST_MAX_UPLOAD_BYTES": 10 * 1024 * 1024,
    # The daily digest by e-mail (off when empty; run ``igg4-cds digest`` daily):
    # {"smtp_host", "smtp_port": 25, "from": "worklist@hospital.example", "starttls": false,
    #  "tls": false, "username", "password", "worklist_url": "https://.../worklist/"}
    "WORKLIST_DIGEST": {},
}


def resolve(config: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The worklist keys: the app's config where set, else ``IGG4_CDS_<KEY>``, else the default."""
    out = resolve_section(DEFAULTS, config, environ)
    if out["WORKLIST_AUTH"] not in ("local", "oidc"):
        raise ValueError("WORKLIST_AUTH must be 'local' or 'oidc'")
    if out["WORKLIST_AUTH"] == "oidc":
        oidc = out["WORKLIST_OIDC"]
        missing = [k for k in ("metadata_url", "client_id") if not (oidc or {}).get(k)]
        if missing:
            raise ValueError(f"WORKLIST_OIDC needs {', '.join(missing)} when WORKLIST_AUTH is oidc")
    from cds_service.worklist.digest import SmtpSettings

    SmtpSettings.from_config(out["WORKLIST_DIGEST"])  # refused at start-up, not at 7 a.m.
    return out
