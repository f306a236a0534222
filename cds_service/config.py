"""Configuration of the service: defaults, then a YAML/JSON file, then environment, then code.

Order of precedence (last wins): ``DEFAULTS``; the file named by ``IGG4_CDS_CONFIG`` (or passed to
``igg4-cds serve --config``); environment variables ``IGG4_CDS_<KEY>`` (values parsed as YAML, so
``IGG4_CDS_FHIR_SERVER_ALLOWLIST='[https://fhir.example.org/r4]'`` is a list), plus ``IGG4_AS_OF``
under its own name; the mapping passed to ``create_app``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from cds_service.i18n.locales import check_default
from fhir_mappings.units import DEFAULT_MAX_UNIT_LENGTH, MAX_UNIT_LENGTH_CEILING

ENV_PREFIX = "IGG4_CDS_"

DEFAULTS: dict[str, Any] = {
    # Where the service keeps its files when no other place is configured (the SQLite database,
    # a generated secret key). None: Flask's instance folder (./instance in a checkout, or
    # <prefix>/var/cds_service.app-instance when installed). Must be writable by the service.
    "INSTANCE_PATH": None,
    # Database (cds_service.db). None: a SQLite file in the instance folder.
    "DATABASE_URL": None,
    "DATABASE_AUTO_UPGRADE": True,  # apply Alembic migrations at start-up
    # FHIR servers this service may call. fhirServer in a hook request is untrusted (no SSRF):
    # anything not listed here is never contacted.
    "FHIR_SERVER_ALLOWLIST": [],
    "FHIR_TIME_BUDGET_S": 2.0,  # total for all FHIR requests of one hook call
    "FHIR_MAX_RESPONSE_BYTES": 20 * 1024 * 1024,  # per response body
    "FHIR_MAX_PAGES": 100,  # per search (Bundle.link "next" pages)
    "FHIR_MAX_WORKERS": 6,  # parallel searches per hook call
    "FHIR_PAGE_SIZE": 200,  # _count sent with every search
    # Input limits (cds_service.limits): a request over one is refused with 413 and a message
    # naming the setting. A 5,000-Observation prefetch is about 4 MiB.
    "MAX_REQUEST_BYTES": 16 * 1024 * 1024,  # a hook call's body (and any request without a limit)
    "FEEDBACK_MAX_BYTES": 256 * 1024,  # a feedback call's body
    "FEEDBACK_MAX_ITEMS": 100,  # feedback entries in one call
    "MAX_RESOURCES_PER_PATIENT": 20_000,  # prefetch, fetched for one hook, or an uploaded Bundle
    # What the hook answers when data it needs cannot be had from an allowed fhirServer that failed
    # (unreachable, 401/403, timeout, 5xx, malformed): "card" (a card saying the check could not be
    # completed) or "412". A request that cannot be served at all (no usable fhirServer and missing
    # prefetch) always gets 412, as CDS Hooks 2.0 requires.
    "FETCH_FAILURE_RESPONSE": "card",
    # Screening
    "IGG4_AS_OF": None,  # "YYYY-MM-DD" pins the screening date; None = today (UTC)
    "IGG4_PARAMS_FILE": None,  # trial parameters; None = IGG4_CDS_PARAMS env or built-in defaults
    "SHOW_INELIGIBLE_CARD": False,
    "OVERRIDE_SUPPRESS_DAYS": 30,  # overridden card hidden so long unless the assessment changes
    # Whose dismissal hides the card: "user" (the clinician who dismissed, by the hook's
    # context.userId) or "patient" (anyone's dismissal hides it from every clinician).
    "OVERRIDE_SUPPRESS_SCOPE": "user",
    "PREFETCH_OBSERVATIONS_BY_CODE": False,  # narrow the Observation query to the value sets' codes
    # With PREFETCH_OBSERVATIONS_BY_CODE: fetch the labs read only within a window (E11, E1, E10)
    # from that window on (plus their undated results), not the whole history (hooks/narrowing.py).
    "FHIR_NARROW_BY_DATE": True,
    # Longest Quantity unit/code string read (1-256); a longer one is a dataIssue, never parsed
    "MAX_UNIT_LENGTH": DEFAULT_MAX_UNIT_LENGTH,
    # Cards
    "WORKLIST_BASE_URL": None,  # None: this service's own URL (the worklist blueprint lives here)
    "SMART_LAUNCH_URL": None,  # adds a "smart" link to the card when set
    "STUDY_TEAM_REFERENCE": None,  # e.g. "Organization/igg4rd-study-team": the referral's performer
    "TRIAL_URL": "https://clinicaltrials.gov/study/NCT05974683",
    # Worklist hand-off: which Patient.identifier is the medical record number ("type": a
    # "system|code" of identifier.type, and/or "system": the identifier's namespace).
    "MRN_IDENTIFIER": {"type": "http://terminology.hl7.org/CodeSystem/v2-0203|MR"},
    # Security: CDS client JWTs (CDS Hooks 2.0 "Trusting CDS Clients")
    "JWT_VERIFY": True,  # False only for local development: logged loudly at start-up
    # {iss: {"jwks_url": "https://ehr.example.org/.well-known/jwks.json", "jwks": {...keys...},
    #        "jku": ["https://..."]}}; keys inline or from jwks_url (fetched, cached)
    "JWT_ISSUERS": {},
    "JWT_ALGORITHMS": ["ES384", "RS384"],
    "JWT_LEEWAY_S": 60,
    "JWT_MAX_LIFETIME_S": 600,  # exp - iat; CDS Hooks asks for short-lived tokens (5 minutes)
    # The audience a client's JWT must name: JWT_AUDIENCE, else PUBLIC_BASE_URL + the endpoint's
    # path. One of them is required when JWT_VERIFY is on (never taken from the Host header).
    "JWT_AUDIENCE": None,
    "PUBLIC_BASE_URL": None,  # the URL EHRs call, e.g. "https://cds.example.org"
    "JWKS_CACHE_S": 300,
    "CORS_ORIGINS": "*",
    # Replay protection of CDS client JWT ids: "database" (the default: one atomic insert per
    # token) or a redis:// URL (SET NX, shared by every worker and instance).
    "JWT_REPLAY_STORE": "database",
    # The hook's database writes (worklist hand-off, issued card) go through a writer thread that
    # stores them in batches. The hook waits up to HOOK_WRITE_WAIT_S for its writes to be stored,
    # and not at all while the database is unavailable (the writes wait in the outbox).
    "HOOK_WRITE_WAIT_S": 2.0,
    # Durable outbox of those writes: None = beside a SQLite database file, else
    # <instance>/outbox; "" keeps them in memory only (lost if the process dies).
    "HOOK_OUTBOX_DIR": None,
    "HOOK_OUTBOX_MAX_MB": 1024,
    # Prometheus metrics at /metrics (see cds_service/metrics.py for several workers).
    "METRICS_ENABLED": False,
    # The language of cards and pages when the request names none we speak (Accept-Language) and
    # the user chose none: "en" or "zh_Hans" (tags such as zh-CN, zh-Hans-CN, zh map to zh_Hans).
    "DEFAULT_LOCALE": "en",
}

_BOOLEAN_KEYS = {k for k, v in DEFAULTS.items() if isinstance(v, bool)}


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A YAML or JSON mapping of configuration keys (upper case)."""
    text = Path(path).read_text(encoding="utf-8")
    data = json.loads(text) if str(path).endswith(".json") else yaml.safe_load(text)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"configuration file {path} must hold a mapping")
    return {str(k).upper(): v for k, v in data.items()}


