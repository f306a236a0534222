"""Migrations on SQLite and PostgreSQL: the schema equals the models, upgrades are repeatable."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from cds_service.db import alembic_config, make_engine, upgrade
from cds_service.db.models import metadata
from tests.postgres import fresh_database


def _schema_matches_models(url: str) -> None:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
        heads = ScriptDirectory.from_config(alembic_config(url)).get_heads()
        assert [version] == heads
        tables = set(inspect(engine).get_table_names())
        assert {"cds_issued_card", "cds_card_feedback", "cds_seen_jwt"} <= tables
    finally:
        engine.dispose()


def test_first_revision_id_is_stable() -> None:
    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    base = [s for s in scripts.walk_revisions() if s.down_revision is None]
    assert [s.revision for s in base] == ["0001_feedback"]


def test_sqlite_upgrade_twice_and_concurrently(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/cds.db"
    with ThreadPoolExecutor(max_workers=3) as pool:  # workers starting together
        list(pool.map(lambda _: upgrade(url), range(3)))
    upgrade(url)
    _schema_matches_models(url)


@pytest.fixture
def pg_database() -> Iterator[str]:
    """A database of its own on the shared PostgreSQL server, dropped afterwards."""
    with fresh_database("igg4_hooks") as url:
        yield url


@pytest.mark.postgres
def test_postgresql_upgrade(pg_database: str) -> None:
    with ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda _: upgrade(pg_database), range(2)))
    _schema_matches_models(pg_database)


@pytest.mark.postgres
def test_hook_and_feedback_on_postgresql(pg_database: str, tmp_path: Path) -> None:
    from cds_service.app import create_app

    from .conftest import HOOK_PATH, hook_body
    from .synthetic import full_prefetch, long_record

    app = create_app({"DATABASE_URL": pg_database, "JWT_VERIFY": False, "IGG4_AS_OF": "2026-11-24"})
    client = app.test_client()
    body = hook_body("pg1", prefetch=full_prefetch(long_record("pg1", 20)))
    (card,) = client.post(HOOK_PATH, json=body).json["cards"]
    override = {"card": card["uuid"], "outcome": "overridden",
                "outcomeTimestamp": datetime.now(UTC).isoformat()}  # fmt: skip
    assert client.post(f"{HOOK_PATH}/feedback", json={"feedback": [override]}).status_code == 200
    assert client.post(HOOK_PATH, json=body).json == {"cards": []}
    app.extensions["igg4_db"]["engine"].dispose()
