"""The worklist's Alembic revisions match the models, and downgrade cleanly."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from cds_service.db import alembic_config, make_engine, upgrade
from cds_service.db.models import metadata

WORKLIST_TABLES = {
    "worklist_users",
    "worklist_api_tokens",
    "worklist_patients",
    "worklist_assessments",
    "worklist_notes",
    "worklist_audit",
    "worklist_sessions",
    "worklist_login_throttle",
}


def check_schema(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), metadata) == []
            assert set(inspect(conn).get_table_names()) >= WORKLIST_TABLES
        command.downgrade(alembic_config(url), "0001_feedback")
        with engine.connect() as conn:
            assert not WORKLIST_TABLES & set(inspect(conn).get_table_names())
        upgrade(url)
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) >= WORKLIST_TABLES
    finally:
        engine.dispose()


def test_migrations_match_models_on_sqlite(tmp_path: Path) -> None:
    check_schema(f"sqlite:///{tmp_path / 'm.db'}")
