"""What travels with an assessment to the worklist (fhir_mappings.summary): the patient's contact
summary and a description of every cited resource. Pure functions; junk never crashes them."""

from __future__ import annotations

import copy
import json
import random
from datetime import date
from typing import Any

import pytest

from cds_service.eligibility import BundleError, assess_bundle
from fhir_mappings.summary import (
    EvidenceItem,
    MrnRule,
    PatientSummary,
    describe,
    describe_evidence,
    handoff,
    patient_summary,
)
from tests.engine.test_robustness import BUNDLES, mutate

from .conftest import FIXTURES

V2 = "http://terminology.hl7.org/CodeSystem/v2-0203"


def _patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", **extra}


def _identifier(value: str, code: str = "MR", system: str = "urn:mrn", **extra: Any) -> Any:
    return {
        "type": {"coding": [{"system": V2, "code": code}]},
        "system": system,
        "value": value,
        **extra,
    }


def test_the_mrn_is_the_identifier_of_the_configured_type() -> None:
    patient = _patient(
        identifier=[
            _identifier("123-45-6789", code="SS", system="http://hl7.org/fhir/sid/us-ssn"),
            _identifier("OLD-1", use="old"),
            _identifier("ENDED-1", period={"end": "2020-01-01"}),
            _identifier("MRN-7"),
        ]
    )
    assert patient_summary(patient).mrn == "MRN-7"
    by_system = MrnRule.from_config({"system": "http://hl7.org/fhir/sid/us-ssn"})
    assert patient_summary(patient, by_system).mrn == "123-45-6789"
    nothing = MrnRule.from_config({"type": f"{V2}|MR", "system": "urn:other"})
    assert patient_summary(patient, nothing).mrn is None


@pytest.mark.parametrize("raw", [{"type": 3}, {}, {"kind": "x"}, "MR", {"type": "", "system": ""}])
def test_a_bad_mrn_setting_is_refused(raw: Any) -> None:
    with pytest.raises(ValueError, match="MRN_IDENTIFIER"):
        MrnRule.from_config(raw)


def test_the_phone_to_call() -> None:
    telecom = [
        {"system": "email", "value": "a@example.org"},
        {"system": "phone", "value": "+1 555 0100", "use": "work"},
        {"system": "phone", "value": "+1 555 0199", "use": "old"},
        {"system": "phone", "value": "+1 555 0101", "use": "mobile"},
        {"system": "phone", "value": "+1 555 0102", "use": "home", "period": {"end": "2024"}},
    ]
    assert patient_summary(_patient(telecom=telecom)).phone == "+1 555 0101"
    ranked = [*telecom, {"system": "phone", "value": "+1 555 0103", "use": "home", "rank": 1}]
    assert patient_summary(_patient(telecom=ranked)).phone == "+1 555 0103"
    assert patient_summary(_patient(telecom=telecom[:1])).phone is None


def test_name_birth_date_sex_and_clinician() -> None:
    patient = _patient(
        name=[
            {"use": "old", "family": "Maiden", "given": ["Ann"]},
            {"use": "usual", "given": ["Annie"], "family": "Smith"},
            {"use": "official", "given": ["Ann", "Marie"], "family": "Smith"},
        ],
        birthDate="1955-11",
        gender="female",
        generalPractitioner=[{"reference": "Practitioner/9"}, {"display": "Dr Rossi"}],
    )
    summary = patient_summary(patient)
    assert summary == PatientSummary("Ann Marie Smith", "1955-11", "female", None, None, "Dr Rossi")
    assert PatientSummary.from_dict(summary.to_dict()) == summary
    assert PatientSummary.from_dict({"birthDate": "yesterday", "gender": ["x"]}) == PatientSummary()


def test_evidence_says_what_each_resource_is() -> None:
    ast = {
        "resourceType": "Observation",
        "id": "ast",
        "status": "final",
        "code": {"coding": [{"system": "http://loinc.org", "code": "1920-8", "display": "AST"}]},
        "effectiveDateTime": "2026-08-25T09:30:00+08:00",
        "valueQuantity": {"value": 200, "unit": "U/L"},
    }
    condition = {
        "resourceType": "Condition",
        "id": "c1",
        "code": {
            "coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.84"}],
            "text": "IgG4-related disease",
        },
        "verificationStatus": {"coding": [{"code": "provisional"}]},
        "onsetDateTime": "2021-11-20",
    }
    medication = {"resourceType": "Medication", "id": "m1", "code": {"text": "prednisone 5 mg"}}
    order = {
        "resourceType": "MedicationRequest",
        "id": "mr1",
        "status": "active",
        "authoredOn": "2022-03-15",
        "medicationReference": {"reference": "Medication/m1"},
    }
    found = describe_evidence(
        [ast, condition, medication, order],
        ["Observation/ast", "Condition/c1", "MedicationRequest/mr1", "Observation/gone"],
    )
    assert found["Observation/ast"] == EvidenceItem(
        "Observation", "AST", "1920-8", "200", "U/L", "2026-08-25", None, "ast"
    )
    assert found["Condition/c1"].to_dict() == {
        "type": "Condition",
        "name": "IgG4-related disease",
        "code": "D89.84",
        "date": "2021-11-20",
        "status": "provisional",
    }
    assert found["MedicationRequest/mr1"].name == "prednisone 5 mg"
    assert "Observation/gone" not in found  # cited but not among the resources: nothing invented


def test_a_fixture_hand_off() -> None:
    bundle = json.loads((FIXTURES / "12-review-ast-91-days-old.json").read_text())
    resources = [e["resource"] for e in bundle["entry"]]
    assessment = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
    extra = handoff(resources, assessment)
    assert extra["patient"] == {
        "name": "Dmitri Ivanov",
        "birthDate": "1979-08-08",
        "gender": "male",
        "mrn": "100444",
        "phone": "+1 555 0112",
    }  # no named clinician in this record
    cited = {r for c in assessment["criteria"] for r in c["evidence"]}
    assert set(extra["evidence"]) == cited
    assert extra["evidence"]["Observation/fx12-igg4-8"] == {
        "type": "Observation",
        "analyte": "igg4",
        "name": "IgG4, serum",
        "code": "2469-5",
        "value": "1300",
        "unit": "mg/L",
        "date": "2026-09-15",
    }
    json.dumps(extra)  # plain data: travels through any transport
    assert "patient" not in handoff(resources[1:], assessment)  # no Patient: nothing said


@pytest.mark.parametrize("seed", range(4))
def test_mutated_bundles_never_crash_the_hand_off(seed: int) -> None:
    rng = random.Random(seed)
    originals = [json.loads(p.read_text()) for p in BUNDLES]
    done = 0
    for _ in range(40):
        bundle = copy.deepcopy(rng.choice(originals))
        mutate(bundle, rng)
        entries = bundle.get("entry") if isinstance(bundle.get("entry"), list) else []
        resources = [e.get("resource") for e in entries if isinstance(e, dict)]
        resources = [r for r in resources if isinstance(r, dict)]
        try:
            assessment = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
        except BundleError:
            assessment = {"patient": "Patient/x", "criteria": []}
        json.dumps(handoff(resources, assessment))
        for res in resources:
            describe(res)
        done += 1
    assert done == 40
