"""One patient's record for the engine: the usable prefetch plus what had to be fetched.

Outcomes:
- ``resources``: everything the templates ask for was had (prefetch, fetch, or ``null`` = no data);
- ``precondition``: data is missing and no allowed FHIR server was given to fetch it from: the
  request cannot be served (HTTP 412, as CDS Hooks 2.0 requires);
- ``failure``: the Patient itself could not be read from the allowed FHIR server (unreachable,
  401/403, timeout, error, malformed, too large): nothing can be assessed;
- ``unavailable``: other searches failed. The record is assessed without them, and the engine is told
  which resource types could not be read, so that an absence there is ``unknown``, never "none
  recorded" (a missing Condition must not read "not-met").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import requests

from cds_service.eligibility import reasons  # noqa: F401 (the unavailable.* messages)
from cds_service.fhir_client import (
    Allowlist,
    Deadline,
    FhirClient,
    FhirError,
    FhirLimits,
    dedupe,
)
from cds_service.hooks.narrowing import ObservationPlan
from cds_service.hooks.prefetch import check_prefetch
from cds_service.hooks.templates import FHIR_ID, resource_type
from cds_service.i18n.message import Arg, msg

OBSERVATIONS_KEY = "observations"  # the template key a narrowing plan replaces when fetched
UNDATED_KEY = "observations-undated"


@dataclass(slots=True)
class Gathered:
    resources: list[dict[str, Any]] = field(default_factory=list)
    precondition: str | None = None  # why the request cannot be served (412)
    failure: FhirError | None = None  # the FHIR server's failure (first one, for the log)
    unavailable: dict[str, Arg] = field(default_factory=dict)  # resource type -> why (engine)
    unread: dict[str, str] = field(default_factory=dict)  # resource type -> FhirError kind (card)
    prefetched: int = 0  # template keys satisfied by the prefetch
    fetched: int = 0  # template keys fetched from the FHIR server
    rejected: dict[str, str] = field(default_factory=dict)


def gather(
    *,
    patient_id: str,
    prefetch: Any,
    templates: dict[str, str],
    fhir_server: str | None,
    access_token: str | None,
    allowlist: Allowlist,
    limits: FhirLimits,
    session: requests.Session | None = None,
    observation_plan: ObservationPlan | None = None,
) -> Gathered:
    """``observation_plan``: the date-narrowed Observation searches (``narrowing``) to run instead
    of the ``observations`` template when it has to be fetched."""
    check = check_prefetch(prefetch, templates, patient_id)
    out = Gathered(prefetched=len(check.satisfied), rejected=check.rejected)
    collected = [r for key in templates for r in check.satisfied.get(key, [])]
    wanted = {**check.missing, **check.null}
    usable = bool(fhir_server) and allowlist.allows(fhir_server)
    if not usable:
        if check.missing:  # CDS Hooks 2.0: no access to the data and no prefetch of it -> 412
            out.precondition = (
                "prefetch incomplete and fhirServer is not on the allow-list"
                if fhir_server
                else "prefetch incomplete and no fhirServer to fetch the rest from"
            )
            return out
        out.resources = dedupe(collected)  # only null keys left: the client says "no data"
        return out
    assert fhir_server is not None
    client = FhirClient(
        fhir_server, allowlist=allowlist, token=access_token, limits=limits, session=session
    )
    try:
        deadline = client.deadline()  # one budget for every request of this hook call
        if wanted:
            searches, parts = _searches(wanted, observation_plan)
            results = client.fetch_many(searches, deadline)
            if observation_plan is not None and _refused(results.get(UNDATED_KEY)):
                # the server does not take date:missing: ask for those codes without a date bound
                again = client.fetch_many({UNDATED_KEY: observation_plan.unbounded}, deadline)
                results[UNDATED_KEY] = again[UNDATED_KEY]
            out.fetched = len(wanted)
            for key in templates:
                result = _merged(parts.get(key, [key]), results)
                if isinstance(result, FhirError):
                    if key not in check.missing:
                        continue  # sent as null (no data): the client's word stands
                    if resource_type(templates[key]) == "Patient":
                        out.failure = result
                        return out
                    out.failure = out.failure or result
                    rtype = resource_type(templates[key])
                    out.unavailable[rtype] = msg("unavailable.search-failed", kind=result.kind)
                    out.unread[rtype] = result.kind
                    continue
                if result is not None:
                    collected.extend(result)
        med_failure = _fetch_missing_medications(client, collected, deadline)
        if med_failure is not None:
            out.failure = out.failure or med_failure
            why = msg("unavailable.medication", kind=med_failure.kind)
            for rtype in ("MedicationRequest", "MedicationStatement"):
                out.unavailable.setdefault(rtype, why)
            out.unread.setdefault("Medication", med_failure.kind)
    finally:
        if session is None:
            client.close()
    out.resources = dedupe(collected)
    return out


def _searches(
    wanted: dict[str, str], plan: ObservationPlan | None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Search key -> query (the wanted templates, the Observations narrowed when a plan says so),
    and the search keys that make up a template key when there are several."""
    if plan is None or OBSERVATIONS_KEY not in wanted:
        return dict(wanted), {}
    searches = {k: q for k, q in wanted.items() if k != OBSERVATIONS_KEY}
    searches[OBSERVATIONS_KEY] = plan.history
    searches.update(plan.windowed)
    searches[UNDATED_KEY] = plan.undated
    return searches, {OBSERVATIONS_KEY: [OBSERVATIONS_KEY, *plan.windowed, UNDATED_KEY]}


def _merged(
    parts: list[str], results: dict[str, list[dict[str, Any]] | FhirError]
) -> list[dict[str, Any]] | FhirError | None:
    """A template key's resources from its searches (one, or the narrowed Observation ones); the
    first failure when any of them failed (a part of the record is not the record)."""
    found: list[dict[str, Any]] = []
    for part in parts:
        result = results.get(part)
        if isinstance(result, FhirError):
            return result
        found.extend(result or [])
    return found if any(part in results for part in parts) else None


def _refused(result: object) -> bool:
    """A search the server rejected as such (a modifier it does not support), not a failure."""
    return isinstance(result, FhirError) and result.status in (400, 422, 501)


def unresolved_medications(resources: list[dict[str, Any]]) -> list[str]:
    """Ids of Medications that medication records point to but that are not at hand."""
    have = {r.get("id") for r in resources if r.get("resourceType") == "Medication"}
    wanted: list[str] = []
    for r in resources:
        if r.get("resourceType") not in ("MedicationRequest", "MedicationStatement"):
            continue
        ref = r.get("medicationReference")
        target = ref.get("reference") if isinstance(ref, dict) else None
        if isinstance(target, str) and target.startswith("Medication/"):
            mid = target.removeprefix("Medication/")
            if mid not in have and FHIR_ID.fullmatch(mid) and mid not in wanted:
                wanted.append(mid)
    return wanted


def _fetch_missing_medications(
    client: FhirClient, collected: list[dict[str, Any]], deadline: Deadline
) -> FhirError | None:
    """A server that ignored _include (or a prefetch without it): read the Medications by id."""
    missing = unresolved_medications(collected)
    if not missing:
        return None
    result = client.fetch_many({"medications": f"Medication?_id={','.join(missing)}"}, deadline)
    found = result["medications"]
    if isinstance(found, FhirError):
        return found
    collected.extend(found)
    return None
