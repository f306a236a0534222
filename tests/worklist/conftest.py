"""Fixtures of the worklist tests: an app on a fresh SQLite file, accounts, logged-in clients."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from cds_service.app import create_app
from cds_service.db import upgrade
from cds_service.worklist import accounts
from cds_service.worklist.db import session_factory

PASSWORD = "correct horse battery"
SERVER = "https://fhir.example.org/r4"
ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "patients"


def make_app(database_url: str, **extra: Any) -> Flask:
    config = {
        "DATABASE_URL": database_url,
        "SECRET_KEY": "worklist-tests-" + "k" * 32,
        "TESTING": True,
        "JWT_VERIFY": False,
        "WORKLIST_SECURE_COOKIES": True,
        "PREFERRED_URL_SCHEME": "https",  # the test client talks https, as in production
        **extra,
    }
    return create_app(config)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2 at its production cost makes every login ~0.1 s; tests use a cheap profile of the
    same algorithm (the production parameters are the library's defaults, tested elsewhere)."""
    from argon2 import PasswordHasher

    saved = accounts._hasher, accounts._DUMMY_HASH
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._DUMMY_HASH = accounts._hasher.hash("dummy")
    yield
    accounts._hasher, accounts._DUMMY_HASH = saved


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once; each test gets a copy (migrations cost ~0.5 s per run)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


def fresh_db_url(migrated_db: Path, tmp_path: Path) -> str:
    target = tmp_path / "worklist.db"
    shutil.copyfile(migrated_db, target)
    return f"sqlite:///{target}"


@pytest.fixture
def app(migrated_db: Path, tmp_path: Path) -> Flask:
    return make_app(fresh_db_url(migrated_db, tmp_path), DATABASE_AUTO_UPGRADE=False)


@pytest.fixture
def sessions(app: Flask) -> sessionmaker[Session]:
    return session_factory(app)


@pytest.fixture
def db(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as session:
        yield session


def add_user(sessions: sessionmaker[Session], name: str, role: str) -> int:
    with sessions() as s:
        u = accounts.create_user(s, name, role, PASSWORD)
        s.commit()
        return u.id


@pytest.fixture
def users(sessions: sessionmaker[Session]) -> dict[str, int]:
    return {
        role: add_user(sessions, name, role)
        for name, role in (
            ("rita", "recruiter"),
            ("ivan", "investigator"),
            ("ada", "admin"),
        )
    }


def csrf_from(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def new_client(app: Flask) -> FlaskClient:
    return app.test_client()


def login(app: Flask, name: str, password: str = PASSWORD) -> FlaskClient:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    response = client.post(
        "/worklist/login", data={"username": name, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


def forge_session_csrf(client: FlaskClient, app: Flask) -> str:
    """A valid CSRF token for this client's session, for pages that show no form."""
    from itsdangerous import URLSafeTimedSerializer

    with client.session_transaction() as sess:
        sess["csrf_token"] = "raw-token-for-tests"
    return URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token").dumps(
        "raw-token-for-tests"
    )


def page_csrf(client: FlaskClient, url: str = "/worklist/") -> str:
    return csrf_from(client.get(url).get_data(as_text=True))


@pytest.fixture
def as_role(app: Flask, users: dict[str, int]) -> Callable[[str], FlaskClient]:
    names = {"recruiter": "rita", "investigator": "ivan", "admin": "ada"}
    return lambda role: login(app, names[role])


def assessment(
    pid: str,
    status: str = "candidate",
    as_of: str = "2026-11-24",
    *,
    reason: str = "ok",
    igg4: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A minimal assessment in the engine's documented shape."""
    criteria = [
        {
            "id": cid,
            "type": "inclusion" if cid[0] == "I" else "exclusion",
            "title": cid,
            "status": "met" if cid[0] == "I" else "not-met",
            "reason": reason,
            "evidence": [f"Observation/{pid}-{cid}"],
        }
        for cid in ("I1", "I2", "I3", "I4", "I5", "E1", "E2")
    ]
    return {
        "trial": "NCT05974683",
        "patient": f"Patient/{pid}",
        "asOf": as_of,
        "status": status,
        "criteria": criteria,
        "igg4": igg4
        if igg4 is not None
        else {
            "unit": "mg/L",
            "series": [
                {"date": "2024-01-10", "value": 5200, "ref": f"Observation/{pid}-a"},
                {"date": "2025-03-01", "value": 900, "ref": f"Observation/{pid}-b"},
                {"date": "2026-10-01", "value": 1800, "ref": f"Observation/{pid}-c"},
            ],
            "baseline": {"date": "2024-01-10", "value": 5200, "ref": f"Observation/{pid}-a"},
            "nadir": {"date": "2025-03-01", "value": 900, "ref": f"Observation/{pid}-b"},
            "current": {"date": "2026-10-01", "value": 1800, "ref": f"Observation/{pid}-c"},
            "treatmentStart": "2024-02-01",
            "threshold": 1560.0,
            "inclusionThreshold": 1400,
            "rule": "fraction-of-baseline",
        },
        "dataIssues": [],
        "parameters": {"reelevation_rule": "fraction-of-baseline"},
    }


def day(text: str) -> date:
    return date.fromisoformat(text)
