"""Trusting CDS clients: JWT bearer verification (CDS Hooks 2.0) and replay protection."""

from cds_service.security.jwt import (
    DbReplayStore,
    JwksFetcher,
    JwtError,
    JwtVerifier,
    MemoryReplayStore,
    ReplayStore,
)

__all__ = [
    "DbReplayStore",
    "JwksFetcher",
    "JwtError",
    "JwtVerifier",
    "MemoryReplayStore",
    "ReplayStore",
]
