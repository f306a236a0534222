"""Whatever the FHIR data holds, the engine answers (or says the input is not one patient's Bundle).

Fixture Bundles are mutated at random (fixed seed): fields replaced by junk of the wrong type, bad
dates, non-numbers. Every result must still be a full, schema-valid assessment.
"""

from __future__ import annotations

import copy
import json
import random
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from cds_service.eligibility import BundleError, assess_bundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
BUNDLES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))
SCHEMA = json.loads(
    resources.files("cds_service.eligibility").joinpath("assessment.schema.json").read_text()
)
JUNK: list[Any] = [
    None,
    1,
    -3.5,
    0,
    "x",
    "",
    [],
    {},
    [1, "a"],
    {"a": 1},
    True,
    "2020-13-45",
    "1e999",
]


def mutate(node: Any, rng: random.Random) -> None:
    if isinstance(node, dict):
        keys = [k for k in node if k != "resourceType"]
        if keys and rng.random() < 0.3:
            node[rng.choice(keys)] = rng.choice(JUNK)
        for value in list(node.values()):
            if rng.random() < 0.5:
                mutate(value, rng)
    elif isinstance(node, list):
        for value in node:
            if rng.random() < 0.5:
                mutate(value, rng)


@pytest.mark.parametrize("seed", range(8))
def test_mutated_bundles_never_crash_the_engine(seed: int) -> None:
    rng = random.Random(seed)
    originals = [json.loads(p.read_text()) for p in BUNDLES]
    assessed = 0
    for _ in range(60):
        bundle = copy.deepcopy(rng.choice(originals))
        mutate(bundle, rng)
        try:
            result = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
        except BundleError:
            continue  # the Patient itself was destroyed: a clear input error, not a crash
        jsonschema.validate(result, SCHEMA)
        assessed += 1
    assert assessed > 30
