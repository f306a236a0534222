"""Prefetch templates: the FHIR queries that give the eligibility engine everything it reads.

The same queries serve the prefetch (the EHR runs them) and the fallback fetch (this service runs
what the prefetch did not satisfy), so both paths see the same data.

Narrowing: the engine also recognises local lab codes by their text ("IgG4 subclass, serum"), which
no token search can express, so by default all of the patient's Observations are asked for. A site
whose local codes are all listed in its value sets (IGG4_CDS_VALUESETS) can narrow the Observation
query to those codes (PREFETCH_OBSERVATIONS_BY_CODE). Conditions, medications and Procedures cannot
be narrowed by a token search (ICD-10 ranges, drug products, text matches) and are asked for whole.
"""

from __future__ import annotations

import re

from fhir_mappings.valuesets import default_valuesets

PATIENT_TOKEN = "{{context.patientId}}"
# A FHIR id: what a context.patientId or a reference id may be; nothing else reaches a URL.
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")  # use with fullmatch

# key -> template. Order is the order of the fetches.
_TEMPLATES: dict[str, str] = {
    "patient": "Patient/{{context.patientId}}",
    "observations": "Observation?patient={{context.patientId}}",
    "conditions": "Condition?patient={{context.patientId}}",
    # _include: a medicationReference's Medication names the drug (it has no patient to search by)
    "medicationRequests": "MedicationRequest?patient={{context.patientId}}"
    "&_include=MedicationRequest:medication",
    "medicationStatements": "MedicationStatement?patient={{context.patientId}}"
    "&_include=MedicationStatement:medication",
    "procedures": "Procedure?patient={{context.patientId}}",
    "researchSubjects": "ResearchSubject?individual={{context.patientId}}",
}


def resource_type(template: str) -> str:
    return template.split("?", 1)[0].split("/", 1)[0]


def observation_codes() -> tuple[str, ...]:
    """``system|code`` of every lab concept in the engine's value sets (with a site's additions)."""
    codes: list[str] = []
    for matcher in default_valuesets().labs.values():
        codes.extend(f"{system}|{code}" for system, code in sorted(matcher.codes))
    return tuple(dict.fromkeys(codes))


def prefetch_templates(*, observations_by_code: bool = True) -> dict[str, str]:
    templates = dict(_TEMPLATES)
    if observations_by_code:
        codes = ",".join(observation_codes())
        templates["observations"] += f"&code={codes}"
    return templates


def render(template: str, patient_id: str) -> str:
    """Fill the one token our templates use. The id is a FHIR id ([A-Za-z0-9.-]{1,64}), checked."""
    return template.replace(PATIENT_TOKEN, patient_id)


def patient_queries(patient_id: str, *, observations_by_code: bool = True) -> dict[str, str]:
    return {
        key: render(t, patient_id)
        for key, t in prefetch_templates(observations_by_code=observations_by_code).items()
    }
