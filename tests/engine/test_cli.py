"""`igg4-cds assess`: readable table, JSON, and one-line errors with exit status 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_service.cli import cli

from .builders import candidate_resources


@pytest.fixture()
def bundle_file(tmp_path: Path) -> Path:
    path = tmp_path / "b.json"
    entries = [{"resource": r} for r in candidate_resources()]
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection", "entry": entries}))
    return path


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_table(bundle_file: Path) -> None:
    code, out, _ = run("assess", "--as-of", "2026-11-24", str(bundle_file))
    assert code == 0
    assert "Overall: CANDIDATE" in out
    assert "I5" in out and "E11" in out and "evidence: Observation/" in out


def test_json(bundle_file: Path) -> None:
    code, out, _ = run("assess", "--json", "--as-of", "2026-11-24", str(bundle_file))
    data = json.loads(out)
    assert code == 0 and data["status"] == "candidate" and data["asOf"] == "2026-11-24"
    assert data["patient"] == "Patient/p1"


def test_params_file_changes_the_rule(bundle_file: Path, tmp_path: Path) -> None:
    params = tmp_path / "site.yaml"
    params.write_text("reelevation_rule: rise-vs-baseline\n")
    code, out, _ = run(
        "assess", "--json", "--as-of", "2026-11-24", "--params", str(params), str(bundle_file)
    )
    data = json.loads(out)
    assert code == 0
    assert next(c for c in data["criteria"] if c["id"] == "I5")["status"] == "not-met"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("not json", "is not valid JSON"),
        ('{"resourceType": "Patient", "id": "x"}', "expected a FHIR Bundle, got Patient"),
        ("[1, 2]", "expected a FHIR Bundle"),
        ('{"resourceType": "Bundle", "type": "collection", "entry": []}', "no Patient resource"),
        (
            json.dumps(
                {
                    "resourceType": "Bundle",
                    "type": "collection",
                    "entry": [
                        {"resource": {"resourceType": "Patient", "id": "a"}},
                        {"resource": {"resourceType": "Patient", "id": "b"}},
                    ],
                }
            ),
            "2 Patient resources",
        ),
    ],
)
def test_bad_input_one_line_exit_2(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    code, out, err = run("assess", str(path))
    assert code == 2
    assert message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert out == ""


def test_missing_file_and_bad_params(tmp_path: Path, bundle_file: Path) -> None:
    code, _, err = run("assess", str(tmp_path / "nope.json"))
    assert code == 2 and "cannot read" in err
    bad = tmp_path / "p.yaml"
    bad.write_text("no_such_parameter: 1\n")
    code, _, err = run("assess", "--params", str(bad), str(bundle_file))
    assert code == 2 and "unknown parameter" in err
    code, _, err = run("assess", "--as-of", "yesterday", str(bundle_file))
    assert code == 2 and "not a date" in err
