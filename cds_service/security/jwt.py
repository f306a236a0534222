"""Verification of the JWT a CDS client sends as ``Authorization: Bearer`` (CDS Hooks 2.0).

Asymmetric algorithms only (ES384 and RS384 by default; ``none`` and HMAC are refused), ``iss``
on an allow-list with its keys (a JWK Set inline in configuration or fetched from its URL; a ``jku``
header must name an allow-listed URL of that issuer), ``aud`` = the URL of the endpoint called, ``exp``,
``iat`` and ``jti`` required, a bounded lifetime, and each ``jti`` accepted once (replay).
Signature and claims are checked by joserfc, a maintained JOSE library.

Keys pinned offline: an issuer configured with both an inline ``jwks`` and allowed ``jku`` URLs
verifies a token that names an allowed ``jku`` with the pinned key whose ``kid`` the token names,
without fetching (a site without internet access can trust a client whose ``jku`` it cannot reach).
A ``kid`` that is not pinned is looked up at the ``jku`` as before.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import orjson
import requests
import yaml
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jws import extract_compact
from sqlalchemy import delete, insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from cds_service.db.feedback import SeenJwt

EXAMPLE_ISSUERS = Path(__file__).with_name("issuers")
SANDBOX_ISSUER_FILE = EXAMPLE_ISSUERS / "cds-hooks-sandbox.yaml"


def load_issuers(path: str | Path) -> dict[str, dict[str, Any]]:
    """A YAML file of ``JWT_ISSUERS`` entries (``{iss: {jwks, jku, jwks_url}}``)."""
    data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise ValueError(f"{path}: a mapping of issuer to its keys is expected")
    return {str(k): dict(v) for k, v in data.items()}


class JwtError(Exception):
    """The bearer token is refused. The message is safe to return and to log (no token content)."""


class ReplayStore(Protocol):
    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        """Record (issuer, jti); False when it was already seen (a replay)."""


class MemoryReplayStore:
    """Per-process store, for tests and single-process development servers."""

    def __init__(self) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        now = time.time()
        with self._lock:
            self._seen = {k: v for k, v in self._seen.items() if v > now}
            if (issuer, jti) in self._seen:
                return False
            self._seen[(issuer, jti)] = expires_at
            return True


class DbReplayStore:
    """Shared by every worker and instance through the database's primary key (issuer, jti).

    One atomic statement per token (an insert that does nothing on conflict, in its own short
    transaction): the first process to insert a jti wins, a replay finds it there. Expired ids are
    purged now and then by a separate statement."""

    PURGE_EVERY_S = 60.0

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self._sessions = sessions
        self._last_purge = 0.0

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        now = time.time()
        engine = self._sessions.kw["bind"]
        values = {
            "issuer": issuer[:512],
            "jti": jti[:256],
            "expires_at": datetime.fromtimestamp(expires_at, UTC),
        }
        with engine.begin() as conn:
            if now - self._last_purge > self.PURGE_EVERY_S:
                self._last_purge = now
                conn.execute(
                    delete(SeenJwt).where(SeenJwt.expires_at < datetime.fromtimestamp(now, UTC))
                )
            if conn.dialect.name in ("postgresql", "sqlite"):
                mod = postgresql if conn.dialect.name == "postgresql" else sqlite
                stmt = (
                    mod.insert(SeenJwt)
                    .values(**values)
                    .on_conflict_do_nothing()
                    .returning(SeenJwt.jti)
                )
                return conn.execute(stmt).first() is not None
        try:
            with engine.begin() as conn:
                conn.execute(insert(SeenJwt).values(**values))
        except IntegrityError:
            return False
        return True


class JwksFetcher:
    """Fetches and caches JWK Sets from allow-listed URLs (short timeout, bounded size)."""

    MAX_BYTES = 256 * 1024

    def __init__(self, cache_seconds: float = 300.0, timeout_s: float = 2.0) -> None:
        self._cache: dict[str, tuple[float, KeySet]] = {}
        self._lock = threading.Lock()
        self._ttl = cache_seconds
        self._timeout = timeout_s

    def get(self, url: str, *, refresh: bool = False) -> KeySet:
        with self._lock:
            hit = self._cache.get(url)
        if hit and not refresh and time.monotonic() - hit[0] < self._ttl:
            return hit[1]
        try:
            with requests.get(
                url,
                timeout=self._timeout,
                allow_redirects=False,
                headers={"Accept": "application/json"},
                stream=True,
            ) as response:
                body = response.raw.read(self.MAX_BYTES + 1, decode_content=True)
                if response.status_code != 200 or len(body) > self.MAX_BYTES:
                    raise JwtError("issuer's JWK Set could not be fetched")
            keys = KeySet.import_key_set(orjson.loads(body))
        except (requests.RequestException, orjson.JSONDecodeError, JoseError, ValueError) as exc:
            raise JwtError("issuer's JWK Set could not be fetched") from exc
        with self._lock:
            self._cache[url] = (time.monotonic(), keys)
        return keys


@dataclass(frozen=True, slots=True)
class Issuer:
    name: str
    keys: KeySet | None  # inline JWK Set from configuration
    jwks_url: str | None
    jku: frozenset[str]  # URLs a token's "jku" header may name

    @classmethod
    def from_config(cls, name: str, spec: Mapping[str, Any]) -> Issuer:
        inline = spec.get("jwks")
        keys = KeySet.import_key_set(inline) if inline else None
        jwks_url = spec.get("jwks_url")
        if keys is None and not jwks_url:
            raise ValueError(f"JWT issuer {name!r} needs 'jwks' or 'jwks_url'")
        allowed_jku = set(spec.get("jku") or [])
        if jwks_url:
            allowed_jku.add(jwks_url)
        return cls(name, keys, jwks_url, frozenset(allowed_jku))


class JwtVerifier:
    def __init__(
        self,
        issuers: Mapping[str, Mapping[str, Any]],
        *,
        replay_store: ReplayStore,
        algorithms: Collection[str] = ("ES384", "RS384"),
        leeway_s: int = 60,
        max_lifetime_s: int = 600,
        fetcher: JwksFetcher | None = None,
    ) -> None:
        refused = {a for a in algorithms if a == "none" or a.upper().startswith("HS")}
        if refused:
            raise ValueError(f"algorithms not allowed for CDS client JWTs: {sorted(refused)}")
        self.issuers = {name: Issuer.from_config(name, spec) for name, spec in issuers.items()}
        self.algorithms = list(algorithms)
        self.leeway = leeway_s
        self.max_lifetime = max_lifetime_s
        self.replay = replay_store
        self.fetcher = fetcher or JwksFetcher()

    def verify(self, authorization: str | None, audiences: Collection[str]) -> dict[str, Any]:
        """The verified claims of the request's bearer token, or ``JwtError``."""
        token = _bearer(authorization)
        try:
            unverified = extract_compact(token.encode("ascii"))
            header = unverified.headers()
            claims_unverified = orjson.loads(unverified.payload)
        except (JoseError, ValueError, UnicodeError) as exc:
            raise JwtError("malformed token") from exc
        alg = header.get("alg")
        if alg not in self.algorithms:
            raise JwtError("signing algorithm not allowed")
        typ = header.get("typ")
        if typ is not None and str(typ).upper() != "JWT":
            raise JwtError("token type is not JWT")
        iss = claims_unverified.get("iss") if isinstance(claims_unverified, dict) else None
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:
            raise JwtError("issuer not trusted")
        claims = self._decode(token, issuer, header)
        self._check_claims(claims, issuer.name, audiences)
        if not self.replay.remember(issuer.name, claims["jti"], float(claims["exp"])):
            raise JwtError("token already used (jti replay)")
        return claims

    def _keys(
        self, issuer: Issuer, header: Mapping[str, Any], refresh: bool
    ) -> tuple[KeySet, bool]:
        """The keys to verify with, and whether they were fetched (so may be refreshed)."""
        jku = header.get("jku")
        if jku is not None:
            if jku not in issuer.jku:
                raise JwtError("jku not on the issuer's allow-list")
            if _pinned(issuer.keys, header.get("kid")):
                assert issuer.keys is not None
                return issuer.keys, False
            return self.fetcher.get(jku, refresh=refresh), True
        if issuer.keys is not None:
            return issuer.keys, False
        assert issuer.jwks_url is not None
        return self.fetcher.get(issuer.jwks_url, refresh=refresh), True

    def _decode(self, token: str, issuer: Issuer, header: Mapping[str, Any]) -> dict[str, Any]:
        for refresh in (False, True):  # a kid we do not know yet: the issuer may have rotated keys
            keys, fetched = self._keys(issuer, header, refresh)
            try:
                return dict(jwt.decode(token, keys, algorithms=self.algorithms).claims)
            except JoseError as exc:
                if exc.error == "invalid_key_id" and fetched and not refresh:
                    continue
                raise JwtError("signature not valid for the issuer's keys") from exc
        raise JwtError("signature not valid for the issuer's keys")

    def _check_claims(self, claims: dict[str, Any], iss: str, audiences: Collection[str]) -> None:
        registry = jwt.JWTClaimsRegistry(
            leeway=self.leeway,
            iss={"essential": True, "value": iss},
            aud={"essential": True, "values": list(audiences)},
            exp={"essential": True},
            iat={"essential": True},
            jti={"essential": True},
        )
        try:
            registry.validate(claims)
        except JoseError as exc:
            name = getattr(exc, "claim", None) or exc.error
            raise JwtError(f"claim check failed: {name}") from exc
        if float(claims["exp"]) - float(claims["iat"]) > self.max_lifetime:
            raise JwtError("token lifetime too long")


def _pinned(keys: KeySet | None, kid: Any) -> bool:
    """Whether the inline (pinned) key set holds the key the token names by ``kid``."""
    return keys is not None and isinstance(kid, str) and any(k.kid == kid for k in keys.keys)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise JwtError("bearer token required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise JwtError("bearer token required")
    return token.strip()
