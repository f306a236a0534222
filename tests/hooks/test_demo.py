"""``igg4-cds demo --once``: the README's main job starts, answers three patients and exits 0."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from click.testing import CliRunner

from cds_service.cli import cli
from cds_service.commands.demo import pick_examples

from .conftest import FIXTURES


def test_demo_once_runs_the_three_examples_with_jwt_verification_on() -> None:
    result = CliRunner().invoke(cli, ["demo", "--once", "--port", "0"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "JWT verification ON" in out and "is OFF" not in out
    assert "2026-11-24" in out
    assert out.count("curl -s -X POST") == 3
    assert out.count("-H 'Authorization: Bearer ey") == 3  # signed by the demo issuer
    assert "open: no token" in out and "fhirAuthorization" not in out
    assert out.count("[ok]") == 6  # three hook calls, two SMART launches, the recruiter's list
    assert "referred from the app: yes" in out and "card suggestion accepted: HTTP 200" in out
    assert "via the SMART app shown, via the CDS card shown" in out
    for role in ("recruiter", "investigator", "admin"):
        assert f"demo-{role} / " in out  # one login per role
    assert "demo check passed" in out


def test_demo_prints_ready_sandbox_urls() -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--once", "--port", "0", "--sandbox-url", "http://127.0.0.1:9999/"]
    )
    assert result.exit_code == 0, result.output
    urls = [w for w in result.output.split() if w.startswith("http://127.0.0.1:9999/?")]
    assert len(urls) == 3
    query = parse_qs(urlsplit(urls[0]).query)
    assert query["patientId"] == ["fx01"]
    assert query["fhirServiceUrl"][0].endswith("/fhir")
    assert query["serviceDiscoveryURL"][0].endswith("/cds-services")


def test_demo_without_verification_and_behind_a_fhir_token() -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--once", "--port", "0", "--no-verify", "--fhir-token", "s3cret"]
    )
    assert result.exit_code == 0, result.output
    out = result.output
    assert "JWT verification of CDS clients is OFF" in out
    assert "bearer token: s3cret" in out and out.count('"access_token":"s3cret"') == 3
    assert "the sandbox cannot read it" in out
    assert out.count("[ok]") == 3


def test_demo_picks_one_patient_per_status() -> None:
    examples = pick_examples(FIXTURES)
    assert [e.status for e in examples] == ["candidate", "needs-review", "ineligible"]


def test_demo_once_fails_when_a_status_has_no_fixture(tmp_path: Path) -> None:
    for name in ("01-candidate-mgl-male.json", "01-candidate-mgl-male.expected.json"):
        (tmp_path / name).write_bytes((FIXTURES / name).read_bytes())
    result = CliRunner().invoke(cli, ["demo", "--once", "--port", "0", "--fixtures", str(tmp_path)])
    assert result.exit_code == 1
    assert "no fixture found for: needs-review, ineligible" in result.output
