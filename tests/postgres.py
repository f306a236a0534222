"""A database of its own on the team's PostgreSQL server, for the tests that run on PostgreSQL.

The server is the one on 127.0.0.1:5432 (trust authentication, database ``test``), or
``IGG4_TEST_PG``. A test that asks for a database when no server answers is skipped, and says why.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import create_engine, text

PG_ADMIN = os.environ.get("IGG4_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test").replace(
    "postgresql://", "postgresql+psycopg://", 1
)


@contextmanager
def fresh_database(prefix: str) -> Iterator[str]:
    """The SQLAlchemy URL of a new, empty database named ``<prefix>_<random>``, dropped (with any
    connection left to it) afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # no server: skip, said clearly
        admin.dispose()
        pytest.skip(
            f"PostgreSQL at {PG_ADMIN.rsplit('@', 1)[-1]} not available: {type(exc).__name__}"
        )
    try:
        yield PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
