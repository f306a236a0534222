"""Hostile unit strings cost bounded work (issue 10, row 1).

The probe: Observations whose ``valueQuantity.code`` is ``"(" * 2000 + "g" + ")" * 2000`` cost
19-42 s of CPU per request, because the UCUM grammar recursed through every level, failed, and
the failure was not remembered. Work is counted here (calls into the UCUM grammar), never timed.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cds_service.cli import cli
from cds_service.eligibility import assess_bundle
from fhir_mappings import units

PROBE = "(" * 2000 + "g" + ")" * 2000
UCUM = "http://unitsofmeasure.org"
AS_OF = date(2026, 11, 24)


def bundle_with_units(codes: list[str]) -> dict[str, Any]:
    subject = {"reference": "Patient/p1"}
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": "p1", "gender": "male"}]
    for i, code in enumerate(codes):
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "subject": subject,
                "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
                "effectiveDateTime": f"2025-{1 + i % 12:02d}-{1 + i // 12:02d}",
                "valueQuantity": {"value": 1200, "system": UCUM, "code": code},
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in resources],
    }


@pytest.fixture
def grammar_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Every call into ucumvert's UCUM grammar (answered at once with a refusal), by length."""
    from ucumvert import PintUcumRegistry

    calls: list[int] = []

    def counted(self: Any, ucum: str) -> Any:
        calls.append(len(ucum))
        raise ValueError("refused by the test")

    monkeypatch.setattr(PintUcumRegistry, "from_ucum", counted)
    for name in dir(units):  # forget what earlier tests cached
        cache_clear = getattr(getattr(units, name), "cache_clear", None)
        if callable(cache_clear):
            cache_clear()
    return calls


def test_probe_is_refused_without_parsing(grammar_calls: list[int]) -> None:
    result = assess_bundle(bundle_with_units([PROBE] * 20), as_of=AS_OF).to_dict()
    assert grammar_calls == []  # today's main: 20 calls, each recursing 2000 levels
    issues = [i for i in result["dataIssues"] if "longer than the limit of 64" in i]
    assert len(issues) == 20, result["dataIssues"]
    assert all(len(i) < 300 for i in issues)  # the 4 KB string is not echoed back
    assert units._conversion.cache_info().currsize == 0  # nor kept in a cache
    i3 = next(c for c in result["criteria"] if c["id"] == "I3")
    assert i3["status"] != "met"


def test_a_failed_parse_is_remembered(grammar_calls: list[int]) -> None:
    result = assess_bundle(bundle_with_units(["g/(foo)"] * 20), as_of=AS_OF).to_dict()
    assert grammar_calls == [len("g/(foo)")]  # once, not once per Observation
    assert sum("'g/(foo)' is not a valid UCUM unit" in i for i in result["dataIssues"]) == 20
    assess_bundle(bundle_with_units(["g/(foo)"] * 20), as_of=AS_OF)
    assert len(grammar_calls) == 1  # nor once per request


def test_nesting_under_the_length_limit_is_refused_too(grammar_calls: list[int]) -> None:
    nested = "(" * 30 + "g" + ")" * 30  # 61 characters: under the limit, deeper than any unit
    result = assess_bundle(bundle_with_units([nested] * 5), as_of=AS_OF).to_dict()
    assert grammar_calls == []
    assert sum("nests parentheses deeper than 8" in i for i in result["dataIssues"]) == 5


def test_cli_assess_refuses_the_probe(grammar_calls: list[int], tmp_path: Path) -> None:
    path = tmp_path / "probe.json"
    path.write_text(json.dumps(bundle_with_units([PROBE] * 10)))
    out = CliRunner().invoke(cli, ["assess", "--json", "--as-of", AS_OF.isoformat(), str(path)])
    assert out.exit_code == 0, out.output
    assert grammar_calls == []
    assert "longer than the limit of 64" in out.output
