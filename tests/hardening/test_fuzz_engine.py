"""Fuzzing the engine (issue 10): any JSON where FHIR values belong, in real patients' Bundles.

No exception escapes but ``BundleError`` (the input is not one patient's Bundle: the Patient itself
was destroyed), and every assessment is schema-valid and strict JSON (no NaN or Infinity).
"""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
from hypothesis import given
from hypothesis import strategies as st

from cds_service.eligibility import BundleError, assess_bundle

from .fuzz import fuzz_settings, mutated

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
# Small and varied: a candidate, the needs-review and ineligible reasons, local codes, units.
CHOSEN = [
    "01-candidate-mgl-male.json",
    "04-candidate-local-igg4-code.json",
    "12-review-ast-91-days-old.json",
    "24-ineligible-age-17.json",
]
BUNDLES = [json.loads((FIXTURES / name).read_text()) for name in CHOSEN]
VALIDATOR = jsonschema.Draft202012Validator(
    json.loads(
        resources.files("cds_service.eligibility").joinpath("assessment.schema.json").read_text()
    )
)
AS_OF = date(2026, 11, 24)


def _check(bundle: Any) -> None:
    try:
        result = assess_bundle(bundle, as_of=AS_OF).to_dict()
    except BundleError:
        return  # a clear input error, not a crash
    errors = [e.message for e in VALIDATOR.iter_errors(result)]
    assert not errors, errors[:3]
    json.dumps(result, allow_nan=False)  # strict JSON: the worklist and PostgreSQL take it


@fuzz_settings(examples=300)
@given(st.sampled_from(range(len(CHOSEN))).flatmap(lambda i: mutated(BUNDLES[i], skip=2)))
def test_any_json_where_fhir_values_belong(bundle: Any) -> None:
    """Paths below ``entry[i].resource``: every field of every resource, at any depth."""
    _check(bundle)


@fuzz_settings(examples=100)
@given(st.sampled_from(range(len(CHOSEN))).flatmap(lambda i: mutated(BUNDLES[i], at_most=2)))
def test_any_json_anywhere_in_the_bundle(bundle: Any) -> None:
    """Also the Bundle's own fields and whole entries."""
    _check(bundle)


def test_found_by_the_fuzzer_a_patient_id_that_is_not_a_fhir_id() -> None:
    """It named the patient "Patient/:" in a schema-invalid assessment; such a Patient is now
    cited like one without an id: by its fullUrl, else by its place."""
    import copy

    bundle = copy.deepcopy(BUNDLES[0])
    for entry in bundle["entry"]:
        if entry["resource"]["resourceType"] == "Patient":
            entry["resource"]["id"] = ":"
    _check(bundle)
    assert assess_bundle(bundle, as_of=AS_OF).patient == "Patient/fx01"  # from its fullUrl
    for entry in bundle["entry"]:
        entry.pop("fullUrl", None)
    _check(bundle)
