"""Small builders of FHIR R4 resources for engine unit tests (plain dicts, as the engine reads them)."""

from __future__ import annotations

from datetime import date
from itertools import count
from typing import Any

from cds_service.eligibility import Assessment, assess_resources, load_params

AS_OF = date(2026, 11, 24)
LOINC = "http://loinc.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
SNOMED = "http://snomed.info/sct"
UCUM = "http://unitsofmeasure.org"
_ids = count(1)

PID = "p1"
SUBJECT = {"reference": f"Patient/{PID}"}


def patient(
    birth: str | None = "1975-03-02", gender: str | None = "female", black: bool | None = None
) -> dict[str, Any]:
    res: dict[str, Any] = {"resourceType": "Patient", "id": PID}
    if birth:
        res["birthDate"] = birth
    if gender:
        res["gender"] = gender
    if black is not None:
        res["extension"] = [
            {
                "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                "extension": [
                    {
                        "url": "ombCategory",
                        "valueCoding": {
                            "system": "urn:oid:2.16.840.1.113883.6.238",
                            "code": "2054-5" if black else "2106-3",
                        },
                    }
                ],
            }
        ]
    return res


def obs(
    loinc: str,
    value: float | None,
    unit: str | None,
    day: str | None,
    *,
    status: str = "final",
    high: float | None = None,
    rid: str | None = None,
    ucum: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Observation",
        "id": rid or f"o{next(_ids)}",
        "status": status,
        "subject": SUBJECT,
        "code": {"coding": [{"system": LOINC, "code": loinc}]},
    }
    if day:
        res["effectiveDateTime"] = day
    if value is not None:
        q: dict[str, Any] = {"value": value}
        if unit:
            q["unit"] = unit
            if ucum:
                q["system"] = UCUM
                q["code"] = unit
        res["valueQuantity"] = q
    if high is not None:
        res["referenceRange"] = [{"high": {"value": high}}]
    res.update(extra)
    return res


def coded_obs(loinc: str, snomed_code: str, day: str, **extra: Any) -> dict[str, Any]:
    res = obs(loinc, None, None, day, **extra)
    res["valueCodeableConcept"] = {"coding": [{"system": SNOMED, "code": snomed_code}]}
    return res


def cond(
    code: str,
    *,
    system: str = ICD,
    clinical: str | None = "active",
    verification: str | None = "confirmed",
    onset: str | None = "2020-01-01",
    abatement: str | None = None,
    body_site: str | None = None,
    text: str | None = None,
    rid: str | None = None,
    recorded: str | None = None,
) -> dict[str, Any]:
    res: dict[str, Any] = {
        "resourceType": "Condition",
        "id": rid or f"c{next(_ids)}",
        "subject": SUBJECT,
        "code": {"coding": [{"system": system, "code": code}]},
    }
    if text:
        res["code"]["text"] = text
    if clinical:
        res["clinicalStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                    "code": clinical,
                }
            ]
        }
    if verification:
        res["verificationStatus"] = {
            "coding": [
                {
                    "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                    "code": verification,
                }
            ]
        }
    if onset:
        res["onsetDateTime"] = onset
    if recorded:
        res["recordedDate"] = recorded
    if abatement:
        res["abatementDateTime"] = abatement
    if body_site:
        res["bodySite"] = [{"text": body_site}]
    return res


def med(
    name: str,
    *,
    status: str = "active",
    authored: str = "2020-02-01",
    rxnorm: str | None = None,
    rid: str | None = None,
    period: tuple[str, str] | None = None,
    kind: str = "MedicationRequest",
) -> dict[str, Any]:
    concept: dict[str, Any] = {"text": name}
    if rxnorm:
        concept["coding"] = [
            {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": rxnorm}
        ]
    res: dict[str, Any] = {
        "resourceType": kind,
        "id": rid or f"m{next(_ids)}",
        "status": status,
        "subject": SUBJECT,
        "medicationCodeableConcept": concept,
    }
    if kind == "MedicationRequest":
        res["intent"] = "order"
        res["authoredOn"] = authored
        if period:
            res["dosageInstruction"] = [
                {"timing": {"repeat": {"boundsPeriod": {"start": period[0], "end": period[1]}}}}
            ]
    else:
        if period:
            res["effectivePeriod"] = {"start": period[0], "end": period[1]}
        else:
            res["effectiveDateTime"] = authored
    return res


def igg4(value: float, day: str, unit: str = "mg/L", **kw: Any) -> dict[str, Any]:
    return obs("2469-5", value, unit, day, **kw)


def full_labs(day: str = "2026-11-01", **override: Any) -> list[dict[str, Any]]:
    """The seven E11 labs, all normal, on one day; override one by name with a resource or None."""
    labs = {
        "hb": obs("718-7", 12.5, "g/dL", day),
        "neut": obs("751-8", 3.2, "10*9/L", day),
        "plt": obs("777-3", 250, "10*9/L", day),
        "alt": obs("1742-6", 25, "U/L", day),
        "ast": obs("1920-8", 22, "U/L", day),
        "tbil": obs("14631-6", 10, "umol/L", day),
        "creat": obs("2160-0", 0.8, "mg/dL", day),
    }
    labs.update(override)
    return [r for r in labs.values() if r is not None]


def candidate_resources(**lab_override: Any) -> list[dict[str, Any]]:
    """A clean candidate: IgG4-RD of the pancreas on prednisone, IgG4 2350 → 400 → 800 mg/L."""
    return [
        patient(),
        cond("D89.84", clinical="remission", body_site="Pancreas"),
        med("Prednisone 5 MG Oral Tablet"),
        igg4(2350, "2020-01-15"),
        igg4(400, "2022-01-15"),
        igg4(800, "2026-10-15"),
        *full_labs(**lab_override),
    ]


def assess(resources: list[dict[str, Any]], as_of: date = AS_OF, **params: Any) -> Assessment:
    p = load_params(None)
    if params:
        p = p.replace(**params)
    return assess_resources(resources, as_of=as_of, params=p)


def status_of(resources: list[dict[str, Any]], cid: str, **kw: Any) -> str:
    return assess(resources, **kw).criterion(cid).status