def from_environment(environ: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, raw in environ.items():
        if name.startswith(ENV_PREFIX) and name != ENV_PREFIX + "CONFIG":
            key = name.removeprefix(ENV_PREFIX)
            if key in DEFAULTS:
                found[key] = yaml.safe_load(raw) if raw.strip() else None
    if environ.get("IGG4_AS_OF"):
        found["IGG4_AS_OF"] = environ["IGG4_AS_OF"]
    return found


def resolve_section(
    defaults: Mapping[str, Any],
    config: Mapping[str, Any],
    environ: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The keys of one part of the app (worklist, SMART): the app's config where set, else
    ``IGG4_CDS_<KEY>`` (parsed as YAML), else the part's default."""
    env = os.environ if environ is None else environ
    out: dict[str, Any] = {}
    for key, default in defaults.items():
        if key in config and config[key] is not None:
            out[key] = config[key]
        elif env.get(ENV_PREFIX + key, "").strip():
            out[key] = yaml.safe_load(env[ENV_PREFIX + key])
        else:
            out[key] = default
    return out


def build_config(
    overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    env = os.environ if environ is None else environ
    config = dict(DEFAULTS)
    config_file = (overrides or {}).get("CONFIG_FILE") or env.get(ENV_PREFIX + "CONFIG")
    if config_file:
        config.update(read_config_file(config_file))
    config.update(from_environment(env))
    config.update(overrides or {})
    validate(config)
    return config


def validate(config: dict[str, Any]) -> None:
    """Fail at start-up, not at the first hook call."""
    for key in _BOOLEAN_KEYS:
        if not isinstance(config.get(key), bool):
            raise ValueError(f"{key} must be true or false")
    if config["FETCH_FAILURE_RESPONSE"] not in ("card", "412"):
        raise ValueError("FETCH_FAILURE_RESPONSE must be 'card' or '412'")
    if config["OVERRIDE_SUPPRESS_SCOPE"] not in ("user", "patient"):
        raise ValueError("OVERRIDE_SUPPRESS_SCOPE must be 'user' or 'patient'")
    allow = config["FHIR_SERVER_ALLOWLIST"]
    if isinstance(allow, str):
        config["FHIR_SERVER_ALLOWLIST"] = [s for s in allow.replace(",", " ").split() if s]
    instance = config.get("INSTANCE_PATH")
    if instance is not None:
        if not isinstance(instance, str) or not os.path.isabs(os.path.expanduser(instance)):
            raise ValueError("INSTANCE_PATH must be an absolute path")
        config["INSTANCE_PATH"] = os.path.expanduser(instance)
    as_of = config.get("IGG4_AS_OF")
    if isinstance(as_of, str):
        as_of = config["IGG4_AS_OF"] = date.fromisoformat(as_of)
    if as_of is not None and not (
        isinstance(as_of, date) and date(1900, 1, 1) <= as_of <= date(2999, 12, 31)
    ):
        raise ValueError("IGG4_AS_OF must be a date YYYY-MM-DD between 1900-01-01 and 2999-12-31")
    if not isinstance(config["HOOK_WRITE_WAIT_S"], int | float) or config["HOOK_WRITE_WAIT_S"] < 0:
        raise ValueError("HOOK_WRITE_WAIT_S must be a number of seconds >= 0")
    store = config["JWT_REPLAY_STORE"]
    if not isinstance(store, str) or not (
        store == "database" or store.startswith(("redis://", "rediss://", "unix://"))
    ):
        raise ValueError("JWT_REPLAY_STORE must be 'database' or a redis:// URL")
    positive = (
        "HOOK_OUTBOX_MAX_MB",
        "FHIR_TIME_BUDGET_S",
        "FHIR_MAX_RESPONSE_BYTES",
        "FHIR_MAX_PAGES",
        "FHIR_MAX_WORKERS",
        "MAX_REQUEST_BYTES",
        "FEEDBACK_MAX_BYTES",
        "FEEDBACK_MAX_ITEMS",
        "MAX_RESOURCES_PER_PATIENT",
    )
    for key in positive:
        value = config[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{key} must be a positive number")
    from fhir_mappings.summary import MrnRule

    MrnRule.from_config(config["MRN_IDENTIFIER"])  # raises ValueError with the reason
    config["DEFAULT_LOCALE"] = check_default(config["DEFAULT_LOCALE"])
    limit = config["MAX_UNIT_LENGTH"]
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError("MAX_UNIT_LENGTH must be a whole number")
    if not 1 <= limit <= MAX_UNIT_LENGTH_CEILING:
        raise ValueError(f"MAX_UNIT_LENGTH must be between 1 and {MAX_UNIT_LENGTH_CEILING}")
    if not isinstance(config["JWT_ISSUERS"], dict):
        raise ValueError("JWT_ISSUERS must be a mapping of issuer to its keys")
    bad = {a for a in config["JWT_ALGORITHMS"] if a == "none" or a.startswith("HS")}
    if bad:  # CDS Hooks 2.0: "none" and symmetric algorithms SHALL NOT be used
        raise ValueError(f"JWT_ALGORITHMS must not include {sorted(bad)}")
