"""``igg4-cds users`` and the demo seed."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cds_service.cli import cli
from cds_service.worklist import accounts
from cds_service.worklist.db import session_factory
from cds_service.worklist.demo import DEMO_SERVER, seed_demo
from cds_service.worklist.models import FlaggedPatient

from .conftest import FIXTURES, login, make_app


def test_users_commands(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()
    env = {
        "IGG4_CDS_DATABASE_URL": url,
        "IGG4_CDS_JWT_VERIFY": "false",
        "IGG4_CDS_SECRET_KEY": "cli-tests-" + "k" * 32,
    }
    added = runner.invoke(
        cli,
        ["users", "add", "nina", "--role", "investigator", "--password-stdin"],
        input="a long enough password\n",
        env=env,
    )
    assert added.exit_code == 0, added.output
    generated = runner.invoke(
        cli, ["users", "add", "omar", "--role", "recruiter", "--generate"], env=env
    )
    assert generated.exit_code == 0 and "password: " in generated.output
    duplicate = runner.invoke(
        cli, ["users", "add", "nina", "--role", "admin", "--generate"], env=env
    )
    assert duplicate.exit_code == 2 and "exists" in duplicate.output
    bad_role = runner.invoke(cli, ["users", "add", "x", "--role", "root", "--generate"], env=env)
    assert bad_role.exit_code == 2
    assert runner.invoke(cli, ["users", "set-role", "omar", "admin"], env=env).exit_code == 0
    listing = runner.invoke(cli, ["users", "list"], env=env).output
    assert "nina\tinvestigator\tpassword\tactive" in listing and "omar\tadmin" in listing
    token = runner.invoke(cli, ["users", "token", "nina"], env=env).output.strip()
    assert token.startswith("igg4wl_")
    assert runner.invoke(cli, ["users", "deactivate", "omar"], env=env).exit_code == 0
    app = make_app(url)
    with session_factory(app)() as s:
        nina = accounts.authenticate(s, "nina", "a long enough password")
        assert nina is not None and nina.role == "investigator"
        assert accounts.user_for_token(s, token) is not None
        omar = accounts.get_user(s, "omar")
        assert omar is not None and not omar.active
    client = app.test_client()
    assert client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200


@pytest.mark.skipif(len(list(FIXTURES.glob("*.expected.json"))) < 2, reason="no fixtures yet")
def test_seed_demo_fills_the_worklist_and_gives_a_working_login(tmp_path: Path) -> None:
    app = make_app(f"sqlite:///{tmp_path / 'demo.db'}")
    username, password = seed_demo(app, FIXTURES)
    expected = list(FIXTURES.glob("*.expected.json"))
    with session_factory(app)() as s:
        count = s.execute(
            select(func.count(FlaggedPatient.id)).where(FlaggedPatient.fhir_server == DEMO_SERVER)
        ).scalar_one()
    assert count == len(expected)
    client = login(app, username, password)
    page = client.get("/api/patients?per_page=1").json
    assert page is not None and page["total"] == len(expected)
    again = seed_demo(app, FIXTURES)  # idempotent: no duplicates, a fresh password
    assert again[0] == username and again[1] != password
    with session_factory(app)() as s:
        assert s.execute(select(func.count(FlaggedPatient.id))).scalar_one() == count
