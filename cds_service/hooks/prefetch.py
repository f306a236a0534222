"""What a request's prefetch satisfies, checked key by key against our templates.

CDS Hooks 2.0: "It is the CDS Service's responsibility to check prefetched data against its
template to determine what requests were satisfied (if any)". A key is satisfied only by data that
is whole and about this patient; the rest is fetched (or, with no FHIR server, fails the request):

- key absent: not satisfied (the client chose not to, or could not);
- ``null``: the client says there is no data; fetched again when a server is at hand, else empty;
- an ``OperationOutcome`` (a failed prefetch, allowed in 2.0), a wrong type, a Bundle with a "next"
  link (only the first page), an entry about another patient: not satisfied;
- duplicate entries are collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cds_service.fhir_client import FhirError, bundle_resources, dedupe
from cds_service.hooks.templates import render, resource_type

_SUBJECT_FIELDS = ("subject", "patient", "individual")
# Resources a search may bring along with _include, kept beside the template's own type.
_INCLUDABLE = frozenset({"Medication"})


@dataclass(slots=True)
class PrefetchCheck:
    satisfied: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)  # key -> query (not sent or not usable)
    null: dict[str, str] = field(default_factory=dict)  # key -> query (sent as null: no data)
    rejected: dict[str, str] = field(default_factory=dict)  # key -> why (no patient data in it)


def check_prefetch(prefetch: Any, templates: dict[str, str], patient_id: str) -> PrefetchCheck:
    result = PrefetchCheck()
    given = prefetch if isinstance(prefetch, dict) else {}
    for key, template in templates.items():
        query = render(template, patient_id)
        if key not in given:
            result.missing[key] = query
            continue
        value = given[key]
        if value is None:
            result.null[key] = query
            continue
        try:
            result.satisfied[key] = _usable(value, template, patient_id)
        except _Unusable as why:
            result.rejected[key] = str(why)
            result.missing[key] = query
    return result


class _Unusable(Exception):
    pass


def _usable(value: Any, template: str, patient_id: str) -> list[dict[str, Any]]:
    if not isinstance(value, dict):
        raise _Unusable("not a FHIR resource")
    kind = value.get("resourceType")
    if kind == "OperationOutcome":
        raise _Unusable("client sent an OperationOutcome (prefetch failed)")
    wanted = resource_type(template)
    if "?" not in template:  # a read: the resource itself
        if kind != wanted or value.get("id") != patient_id:
            raise _Unusable(f"not the {wanted} of the context")
        return [value]
    if kind != "Bundle":
        raise _Unusable("search result is not a Bundle")
    try:
        entries = bundle_resources(value)
    except FhirError as exc:
        raise _Unusable(exc.detail) from exc
    links = value.get("link")
    if isinstance(links, list) and any(
        isinstance(link, dict) and link.get("relation") == "next" for link in links
    ):
        raise _Unusable("partial result: the Bundle has a next page")
    kept: list[dict[str, Any]] = []
    for resource in entries:
        rtype = resource.get("resourceType")
        if rtype == wanted:
            if not _about(resource, patient_id):
                raise _Unusable(f"a {wanted} of another patient")
            kept.append(resource)
        elif rtype in _INCLUDABLE:
            kept.append(resource)
    return dedupe(kept)


def _about(resource: dict[str, Any], patient_id: str) -> bool:
    for name in _SUBJECT_FIELDS:
        ref = resource.get(name)
        if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
            return patient_reference_id(ref["reference"]) == patient_id
    return False


def patient_reference_id(reference: str) -> str | None:
    """``Patient/x``, ``https://server/fhir/Patient/x`` or ``Patient/x/_history/2`` -> ``x``."""
    parts = reference.split("/")
    if "_history" in parts:
        parts = parts[: parts.index("_history")]
    if len(parts) >= 2 and parts[-2] == "Patient":
        return parts[-1]
    return None
