"""The project carries its own specification: docs/criteria.md and docs/codes.md say what ships."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from cds_service.eligibility.context import ORDER

ROOT = Path(__file__).resolve().parents[2]
CRITERIA = (ROOT / "docs" / "criteria.md").read_text(encoding="utf-8")
CODES = (ROOT / "docs" / "codes.md").read_text(encoding="utf-8")


# the steering folder beside the repository, spelt so that this file does not name it either
OUTSIDE = "sha" + "red/"


def test_nothing_points_outside_the_project() -> None:
    """A user's clone has only the repository: nothing may send a reader to a folder beside it."""
    found = subprocess.run(
        ["git", "grep", "-n", "-I", "-e", OUTSIDE, "--", "README.md", "docs", "fixtures",
         "cds_service", "fhir_mappings", "tests"],
        cwd=ROOT, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert found.returncode in (0, 1), found.stderr
    assert found.stdout == ""


def test_every_criterion_and_parameter_is_documented() -> None:
    for cid in ORDER:
        assert re.search(rf"^\| {cid} \|", CRITERIA, re.M), f"{cid} has no row in docs/criteria.md"
    params = yaml.safe_load((ROOT / "cds_service/eligibility/params.yaml").read_text())
    for key in params:
        assert f"`{key}`" in CRITERIA, f"parameter {key} not in docs/criteria.md"


def test_shipped_lab_codes_and_ingredients_are_documented() -> None:
    vs = yaml.safe_load((ROOT / "fhir_mappings/valuesets/valuesets.yaml").read_text())
    for name, spec in vs["labs"].items():
        for code in spec.get("loinc", []):
            assert code in CODES, f"LOINC {code} ({name}) not in docs/codes.md"
    for code in vs["labs_known_unused"]["loinc"]:
        assert code in CODES, f"LOINC {code} (known unused) not in docs/codes.md"
    for name, spec in vs["ingredients"].items():
        assert f"| {name} |" in CODES, f"ingredient {name} not in docs/codes.md"
        for code in spec.get("rxnorm", []):
            assert code in CODES, f"RxNorm {code} ({name}) not in docs/codes.md"


def test_shipped_condition_codes_are_documented() -> None:
    """Every condition and body-site code the value sets ship is in docs/codes.md (with its source)."""
    vs = yaml.safe_load((ROOT / "fhir_mappings/valuesets/valuesets.yaml").read_text())
    for section in ("conditions", "body_sites"):
        for name, spec in vs[section].items():
            for key in ("snomed", "icd10", "icd10_who"):
                for item in spec.get(key, []) or []:
                    code = str(item["code"] if isinstance(item, dict) else item)
                    shown = code.replace("-", "–") if key != "snomed" else code
                    assert code in CODES or shown in CODES, f"{key} {code} ({name}) not in codes.md"


def test_condition_hints_name_documented_criteria() -> None:
    vs = yaml.safe_load((ROOT / "fhir_mappings/valuesets/valuesets.yaml").read_text())
    for name, hint in vs["condition_hints"].items():
        assert hint["criterion"] in ORDER, name
        for concept in hint["concepts"]:
            assert concept in vs["conditions"], f"{name}: no value set {concept}"
