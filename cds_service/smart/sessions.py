"""Server-side sessions of the SMART app, where the access token lives.

The browser's cookie holds only a random session id and a random key: the store (process memory,
or Redis for several workers) holds the session encrypted with that key (AES-GCM), under a hash of
the id. Neither the cookie nor the store alone reveals a token; nothing goes to the database or a
log. Each entry expires with what it holds: a pending launch after ``SMART_LAUNCH_TIMEOUT_S``, a
launched app with its access token's expiry.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

COOKIE_NAME = "igg4_smart"
_PREFIX = "igg4-cds:smart-session:"
MAX_MEMORY_SESSIONS = 20000

Clock = Callable[[], float]


class Store(Protocol):
    def get(self, key: str) -> bytes | None: ...
    def put(self, key: str, blob: bytes, expires_at: float) -> None: ...
    def delete(self, key: str) -> None: ...


class MemoryStore:
    """One process's sessions (the default; a single worker or tests)."""

    def __init__(self, clock: Clock) -> None:
        self._clock = clock
        self._items: dict[str, tuple[float, bytes]] = {}
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] <= self._clock():
                del self._items[key]
                return None
            return item[1]

    def put(self, key: str, blob: bytes, expires_at: float) -> None:
        with self._lock:
            if len(self._items) >= MAX_MEMORY_SESSIONS:
                self._prune()
            self._items[key] = (expires_at, blob)

    def delete(self, key: str) -> None:
        with self._lock:
            self._items.pop(key, None)

    def _prune(self) -> None:
        now = self._clock()
        for key in [k for k, (exp, _) in self._items.items() if exp <= now]:
            del self._items[key]
        if len(self._items) >= MAX_MEMORY_SESSIONS:  # still full: drop the soonest to expire
            for key, _ in sorted(self._items.items(), key=lambda kv: kv[1][0])[:1000]:
                del self._items[key]

    def __len__(self) -> int:
        return len(self._items)


class RedisStore:
    """Sessions shared by every worker; Redis expires each entry with its content."""

    def __init__(self, url: str, clock: Clock) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        self._clock = clock

    def get(self, key: str) -> bytes | None:
        value = self._redis.get(key)
        return value if isinstance(value, bytes) else None

    def put(self, key: str, blob: bytes, expires_at: float) -> None:
        ttl_ms = int((expires_at - self._clock()) * 1000)
        if ttl_ms <= 0:
            self._redis.delete(key)
        else:
            self._redis.set(key, blob, px=ttl_ms)

    def delete(self, key: str) -> None:
        self._redis.delete(key)


def make_store(spec: str, clock: Clock) -> Store:
    return MemoryStore(clock) if spec == "memory" else RedisStore(spec, clock)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Session:
    """``pending``: launches awaiting their callback, by OAuth ``state``; ``apps``: launched app
    contexts (token, patient, scopes), by a random id that appears in the page's URL."""

    sid: str
    key: bytes
    pending: dict[str, dict[str, Any]] = field(default_factory=dict)
    apps: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def cookie_value(self) -> str:
        return f"{self.sid}.{_b64(self.key)}"

    def expires_at(self) -> float:
        times = [float(p["expires_at"]) for p in self.pending.values()]
        times += [float(a["expires_at"]) for a in self.apps.values()]
        return max(times, default=0.0)

    def prune(self, now: float) -> None:
        self.pending = {k: v for k, v in self.pending.items() if float(v["expires_at"]) > now}
        self.apps = {k: v for k, v in self.apps.items() if float(v["expires_at"]) > now}


class Sessions:
    def __init__(self, store: Store, clock: Clock = time.time) -> None:
        self.store = store
        self.clock = clock

    @staticmethod
    def _store_key(sid: str) -> str:
        return _PREFIX + hashlib.sha256(sid.encode()).hexdigest()

    def new(self) -> Session:
        return Session(sid=secrets.token_urlsafe(32), key=AESGCM.generate_key(bit_length=256))

    def load(self, cookie: str | None) -> Session | None:
        """The cookie's session, with expired entries dropped; None if absent, expired, forged."""
        if not cookie or "." not in cookie or len(cookie) > 200:
            return None
        sid, _, key_text = cookie.partition(".")
        try:
            key = _unb64(key_text)
        except ValueError:
            return None
        if len(key) != 32:
            return None
        store_key = self._store_key(sid)
        blob = self.store.get(store_key)
        if blob is None or len(blob) < 13:
            return None
        try:
            plain = AESGCM(key).decrypt(blob[:12], blob[12:], store_key.encode())
        except InvalidTag:
            return None
        data = orjson.loads(plain)
        session = Session(sid=sid, key=key, pending=data["pending"], apps=data["apps"])
        session.prune(self.clock())
        return session

    def save(self, session: Session) -> None:
        session.prune(self.clock())
        store_key = self._store_key(session.sid)
        expires = session.expires_at()
        if expires <= self.clock():
            self.store.delete(store_key)
            return
        nonce = secrets.token_bytes(12)
        plain = orjson.dumps({"pending": session.pending, "apps": session.apps})
        blob = nonce + AESGCM(session.key).encrypt(nonce, plain, store_key.encode())
        self.store.put(store_key, blob, expires)

    def rotate(self, session: Session) -> Session:
        """The same content under a new id and key (after sign-in: no session fixation)."""
        self.store.delete(self._store_key(session.sid))
        fresh = self.new()
        fresh.pending, fresh.apps = session.pending, session.apps
        return fresh

    def delete(self, session: Session) -> None:
        self.store.delete(self._store_key(session.sid))
