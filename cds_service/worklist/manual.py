"""Manual assessment: an uploaded FHIR Bundle through the same engine, and the patient's name."""

from __future__ import annotations

from datetime import date
from typing import Any

import orjson
from flask import Flask
from flask_babel import lazy_gettext as _l

from cds_service.eligibility import BundleError, assess_bundle, check_as_of, load_params
from cds_service.limits import bundle_entry_count, too_many
from fhir_mappings.summary import MrnRule, handoff, patient_name

MANUAL_SERVER = "urn:igg4-cds:manual-upload"  # the "server" of patients uploaded without one


class UploadError(ValueError):
    """The upload is not a FHIR Bundle the engine can assess (HTTP 422)."""

    status = 422


class TooLarge(UploadError):
    """The Bundle holds more resources than MAX_RESOURCES_PER_PATIENT (HTTP 413)."""

    status = 413


class BadAsOf(UploadError):
    """The as-of date is not a date the engine can screen on (HTTP 400)."""

    status = 400


def parse_as_of(raw: str | None) -> date | None:
    """The as-of date of an upload (None: the service's), or BadAsOf with a clear message."""
    if not raw or not raw.strip():
        return None
    try:
        return check_as_of(date.fromisoformat(raw.strip()))
    except BundleError as exc:
        raise BadAsOf(str(exc)) from exc
    except ValueError as exc:
        raise BadAsOf(_l("the as-of date must be a date YYYY-MM-DD")) from exc


def parse_bundle(raw: bytes | str) -> dict[str, Any]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise UploadError(_l("the file is not JSON")) from exc
    if not isinstance(data, dict) or data.get("resourceType") != "Bundle":
        raise UploadError(_l("the file is not a FHIR Bundle"))
    return data


def assess_upload(app: Flask, bundle: dict[str, Any], as_of: date | None) -> dict[str, Any]:
    """The engine's assessment (``to_dict()``) of an uploaded Bundle."""
    limit = int(app.config["MAX_RESOURCES_PER_PATIENT"])
    if bundle_entry_count(bundle) > limit:
        raise TooLarge(too_many("entries in the Bundle", limit, "MAX_RESOURCES_PER_PATIENT"))
    params = load_params(app.config.get("IGG4_PARAMS_FILE"))
    day = as_of or app.config.get("IGG4_AS_OF") or None
    try:
        result: dict[str, Any] = assess_bundle(bundle, as_of=day, params=params).to_dict()
    except BundleError as exc:
        raise UploadError(str(exc)) from exc
    return result


def display_name(bundle: dict[str, Any]) -> str | None:
    """ "Given Family" of the Bundle's Patient (official name first), or None."""
    patient = next(
        (r for r in bundle_resources(bundle) if r.get("resourceType") == "Patient"), None
    )
    return patient_name(patient) if patient is not None else None


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict) and isinstance(entry.get("resource"), dict)
    ]


def bundle_handoff(
    app: Flask, bundle: dict[str, Any], assessment: dict[str, Any]
) -> dict[str, Any]:
    """What travels to the worklist with an uploaded Bundle's assessment (contact, evidence)."""
    rule = MrnRule.from_config(app.config.get("MRN_IDENTIFIER"))
    full_urls = {
        str(entry["fullUrl"]): entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("fullUrl"), str)
        and isinstance(entry.get("resource"), dict)
    }
    return handoff(bundle_resources(bundle), assessment, rule, full_urls=full_urls)
