"""What the hook needs at hand, built once per application from its configuration."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import requests
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from cds_service import metrics
from cds_service.eligibility import Params, assess_resources, load_params
from cds_service.fhir_client import Allowlist, FhirLimits, new_session
from cds_service.hooks.suppression import record_card
from cds_service.hooks.templates import prefetch_templates
from cds_service.hooks.writes import RETRYABLE, DbHealth, HookWrites
from cds_service.security import DbReplayStore, JwksFetcher, JwtVerifier
from cds_service.security.jwt import ReplayStore
from cds_service.security.replay import DegradingReplayStore, RedisReplayStore
from fhir_mappings.summary import MrnRule

log = logging.getLogger("igg4_cds.hooks")

# listener(fhir_server, assessment, source, handoff): ``handoff`` is plain JSON-able data that
# travels with the assessment (fhir_mappings.summary.handoff: the patient's contact summary and
# what each cited resource says), or None.
Listener = Callable[[str, dict[str, Any], str, dict[str, Any] | None], None]
LISTENERS_KEY = "igg4_assessment_listeners"
# referral_listener(fhir_server, patient_id, user_id, at): a clinician accepted the card's
# referral suggestion (user_id: the hook's context.userId when known).
REFERRAL_LISTENERS_KEY = "igg4_referral_listeners"
ReferralListener = Callable[[str, str, str | None, datetime], None]


@dataclass(slots=True)
class HookState:
    config: Mapping[str, Any]
    allowlist: Allowlist
    limits: FhirLimits
    templates: dict[str, str]
    params: Params
    sessions: sessionmaker[Session]
    verifier: JwtVerifier | None  # None: JWT verification off (development only)
    http: requests.Session  # shared connection pool to FHIR servers; cookies refused
    mrn_rule: MrnRule  # which identifier the worklist hand-off names as the MRN
    health: DbHealth  # whether the database answered lately (the hook degrades without it)
    writes: HookWrites  # the hook's database writes, stored by a writer thread


def build_state(
    config: Mapping[str, Any],
    sessions: sessionmaker[Session],
    *,
    listeners: list[Listener] | None = None,
    instance_path: str | None = None,
) -> HookState:
    """``listeners``: the assessment listeners (the list the application keeps; the worklist adds
    its own later); ``instance_path``: where the hook's outbox goes for a server database."""
    limits = FhirLimits.from_config(config)
    health = DbHealth()
    handed_to = listeners if listeners is not None else []
    writes = HookWrites(
        sessions,
        lambda: handed_to,
        record_card,
        outbox_dir=outbox_dir(config, instance_path),
        wait_s=float(config["HOOK_WRITE_WAIT_S"]),
        health=health,
        max_bytes=int(float(config["HOOK_OUTBOX_MAX_MB"]) * 1024 * 1024),
    )
    verifier = None
    if config["JWT_VERIFY"]:
        verifier = JwtVerifier(
            config["JWT_ISSUERS"],
            replay_store=replay_store(config, sessions, health),
            algorithms=config["JWT_ALGORITHMS"],
            leeway_s=int(config["JWT_LEEWAY_S"]),
            max_lifetime_s=int(config["JWT_MAX_LIFETIME_S"]),
            fetcher=JwksFetcher(cache_seconds=float(config["JWKS_CACHE_S"])),
        )
    http = new_session(limits.max_workers * 4)  # shared by the threads of this worker
    metrics.instrument_session(http)
    params = load_params(config["IGG4_PARAMS_FILE"])
    _warm_up(params)
    return HookState(
        config=config,
        allowlist=Allowlist(config["FHIR_SERVER_ALLOWLIST"]),
        limits=limits,
        templates=prefetch_templates(observations_by_code=config["PREFETCH_OBSERVATIONS_BY_CODE"]),
        params=params,
        sessions=sessions,
        verifier=verifier,
        http=http,
        mrn_rule=MrnRule.from_config(config["MRN_IDENTIFIER"]),
        health=health,
        writes=writes,
    )


def replay_store(
    config: Mapping[str, Any], sessions: sessionmaker[Session], health: DbHealth
) -> ReplayStore:
    """JWT ids in Redis or the database, kept in memory too, never failing closed (replay.py)."""
    url = str(config["JWT_REPLAY_STORE"])
    unavailable: tuple[type[BaseException], ...] = RETRYABLE
    shared: ReplayStore
    if url == "database":
        shared = DbReplayStore(sessions)
    else:
        import redis

        shared = RedisReplayStore(url)
        unavailable = (*RETRYABLE, redis.RedisError)
    return DegradingReplayStore(shared, health, unavailable=unavailable)


def outbox_dir(config: Mapping[str, Any], instance_path: str | None) -> Path | None:
    """Where the hook's writes wait until stored: ``HOOK_OUTBOX_DIR``, else beside a SQLite
    database file, else ``<instance>/outbox``, one folder per database (records of one database
    are never replayed into another)."""
    configured = config.get("HOOK_OUTBOX_DIR")
    if configured == "" or configured is False:
        return None
    url = str(config.get("DATABASE_URL") or "")
    tag = hashlib.sha256(url.encode()).hexdigest()[:16]
    if configured:
        return Path(str(configured)) / tag
    if url.startswith("sqlite:///") and url.removeprefix("sqlite:///") not in ("", ":memory:"):
        return Path(url.removeprefix("sqlite:///") + ".outbox")
    if url.startswith("sqlite"):
        return None  # an in-memory database: nothing would outlive the process anyway
    return Path(instance_path or "instance") / "outbox" / tag


def _warm_up(params: Params) -> None:
    """Load the engine's value sets and unit tables now, not during the first clinician's hook."""
    igg4 = {
        "resourceType": "Observation",
        "id": "warm-up-igg4",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
        "subject": {"reference": "Patient/warm-up"},
        "effectiveDateTime": "2025-06-01",
        "valueQuantity": {"value": 150, "unit": "mg/dL", "system": "http://unitsofmeasure.org"},
    }
    assess_resources(
        [{"resourceType": "Patient", "id": "warm-up"}, igg4],
        as_of=date(2026, 1, 1),
        params=params,
        patient_ref="Patient/warm-up",
    )


def get_state(app: Flask) -> HookState:
    state: HookState = app.extensions["igg4_hooks"]
    return state


def notify_listeners(
    app: Flask,
    fhir_server: str,
    assessment: dict[str, Any],
    source: str,
    handoff: dict[str, Any] | None = None,
) -> None:
    """Call every registered listener; a failing listener is logged (type only) and never raised."""
    for listener in list(app.extensions.setdefault(LISTENERS_KEY, [])):
        try:
            listener(fhir_server, assessment, source, handoff)
        except Exception as exc:  # a listener must never break the hook
            log.error(
                "assessment listener %s failed: %s",
                getattr(listener, "__qualname__", type(listener).__name__),
                type(exc).__name__,
            )


def notify_referral(
    app: Flask, fhir_server: str, patient_id: str, user_id: str | None, at: datetime
) -> None:
    """Tell every referral listener (the worklist) that a clinician referred the patient; a
    failing listener is logged (type only) and never raised: the feedback is stored already."""
    for listener in list(app.extensions.setdefault(REFERRAL_LISTENERS_KEY, [])):
        try:
            listener(fhir_server, patient_id, user_id, at)
        except Exception as exc:
            log.error("referral listener failed: %s", type(exc).__name__)
