"""Access tokens for a population screen: a static bearer token, or SMART Backend Services.

SMART Backend Services (client credentials with a signed JWT, HL7 SMART App Launch 2.x): the client
signs a short-lived assertion (``iss`` = ``sub`` = client id, ``aud`` = token URL, ``jti``, ``exp``
within 5 minutes) with its private key (RS384 or ES384) and trades it for an access token, which is
cached in memory until shortly before it expires. Tokens are never logged or written anywhere.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Protocol

import requests
from joserfc import jwk, jwt

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DEFAULT_SCOPE = (
    "system/Patient.rs system/Observation.rs system/Condition.rs system/MedicationRequest.rs "
    "system/MedicationStatement.rs system/Medication.rs system/Procedure.rs "
    "system/ResearchSubject.rs"
)


class AuthError(Exception):
    """The token endpoint refused or could not be reached. The message holds no secret."""


class TokenProvider(Protocol):
    def token(self) -> str | None: ...

    def invalidate(self) -> None: ...


class StaticToken:
    def __init__(self, token: str | None) -> None:
        self._token = token

    def token(self) -> str | None:
        return self._token

    def invalidate(self) -> None:
        """A static token cannot be renewed."""


def discover_token_url(fhir_base: str, session: requests.Session | None = None) -> str:
    """``token_endpoint`` from the server's ``.well-known/smart-configuration``."""
    http = session or requests.Session()
    try:
        r = http.get(
            f"{fhir_base.rstrip('/')}/.well-known/smart-configuration",
            timeout=10,
            headers={"Accept": "application/json"},
        )
        r.raise_for_status()
        url = r.json().get("token_endpoint")
    except (requests.RequestException, ValueError) as exc:
        raise AuthError(f"SMART configuration not readable: {type(exc).__name__}") from exc
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise AuthError("SMART configuration has no token_endpoint")
    return url


class SmartBackendAuth:
    """Client-credentials tokens obtained with a JWT signed by the client's private key."""

    def __init__(
        self,
        *,
        token_url: str,
        client_id: str,
        private_key_pem: bytes,
        alg: str = "RS384",
        kid: str | None = None,
        scope: str = DEFAULT_SCOPE,
        session: requests.Session | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if alg not in ("RS384", "ES384"):
            raise AuthError("SMART Backend Services signs with RS384 or ES384")
        self.token_url = token_url
        self.client_id = client_id
        self.alg = alg
        self.kid = kid
        self.scope = scope
        self._key = jwk.import_key(private_key_pem, "RSA" if alg == "RS384" else "EC")
        self._session = session or requests.Session()
        self._clock = clock
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires = 0.0

    def assertion(self) -> str:
        now = int(self._clock())
        header = {"alg": self.alg, "typ": "JWT"}
        if self.kid:
            header["kid"] = self.kid
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": self.token_url,
            "exp": now + 300,
            "iat": now,
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(header, claims, self._key, algorithms=[self.alg])

    def token(self) -> str | None:
        with self._lock:
            if self._token is None or self._clock() >= self._expires - 60:
                self._fetch()
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _fetch(self) -> None:
        data = {
            "grant_type": "client_credentials",
            "scope": self.scope,
            "client_assertion_type": ASSERTION_TYPE,
            "client_assertion": self.assertion(),
        }
        try:
            r = self._session.post(
                self.token_url, data=data, timeout=20, headers={"Accept": "application/json"}
            )
        except requests.RequestException as exc:
            raise AuthError(f"token endpoint unreachable: {type(exc).__name__}") from exc
        if r.status_code != 200:
            raise AuthError(f"token endpoint refused the client: HTTP {r.status_code}")
        try:
            body = r.json()
        except ValueError as exc:
            raise AuthError("token endpoint answered without JSON") from exc
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError("token endpoint answered without an access_token")
        expires_in = body.get("expires_in", 300)
        self._token = token
        self._expires = self._clock() + (
            float(expires_in) if isinstance(expires_in, int | float) else 300.0
        )
