"""Trusting CDS clients: JWT bearer verification (CDS Hooks 2.0) and replay protection."""

from cds_service.security.jwt import (
    SANDBOX_ISSUER_FILE,
    DbReplayStore,
    JwksFetcher,
    JwtError,
    JwtVerifier,
    MemoryReplayStore,
    ReplayStore,
    load_issuers,
)

__all__ = [
    "SANDBOX_ISSUER_FILE",
    "DbReplayStore",
    "JwksFetcher",
    "JwtError",
    "JwtVerifier",
    "MemoryReplayStore",
    "ReplayStore",
    "load_issuers",
]
