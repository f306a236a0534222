"""One SQLAlchemy session per request for the worklist's views; closed at teardown."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Flask, current_app, g
from sqlalchemy.orm import Session, sessionmaker

from cds_service.db import make_engine, make_session_factory

_KEY = "igg4_worklist_sessions"


def database_url(app: Flask) -> str:
    url = app.config.get("DATABASE_URL")
    if url:
        return str(url)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{Path(app.instance_path) / 'igg4-cds.db'}"


def session_factory(app: Flask) -> sessionmaker[Session]:
    """The app's session factory (``create_app`` makes it), else one made here once."""
    shared = app.extensions.get("igg4_db") or {}
    factory: sessionmaker[Session] | None = shared.get("sessions") or app.extensions.get(_KEY)
    if factory is None:
        factory = make_session_factory(make_engine(database_url(app)))
        app.extensions[_KEY] = factory
    return factory


def db() -> Session:
    """The current request's session."""
    if "worklist_db" not in g:
        g.worklist_db = session_factory(current_app)()
    session: Session = g.worklist_db
    return session


def close_session(_exc: Any = None) -> None:
    session: Session | None = g.pop("worklist_db", None)
    if session is not None:
        session.close()
