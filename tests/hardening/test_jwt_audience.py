"""Issue 10 row 8: with ``PUBLIC_BASE_URL`` unset, the JWT audience was taken from the request's
``Host`` header, so a token minted by a trusted EHR for another CDS service was accepted here when
sent with that service's Host.

Decision: with JWT verification on, the service refuses to start unless the audience is
configured (``PUBLIC_BASE_URL``, or ``JWT_AUDIENCE``); the Host header never decides it. The demo
and the tests turn verification off (loudly), and ``igg4-cds users`` (no hooks served) is exempt.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_service.cli import cli

from .helpers import HOOK_PATH, prefetch_hook_body

ISS = "https://ehr.example.org"
KEY = ECKey.generate_key("P-384", parameters={"kid": "k1"})
JWKS = {"keys": [KEY.as_dict(private=False)]}
OTHER_SERVICE = "other-cds.example.org"


def _token(aud: str) -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": aud, "exp": now + 120, "iat": now, "jti": str(uuid.uuid4())}
    return jwt.encode(
        {"alg": "ES384", "typ": "JWT", "kid": "k1"}, claims, KEY, algorithms=["ES384"]
    )


def test_jwt_verification_without_an_audience_refuses_to_start(
    make_app: Callable[..., Flask],
) -> None:
    with pytest.raises(ValueError, match="PUBLIC_BASE_URL"):
        make_app(JWT_VERIFY=True, JWT_ISSUERS={ISS: {"jwks": JWKS}})


def test_a_token_for_another_service_is_refused_whatever_the_host(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(
        JWT_VERIFY=True,
        JWT_ISSUERS={ISS: {"jwks": JWKS}},
        PUBLIC_BASE_URL="https://cds.example.org",
    )
    client = app.test_client()
    foreign = _token(f"https://{OTHER_SERVICE}{HOOK_PATH}")
    response = client.post(
        HOOK_PATH,
        json=prefetch_hook_body(),
        headers={"Authorization": f"Bearer {foreign}", "Host": OTHER_SERVICE},
        base_url=f"https://{OTHER_SERVICE}",
    )
    assert response.status_code == 401
    ours = _token(f"https://cds.example.org{HOOK_PATH}")
    response = client.post(
        HOOK_PATH, json=prefetch_hook_body(), headers={"Authorization": f"Bearer {ours}"}
    )
    assert response.status_code == 200


def test_an_explicit_audience_is_enough(make_app: Callable[..., Flask]) -> None:
    aud = "urn:cds:igg4"
    app = make_app(JWT_VERIFY=True, JWT_ISSUERS={ISS: {"jwks": JWKS}}, JWT_AUDIENCE=aud)
    response = app.test_client().post(
        HOOK_PATH, json=prefetch_hook_body(), headers={"Authorization": f"Bearer {_token(aud)}"}
    )
    assert response.status_code == 200


def test_serve_says_so_in_one_line_and_users_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("IGG4_CDS_JWT_VERIFY", "IGG4_CDS_PUBLIC_BASE_URL", "IGG4_CDS_JWT_AUDIENCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IGG4_CDS_DATABASE_URL", f"sqlite:///{tmp_path}/serve.db")
    monkeypatch.setenv("IGG4_CDS_SECRET_KEY", "s" * 40)
    from cds_service.commands import serve

    monkeypatch.setattr(serve._Gunicorn, "run", lambda self: None)  # never actually serve
    runner = CliRunner()
    result = runner.invoke(cli, ["serve", "--port", "0"])
    assert result.exit_code == 2
    assert "PUBLIC_BASE_URL" in result.output and "Traceback" not in result.output
    result = runner.invoke(cli, ["users", "add", "rita", "--role", "recruiter", "--generate"])
    assert result.exit_code == 0, result.output
