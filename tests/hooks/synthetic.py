"""Synthetic FHIR records for the hook's tests and the load benchmark (not fixtures: generated).

``long_record(pid, observations=500)`` is a candidate-like patient (IgG4-RD with pancreatic
involvement, IgG4 re-elevated to >= 30 % of baseline on maintenance prednisone, normal screening
labs) whose record holds ``observations`` Observations: the IgG4 course plus years of routine labs.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

LOINC = "http://loinc.org"
AS_OF = date(2026, 11, 24)

# (loinc, display, value, unit) of routine labs that stay normal
_ROUTINE = [
    ("718-7", "Hemoglobin [Mass/volume] in Blood", 13.5, "g/dL"),
    ("751-8", "Neutrophils [#/volume] in Blood by Automated count", 4.2, "10*3/uL"),
    ("777-3", "Platelets [#/volume] in Blood by Automated count", 250, "10*3/uL"),
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        22,
        "U/L",
    ),
    (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        25,
        "U/L",
    ),
    ("1975-2", "Bilirubin.total [Mass/volume] in Serum or Plasma", 0.7, "mg/dL"),
    ("77147-7", "Glomerular filtration rate/1.73 sq M.predicted (MDRD)", 85, "mL/min/{1.73_m2}"),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", 0.9, "mg/dL"),
]


def observation(
    oid: str, pid: str, loinc: str, display: str, value: float, unit: str, when: date
) -> dict[str, Any]:
    return {
        "resourceType": "Observation",
        "id": oid,
        "status": "final",
        "category": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                        "code": "laboratory",
                    }
                ]
            }
        ],
        "code": {"coding": [{"system": LOINC, "code": loinc, "display": display}]},
        "subject": {"reference": f"Patient/{pid}"},
        "effectiveDateTime": when.isoformat(),
        "valueQuantity": {
            "value": value,
            "unit": unit,
            "system": "http://unitsofmeasure.org",
            "code": unit,
        },
    }


def long_record(pid: str, observations: int = 500) -> list[dict[str, Any]]:
    """A candidate-like patient with exactly ``observations`` Observations (at least 12)."""
    treatment = date(2022, 3, 1)
    resources: list[dict[str, Any]] = [
        {
            "resourceType": "Patient",
            "id": pid,
            "gender": "male",
            "birthDate": "1970-05-17",
            "name": [{"family": "Synthetic", "given": ["Load"]}],
        },
        {
            "resourceType": "Condition",
            "id": f"{pid}-dx",
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": "active",
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": "confirmed",
                    }
                ]
            },
            "code": {
                "coding": [
                    {
                        "system": "http://hl7.org/fhir/sid/icd-10-cm",
                        "code": "D89.84",
                        "display": "IgG4-related disease",
                    }
                ]
            },
            "bodySite": [{"coding": [{"system": "http://snomed.info/sct", "code": "15776009"}]}],
            "subject": {"reference": f"Patient/{pid}"},
            "onsetDateTime": "2022-01-15",
        },
        {
            "resourceType": "MedicationStatement",
            "id": f"{pid}-pred",
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [
                    {
                        "system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                        "code": "8640",
                        "display": "prednisone",
                    }
                ],
                "text": "prednisone 5 mg daily",
            },
            "subject": {"reference": f"Patient/{pid}"},
            "effectivePeriod": {"start": treatment.isoformat()},
        },
    ]
    igg4 = [
        (date(2022, 2, 10), 3200.0),  # baseline, before treatment
        (date(2023, 6, 1), 600.0),  # nadir (< 0.30 x baseline = 960)
        (date(2026, 10, 20), 1250.0),  # current: re-elevated (>= 960)
    ]
    for n, (when, value) in enumerate(igg4):
        resources.append(
            observation(f"{pid}-igg4-{n}", pid, "2469-5", "IgG subclass 4", value, "mg/L", when)
        )
    recent = AS_OF - timedelta(days=20)
    for n, (code, display, value, unit) in enumerate(_ROUTINE):
        resources.append(observation(f"{pid}-lab-now-{n}", pid, code, display, value, unit, recent))
    filler = observations - len(igg4) - len(_ROUTINE)
    for n in range(max(filler, 0)):
        code, display, value, unit = _ROUTINE[n % len(_ROUTINE)]
        when = date(2022, 1, 1) + timedelta(days=(n // len(_ROUTINE)) * 9 % 1500)
        resources.append(observation(f"{pid}-lab-{n}", pid, code, display, value, unit, when))
    return resources


def searchset(resources: list[dict[str, Any]], *, next_url: str | None = None) -> dict[str, Any]:
    """A searchset Bundle; Medications are marked as _include results."""
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "searchset",
        "total": len(resources),
        "entry": [
            {
                "resource": r,
                "search": {"mode": "include" if r["resourceType"] == "Medication" else "match"},
            }
            for r in resources
        ],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


def full_prefetch(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """What an EHR would send for the service's templates: one whole searchset per key."""
    from cds_service.hooks.templates import prefetch_templates, resource_type

    medications = [r for r in resources if r["resourceType"] == "Medication"]
    prefetch: dict[str, Any] = {}
    for key, template in prefetch_templates().items():
        rtype = resource_type(template)
        of_type = [r for r in resources if r["resourceType"] == rtype]
        if "?" not in template:
            prefetch[key] = of_type[0]
            continue
        if rtype in ("MedicationRequest", "MedicationStatement"):
            of_type = of_type + medications  # _include=...:medication
        prefetch[key] = searchset(of_type)
    return prefetch
