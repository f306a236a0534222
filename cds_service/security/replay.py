"""Where the JWT ids already accepted are kept (replay protection), for the service's workers.

- ``RedisReplayStore``: ``SET key 1 NX PXAT exp`` in Redis, when ``JWT_REPLAY_STORE`` is a
  ``redis://`` URL: one round trip, atomic across every worker and instance.
- the database (``jwt.DbReplayStore``, the default): one atomic insert.
- ``DegradingReplayStore`` wraps either: every id is also kept in the worker's memory, so that a
  replay to the same worker is refused without a round trip; and when the shared store cannot be
  reached, the hook is not refused for it (never fail closed on a clinician): the token, already
  verified (signature, issuer, audience, expiry), is checked against this worker's memory only,
  and the outage is logged and counted.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from cds_service.security.jwt import ReplayStore

log = logging.getLogger("igg4_cds.security")


class LocalReplayMemory:
    """This process's ids, expired ones dropped every ``purge_every_s`` (not on every call)."""

    def __init__(self, purge_every_s: float = 30.0) -> None:
        self._seen: dict[tuple[str, str], float] = {}
        self._lock = threading.Lock()
        self._purge_every = purge_every_s
        self._next_purge = time.monotonic() + purge_every_s

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = (issuer, jti)
        now = time.time()
        with self._lock:
            if time.monotonic() >= self._next_purge:
                self._next_purge = time.monotonic() + self._purge_every
                self._seen = {k: v for k, v in self._seen.items() if v > now}
            seen = self._seen.get(key)
            if seen is not None and seen > now:
                return False
            self._seen[key] = expires_at
            return True


class RedisReplayStore:
    def __init__(self, url: str, prefix: str = "igg4-cds:jti:") -> None:
        import redis

        self._redis: Any = redis.Redis.from_url(url, socket_timeout=1.0, socket_connect_timeout=1.0)
        self._prefix = prefix

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        key = f"{self._prefix}{issuer[:512]}\x00{jti[:256]}"
        expires_ms = max(int(expires_at * 1000), int(time.time() * 1000) + 1000)
        return bool(self._redis.set(key, b"1", nx=True, pxat=expires_ms))


class DegradingReplayStore:
    """The shared store, remembered locally too; the local memory alone while it is away."""

    def __init__(
        self, shared: ReplayStore, health: Any, *, unavailable: tuple[type[BaseException], ...]
    ) -> None:
        self.shared = shared
        self.local = LocalReplayMemory()
        self.health = health
        self._unavailable = unavailable

    def remember(self, issuer: str, jti: str, expires_at: float) -> bool:
        if not self.local.remember(issuer, jti, expires_at):
            return False  # seen by this worker: a replay, whatever the shared store says
        if not self.health.available():
            return True
        try:
            fresh = self.shared.remember(issuer, jti, expires_at)
        except self._unavailable:
            self.health.failed("jwt-replay")
            return True
        self.health.ok()
        return fresh
