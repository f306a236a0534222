"""The patient's record read with the clinician's token, and nothing its scopes do not allow.

The queries are the CDS service's prefetch templates (the same data the card was built from). A
resource type the token may not search is not asked for: it goes to the engine as ``unavailable``,
so that criteria resting on its absence read ``unknown``, not "none recorded". A v2 granular scope
(``patient/Observation.rs?category=laboratory``) is searched as granted, and the type is reported
as partly readable for the same reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask_babel import lazy_gettext as _l

from cds_service.eligibility import reasons  # noqa: F401 (the unavailable.* messages)
from cds_service.fhir_client import Allowlist, FhirClient, FhirError, FhirLimits, dedupe
from cds_service.hooks.gather import unresolved_medications
from cds_service.hooks.templates import patient_queries, resource_type
from cds_service.i18n.message import Arg, msg
from cds_service.smart.errors import SmartError, launch_again
from cds_service.smart.scopes import Grants, describe

NO_SCOPE = msg("unavailable.no-scope")
_MEDICATION_INCLUDE = "&_include="


@dataclass(slots=True)
class ReadPlan:
    queries: dict[str, str] = field(default_factory=dict)
    unavailable: dict[str, Arg] = field(default_factory=dict)  # why, as an engine message
    medication_readable: bool = False


def plan_reads(patient_id: str, grants: Grants) -> ReadPlan:
    """The searches the token allows, and the resource types it leaves unread (and why)."""
    plan = ReadPlan(medication_readable=grants.permits("Medication", "r"))
    if not grants.permits("Patient", "r"):
        raise SmartError(
            "no-patient-scope",
            403,
            _l("No access to the patient's record"),
            _l(
                "The EHR did not grant this app read access to the patient (patient/Patient.read "
                "or patient/Patient.r), so nothing can be shown."
            ),
        )
    for key, query in patient_queries(patient_id, observations_by_code=False).items():
        rtype = resource_type(query)
        if rtype == "Patient":
            plan.queries[key] = query
            continue
        if _MEDICATION_INCLUDE in query and not grants.permits("Medication", "s"):
            query = query.split(_MEDICATION_INCLUDE, 1)[0]  # Medications: read by id below
        restrictions = grants.restrictions(rtype, "s")
        if restrictions is None:
            plan.queries[key] = query
        elif not restrictions:
            plan.unavailable[rtype] = NO_SCOPE
        else:
            for i, restriction in enumerate(restrictions):
                plan.queries[f"{key}#{i}"] = f"{query}&{urlencode(restriction)}"
            only = " or ".join(describe(r) for r in restrictions)
            plan.unavailable[rtype] = msg("unavailable.only-with", type=rtype, only=only)
    return plan


@dataclass(slots=True)
class PatientRecord:
    resources: list[dict[str, Any]]
    unavailable: dict[str, Arg]
    patient: dict[str, Any]


def _fhir_failure(error: FhirError) -> SmartError:
    if error.kind == "unauthorized":
        return SmartError(
            "fhir-refused",
            403 if error.status == 403 else 401,
            _l("The EHR refused access"),
            launch_again(
                _l(
                    "The EHR's FHIR server refused the app's access token (it may have expired or "
                    "been revoked)."
                )
            ),
        )
    text = {
        "timeout": _l("The EHR's FHIR server did not answer in time."),
        "unreachable": _l("The EHR's FHIR server could not be reached."),
        "too-large": _l("The patient's record is larger than this app's configured limits."),
        "not-allowed": _l("The FHIR server is not on this app's allow-list."),
    }.get(error.kind, _l("The EHR's FHIR server answered with an error or unreadable data."))
    return SmartError(f"fhir-{error.kind}", 502, _l("The patient's record could not be read"), text)


def read_record(
    iss: str,
    patient_id: str,
    token: str,
    grants: Grants,
    *,
    allowlist: Allowlist,
    limits: FhirLimits,
) -> PatientRecord:
    plan = plan_reads(patient_id, grants)
    client = FhirClient(iss, allowlist=allowlist, token=token, limits=limits)
    with client:
        deadline = client.deadline()
        results = client.fetch_many(plan.queries, deadline)
        resources: list[dict[str, Any]] = []
        for key in plan.queries:
            result = results[key]
            if isinstance(result, FhirError):
                raise _fhir_failure(result)
            resources.extend(result)
        missing = unresolved_medications(resources)
        if missing and plan.medication_readable:
            found = client.fetch_many({m: f"Medication/{m}" for m in missing}, deadline)
            for mid in missing:
                result = found[mid]
                if isinstance(result, FhirError):
                    if result.kind != "http-error" or result.status != 404:
                        raise _fhir_failure(result)
                else:
                    resources.extend(result)
        elif missing:
            why = msg("unavailable.medication-scope")
            for rtype in ("MedicationRequest", "MedicationStatement"):
                plan.unavailable.setdefault(rtype, why)
    resources = dedupe(resources)
    patient = next(
        (r for r in resources if r.get("resourceType") == "Patient" and r.get("id") == patient_id),
        None,
    )
    if patient is None:
        raise SmartError(
            "no-patient",
            404,
            _l("Patient not found"),
            launch_again(_l("The EHR's FHIR server has no record of the patient in context.")),
        )
    return PatientRecord(resources=resources, unavailable=plan.unavailable, patient=patient)
