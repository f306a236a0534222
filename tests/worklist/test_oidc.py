"""OIDC login by configuration: the redirect to the provider, and the callback that validates the
ID token and provisions the account with the role from the provider's claims."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from flask import Flask
from joserfc import jwt
from joserfc.jwk import RSAKey
from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import accounts, settings
from cds_service.worklist.db import session_factory
from cds_service.worklist.oidc import role_from_claims

from .conftest import forge_session_csrf, make_app, new_client

ISSUER = "https://idp.example.org"
OIDC = {
    "metadata_url": f"{ISSUER}/.well-known/openid-configuration",
    "client_id": "igg4-worklist",
    "client_secret": "s3cret",
    "role_claim": "groups",
    "role_map": {"trial-recruiters": "recruiter", "trial-investigators": "investigator"},
}
METADATA = {
    "issuer": ISSUER,
    "authorization_endpoint": f"{ISSUER}/authorize",
    "token_endpoint": f"{ISSUER}/token",
    "jwks_uri": f"{ISSUER}/jwks",
    "response_types_supported": ["code"],
    "subject_types_supported": ["public"],
    "id_token_signing_alg_values_supported": ["RS256"],
}


@pytest.fixture
def oidc_app(tmp_path: Path) -> Flask:
    return make_app(f"sqlite:///{tmp_path / 'oidc.db'}", WORKLIST_AUTH="oidc", WORKLIST_OIDC=OIDC)


def test_configuration_is_checked() -> None:
    with pytest.raises(ValueError, match="metadata_url"):
        settings.resolve({"WORKLIST_AUTH": "oidc", "WORKLIST_OIDC": {"client_id": "x"}}, {})
    with pytest.raises(ValueError):
        settings.resolve({"WORKLIST_AUTH": "ldap"}, {})
    env = settings.resolve({}, {"IGG4_CDS_WORKLIST_LOGIN_MAX_FAILURES": "3"})
    assert env["WORKLIST_LOGIN_MAX_FAILURES"] == 3 and env["WORKLIST_AUTH"] == "local"


def test_roles_from_claims() -> None:
    assert role_from_claims({"groups": ["trial-recruiters", "trial-investigators"]}, OIDC) == (
        "investigator"
    )
    assert role_from_claims({"groups": "trial-recruiters"}, OIDC) == "recruiter"
    assert role_from_claims({"groups": ["staff"]}, OIDC) is None


def _login_flow(app: Flask, claims_extra: dict[str, object]) -> tuple[int, str]:
    key = RSAKey.generate_key(2048, parameters={"kid": "k1"})
    client = new_client(app)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(OIDC["metadata_url"], json=METADATA)
        mock.get(METADATA["jwks_uri"], json={"keys": [key.as_dict(private=False)]})
        page = client.get("/worklist/login").get_data(as_text=True)
        assert "/worklist/login/oidc" in page and 'name="password"' not in page
        start = client.get("/worklist/login/oidc?next=/worklist/?state=new")
        assert start.status_code == 302
        location = urlsplit(start.headers["Location"])
        assert f"{location.scheme}://{location.netloc}{location.path}" == f"{ISSUER}/authorize"
        query = {k: v[0] for k, v in parse_qs(location.query).items()}
        assert query["client_id"] == "igg4-worklist" and query["response_type"] == "code"
        assert query["redirect_uri"] == "https://localhost/worklist/oidc/callback"
        assert "openid" in query["scope"] and query["state"] and query["nonce"]
        now = int(time.time())
        claims = {
            "iss": ISSUER,
            "aud": "igg4-worklist",
            "sub": "subject-123",
            "iat": now,
            "exp": now + 300,
            "nonce": query["nonce"],
            "preferred_username": "olga",
            "name": "Olga Investigator",
            **claims_extra,
        }
        id_token = jwt.encode({"alg": "RS256", "kid": "k1"}, claims, key)
        mock.post(
            METADATA["token_endpoint"],
            json={
                "access_token": "at",
                "token_type": "Bearer",
                "expires_in": 300,
                "id_token": id_token,
            },
        )
        back = client.get(f"/worklist/oidc/callback?code=c0de&state={query['state']}")
        if back.status_code != 302:
            return back.status_code, back.get_data(as_text=True)
        return back.status_code, back.headers["Location"] + " " + str(
            client.get("/worklist/").status_code
        )


def test_oidc_login_provisions_the_user_with_the_mapped_role(oidc_app: Flask) -> None:
    status, where = _login_flow(oidc_app, {"groups": ["trial-investigators"]})
    assert (status, where) == (302, "/worklist/?state=new 200")
    sessions: sessionmaker[Session] = session_factory(oidc_app)
    with sessions() as s:
        u = accounts.get_user(s, "olga")
        assert u is not None
        assert (u.role, u.oidc_subject, u.password_hash) == ("investigator", "subject-123", None)


def test_oidc_user_without_a_role_is_refused(oidc_app: Flask) -> None:
    status, body = _login_flow(oidc_app, {"groups": ["canteen"]})
    assert status == 403 and "no access" in body


def test_a_token_with_a_wrong_audience_is_refused(oidc_app: Flask) -> None:
    status, body = _login_flow(oidc_app, {"groups": ["trial-recruiters"], "aud": "someone-else"})
    assert status == 401 and "failed" in body


def test_password_login_is_off_in_oidc_mode(oidc_app: Flask) -> None:
    client = new_client(oidc_app)
    token = forge_session_csrf(client, oidc_app)
    r = client.post("/worklist/login", data={"username": "x", "password": "y", "csrf_token": token})
    assert r.status_code == 404
