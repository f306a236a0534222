"""The command line loads only what the command run needs (issue 13: a fast ``assess``)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from cds_service.cli import COMMANDS, cli

FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "patients" / "01-candidate-mgl-male.json"
)

CHILD = """
import json, sys
from cds_service.cli import cli
cli(sys.argv[1:], standalone_mode=False)
heavy = ("flask", "sqlalchemy", "alembic", "fhir.resources", "duckdb", "gunicorn", "argon2",
         "cds_service.app", "cds_service.worklist.accounts")
print(json.dumps(sorted(m for m in heavy if m in sys.modules)), file=sys.stderr)
"""


def test_assess_imports_no_web_or_database_layer() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, "assess", "--as-of", "2026-11-24", str(FIXTURE)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "CANDIDATE" in proc.stdout
    assert json.loads(proc.stderr.strip().splitlines()[-1]) == []


def test_every_lazy_command_resolves() -> None:
    ctx = cli.make_context("igg4-cds", ["--help"], resilient_parsing=True)
    assert cli.list_commands(ctx)[: len(COMMANDS)] == list(COMMANDS)
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None and command.name == name


def test_accounts_import_computes_no_hash() -> None:
    code = "import cds_service.worklist.accounts as a; print(a._DUMMY_HASH is None)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"
