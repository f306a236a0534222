"""CDS client JWTs (CDS Hooks 2.0 "Trusting CDS Clients"), verified with joserfc: ES384 and RS384
accepted; unsigned, symmetric, expired, wrong-audience, unknown-issuer, replayed, foreign-key tokens
refused; a fhirServer off the allow-list is never contacted."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import responses
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey, OctKey, RSAKey

from cds_service.db import make_engine, make_session_factory
from cds_service.security import DbReplayStore, JwtError, JwtVerifier

from .conftest import HOOK_PATH, hook_body
from .synthetic import full_prefetch, long_record

ISS = "https://ehr.example.org"
AUD = f"http://localhost{HOOK_PATH}"
EC = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})
RSA = RSAKey.generate_key(2048, parameters={"kid": "rsa-1"})
OTHER_EC = ECKey.generate_key("P-384", parameters={"kid": "ec-1"})  # same kid, other key
JWKS = {"keys": [EC.as_dict(private=False), RSA.as_dict(private=False)]}


def token(
    key: Any = EC,
    alg: str = "ES384",
    *,
    iss: str = ISS,
    aud: Any = AUD,
    exp_in: int = 300,
    iat_ago: int = 0,
    jti: str | None = None,
    header: dict[str, Any] | None = None,
) -> str:
    now = int(time.time())
    claims = {
        "iss": iss,
        "aud": aud,
        "exp": now + exp_in,
        "iat": now - iat_ago,
        "jti": jti or str(uuid.uuid4()),
    }
    hdr = {"alg": alg, "typ": "JWT", "kid": key.kid, **(header or {})}
    return jwt.encode(hdr, claims, key, algorithms=[alg])


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def unsigned_token() -> str:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    return f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}."


@pytest.fixture
def secured(make_app: Callable[..., Flask]) -> Flask:
    return make_app(
        JWT_VERIFY=True, JWT_ISSUERS={ISS: {"jwks": JWKS}}, PUBLIC_BASE_URL="http://localhost"
    )


@pytest.fixture(scope="module")
def body() -> dict[str, Any]:
    resources = long_record("sec1", observations=20)
    return hook_body("sec1", prefetch=full_prefetch(resources))


def call(app: Flask, bearer: str | None, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer is not None else {}
    return app.test_client().post(HOOK_PATH, json=body, headers=headers)


@pytest.mark.parametrize(("key", "alg"), [(EC, "ES384"), (RSA, "RS384")])
def test_valid_tokens_are_accepted(secured: Flask, body: dict, key: Any, alg: str) -> None:
    response = call(secured, token(key, alg), body)
    assert response.status_code == 200
    assert response.json["cards"][0]["extension"]["org.igg4cds.assessment"]["status"] == "candidate"


def test_audience_may_be_an_array(secured: Flask, body: dict) -> None:
    assert call(secured, token(aud=["https://other.example", AUD]), body).status_code == 200


@pytest.mark.parametrize(
    ("make", "why"),
    [
        (lambda: None, "bearer token required"),
        (lambda: "not-a-jwt", "malformed"),
        (unsigned_token, "algorithm"),
        (
            lambda: jwt.encode(
                {"alg": "HS256"},
                {"iss": ISS, "aud": AUD, "exp": int(time.time()) + 60, "iat": 0, "jti": "x"},
                OctKey.import_key("shared-secret-shared-secret-32b!"),
            ),
            "algorithm",
        ),
        (lambda: token(exp_in=-120), "exp"),
        (lambda: token(aud="https://other.example/cds-services/x"), "aud"),
        (lambda: token(iss="https://stranger.example"), "issuer not trusted"),
        (lambda: token(OTHER_EC), "signature"),
        (lambda: token(exp_in=3600), "lifetime"),
        (lambda: token(header={"jku": "https://attacker.example/jwks.json"}), "jku"),
        (lambda: token(RSA, "RS256"), "algorithm"),
    ],
    ids=[
        "missing",
        "garbage",
        "unsigned-none",
        "hmac",
        "expired",
        "wrong-audience",
        "unknown-issuer",
        "foreign-key",
        "too-long-lived",
        "jku-off-list",
        "rs256-not-allowed",
    ],
)
def test_bad_tokens_are_refused(secured: Flask, body: dict, make: Any, why: str) -> None:
    with responses.RequestsMock() as mock:  # no JWKS fetch, no FHIR call happens
        response = call(secured, make(), body)
        assert len(mock.calls) == 0
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert why in response.json["message"]


def test_replayed_token_is_refused(secured: Flask, body: dict) -> None:
    once = token()
    assert call(secured, once, body).status_code == 200
    again = call(secured, once, body)
    assert again.status_code == 401
    assert "replay" in again.json["message"]


def test_missing_jti_is_refused(secured: Flask, body: dict) -> None:
    now = int(time.time())
    claims = {"iss": ISS, "aud": AUD, "exp": now + 60, "iat": now}
    bare = jwt.encode({"alg": "ES384", "kid": "ec-1"}, claims, EC, algorithms=["ES384"])
    assert call(secured, bare, body).status_code == 401


def test_feedback_needs_a_token_and_discovery_does_not(secured: Flask) -> None:
    client = secured.test_client()
    assert client.get("/cds-services").status_code == 200
    assert client.post(f"{HOOK_PATH}/feedback", json={"feedback": []}).status_code == 401
    ok = client.post(
        f"{HOOK_PATH}/feedback",
        json={"feedback": []},
        headers={"Authorization": f"Bearer {token(aud=f'{AUD}/feedback')}"},
    )
    assert ok.status_code == 200


@responses.activate
def test_keys_from_the_issuers_jwks_url_and_an_allowed_jku(
    make_app: Callable[..., Flask], body: dict
) -> None:
    jwks_url = "https://ehr.example.org/.well-known/jwks.json"
    rotated = "https://ehr.example.org/keys/2.json"
    responses.get(jwks_url, json={"keys": [EC.as_dict(private=False)]})
    responses.get(rotated, json={"keys": [RSA.as_dict(private=False)]})
    app = make_app(
        JWT_VERIFY=True,
        JWT_ISSUERS={ISS: {"jwks_url": jwks_url, "jku": [rotated]}},
        PUBLIC_BASE_URL="http://localhost",
    )
    assert call(app, token(), body).status_code == 200
    assert call(app, token(RSA, "RS384", header={"jku": rotated}), body).status_code == 200
    assert call(app, token(), body).status_code == 200  # cached: no second fetch
    assert [c.request.url for c in responses.calls] == [jwks_url, rotated]


def test_replay_store_in_the_database_is_shared_between_verifiers(tmp_path: Any) -> None:
    from cds_service.db import upgrade

    url = f"sqlite:///{tmp_path}/replay.db"
    upgrade(url)
    sessions = make_session_factory(make_engine(url))
    first = JwtVerifier({ISS: {"jwks": JWKS}}, replay_store=DbReplayStore(sessions))
    second = JwtVerifier({ISS: {"jwks": JWKS}}, replay_store=DbReplayStore(sessions))
    once = token()
    assert first.verify(f"Bearer {once}", [AUD])["iss"] == ISS
    with pytest.raises(JwtError, match="replay"):
        second.verify(f"Bearer {once}", [AUD])


def test_symmetric_algorithms_cannot_be_configured(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="HS256"):
        make_app(JWT_VERIFY=True, JWT_ALGORITHMS=["ES384", "HS256"])


def test_fhir_server_off_the_allowlist_is_never_contacted(make_app: Callable[..., Flask]) -> None:
    app = make_app(FHIR_SERVER_ALLOWLIST=["https://ehr.example.org/fhir"])
    body = hook_body(
        "p1",
        fhirServer="http://169.254.169.254/latest/meta-data",
        fhirAuthorization={"access_token": "t", "token_type": "Bearer"},
    )
    with responses.RequestsMock() as mock:  # any outgoing request would fail the test
        response = app.test_client().post(HOOK_PATH, json=body)
        assert len(mock.calls) == 0
    assert response.status_code == 412
    assert "allow-list" in response.json["message"]
