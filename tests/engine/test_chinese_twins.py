"""A Chinese-style record is assessed exactly as its English twin (issue 14).

``fixtures/chinese/NN-slug.zh.json`` is the patient of ``fixtures/patients/NN-slug.json`` recorded
as a hospital in China records it: local LIS codes named in Chinese, g/L and ×10⁹/L units as unit
text, national clinical-edition ICD-10 codes, drugs under local codes with Chinese names, and
qualitative results in Chinese. Every criterion state and the status must be the English twin's.
"""

from __future__ import annotations

import importlib
import json
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhir.resources.R4B.bundle import Bundle

from cds_service.eligibility import assess_bundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
TWINS = sorted((FIXTURES / "chinese").glob("*.zh.json"))
AS_OF = date(2026, 11, 24)
ENGLISH_SYSTEMS = {
    "http://loinc.org",
    "http://www.nlm.nih.gov/research/umls/rxnorm",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "http://unitsofmeasure.org",
}


def english_of(twin: Path) -> Path:
    return FIXTURES / "patients" / twin.name.replace(".zh.json", ".json")


def resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [e["resource"] for e in bundle["entry"]]


def systems_in(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {value["system"]} if isinstance(value.get("system"), str) else set()
        for v in value.values():
            found |= systems_in(v)
        return found
    if isinstance(value, list):
        return set().union(*(systems_in(v) for v in value)) if value else set()
    return set()


def test_there_are_twins() -> None:
    assert len(TWINS) >= 2
    assert all(english_of(t).exists() for t in TWINS)


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_twin_is_assessed_exactly_as_its_english_fixture(twin: Path) -> None:
    zh = assess_bundle(json.loads(twin.read_text()), as_of=AS_OF).to_dict()
    en = assess_bundle(json.loads(english_of(twin).read_text()), as_of=AS_OF).to_dict()
    expected = json.loads(
        english_of(twin).with_suffix("").with_suffix(".expected.json").read_text()
    )
    zh_states = {c["id"]: c["status"] for c in zh["criteria"]}
    assert zh_states == {c["id"]: c["status"] for c in en["criteria"]}
    assert zh_states == expected["criteria"]
    assert zh["status"] == en["status"] == expected["status"]
    assert len(zh["dataIssues"]) == len(en["dataIssues"]), zh["dataIssues"]
    # the IgG4 course is the same in mg/L, from the twin's own Observations
    assert [p["value"] for p in zh["igg4"]["series"]] == [p["value"] for p in en["igg4"]["series"]]
    assert all(p["ref"].startswith("Observation/zh") for p in zh["igg4"]["series"])


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_twin_uses_chinese_conventions_only(twin: Path) -> None:
    bundle = json.loads(twin.read_text())
    assert not systems_in(bundle) & ENGLISH_SYSTEMS  # no LOINC, RxNorm, ICD-10-CM or UCUM code
    conditions = [r for r in resources(bundle) if r["resourceType"] == "Condition"]
    assert all("x" in r["code"]["coding"][0]["code"] for r in conditions)  # clinical edition
    names = json.dumps(bundle, ensure_ascii=False)
    for chinese in ("免疫球蛋白G4", "血红蛋白", "IgG4相关性疾病", "g/L"):
        assert chinese in names


@pytest.mark.parametrize("twin", TWINS, ids=lambda p: p.name)
def test_every_twin_resource_validates_with_r4b_models(twin: Path) -> None:
    bundle = json.loads(twin.read_text())
    for res in resources(bundle):
        get_fhir_model_class(res["resourceType"]).model_validate(res)
    Bundle.model_validate(bundle)


def test_generator_reproduces_committed_twins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.syspath_prepend(str(FIXTURES / "chinese"))
    sys.modules.pop("make_twins", None)
    make_twins = importlib.import_module("make_twins")
    assert make_twins.main(["make_twins.py", str(tmp_path)]) == 0
    capsys.readouterr()
    assert sorted(p.name for p in tmp_path.iterdir()) == [p.name for p in TWINS]
    for twin in TWINS:
        assert (tmp_path / twin.name).read_bytes() == twin.read_bytes(), twin.name
    sys.modules.pop("make_twins", None)
