"""Every bundled fixture: `igg4-cds assess --json` gives the status and criterion states written beside it."""

from __future__ import annotations

import json
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from cds_service.cli import cli
from cds_service.eligibility import assess_bundle

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "patients"
EXPORTS = FIXTURES.parent / "exports"  # transaction Bundles with urn:uuid fullUrls and no ids
EXPECTED = sorted([*FIXTURES.glob("*.expected.json"), *EXPORTS.glob("*.expected.json")])
SCHEMA = json.loads(
    resources.files("cds_service.eligibility").joinpath("assessment.schema.json").read_text()
)


def load(expected_path: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    bundle_path = expected_path.with_name(expected_path.name.replace(".expected.json", ".json"))
    return json.loads(bundle_path.read_text()), json.loads(expected_path.read_text())


def test_there_are_enough_fixtures() -> None:
    assert len(EXPECTED) >= 25


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_fixture_assessment(expected_path: Path) -> None:
    bundle, expected = load(expected_path)
    result = assess_bundle(bundle, as_of=date.fromisoformat(expected["asOf"])).to_dict()
    jsonschema.validate(result, SCHEMA)
    got = {c["id"]: c["status"] for c in result["criteria"]}
    mismatched = {
        cid: (want, got[cid], next(c["reason"] for c in result["criteria"] if c["id"] == cid))
        for cid, want in expected["criteria"].items()
        if got[cid] != want
    }
    assert not mismatched, f"criteria differ (expected, got, reason): {mismatched}"
    assert result["status"] == expected["status"]


@pytest.mark.parametrize("expected_path", EXPECTED, ids=lambda p: p.name.split(".")[0])
def test_cli_json_for_fixture(expected_path: Path) -> None:
    _, expected = load(expected_path)
    bundle_path = expected_path.with_name(expected_path.name.replace(".expected.json", ".json"))
    out = CliRunner().invoke(
        cli, ["assess", "--json", "--as-of", expected["asOf"], str(bundle_path)]
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["status"] == expected["status"]
    assert [c["id"] for c in data["criteria"]] == [f"I{i}" for i in range(1, 8)] + [
        f"E{i}" for i in range(1, 12)
    ]
