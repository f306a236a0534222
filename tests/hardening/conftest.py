"""Fixtures of the hardening tests (issue 10): an app factory like the hook tests', and a fresh
database per test on SQLite and, where the server runs, PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from cds_service.app import create_app
from tests.postgres import fresh_database

AS_OF = "2026-11-24"


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """An application on a fresh SQLite file; JWT verification off unless the test turns it on."""

    def factory(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "DATABASE_URL": f"sqlite:///{tmp_path}/cds-{uuid.uuid4().hex[:8]}.db",
            "JWT_VERIFY": False,
            "IGG4_AS_OF": AS_OF,
            "SECRET_KEY": "hardening-tests-" + "k" * 32,
            "TESTING": True,
        }
        config.update(overrides)
        return create_app(config)

    return factory


def _postgres_database() -> Iterator[str]:
    with fresh_database("igg4_harden") as url:
        yield url


DATABASES = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database: a SQLite file, then a PostgreSQL database of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/db-{uuid.uuid4().hex[:8]}.db"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """One database per test module and backend (migrations cost a second or two each)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db')}/module.db"
    else:
        yield from _postgres_database()


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing() -> Iterator[None]:
    """Argon2id with a cheap profile in tests (the production parameters are tested elsewhere)."""
    from argon2 import PasswordHasher

    from cds_service.worklist import accounts

    saved = accounts._hasher, accounts._DUMMY_HASH
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    accounts._DUMMY_HASH = accounts._hasher.hash("dummy")
    yield
    accounts._hasher, accounts._DUMMY_HASH = saved
