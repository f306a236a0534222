"""Login throttling kept in the database, so that it holds across every worker process.

An attempt first *reserves* its place: one atomic statement per key (the user name, the client's
address) counts the attempt unless the key has reached its limit in the window. Only then is the
password checked. So 40 parallel wrong passwords check exactly as many as the limit allows (the
count and the check used to be separate reads, and every parallel attempt saw the old count).

``INSERT ... ON CONFLICT DO UPDATE ... WHERE ... RETURNING`` is atomic on PostgreSQL (row lock, the
condition re-checked on the latest row) and on SQLite (one writer at a time).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from cds_service.worklist.models import LoginThrottle, utcnow


def reserve(session: Session, limits: dict[str, int], window_s: int) -> bool:
    """Count one attempt under every key of ``limits`` ({key: max failures in the window}) unless
    one has reached its limit: True when the attempt may go on (counted as a failure until
    ``succeeded``), False when it is throttled (nothing counted). Commits."""
    now = utcnow()
    cutoff = now - timedelta(seconds=window_s)
    dialect = session.get_bind().dialect.name
    mod = postgresql if dialect == "postgresql" else sqlite
    table = LoginThrottle.__table__
    expired = table.c.window_start < cutoff
    for key in sorted(limits):  # one order for every attempt: no lock-order deadlocks
        stmt = (
            mod.insert(LoginThrottle)
            .values(key=key, failures=1, window_start=now)
            .on_conflict_do_update(
                index_elements=["key"],
                set_={
                    "failures": case((expired, 1), else_=table.c.failures + 1),
                    "window_start": case((expired, now), else_=table.c.window_start),
                },
                where=or_(expired, table.c.failures < limits[key]),
            )
            .returning(LoginThrottle.failures)
        )
        if session.execute(stmt).scalar_one_or_none() is None:
            session.rollback()
            return False
    session.commit()
    return True


def succeeded(session: Session, user_key: str, other_keys: list[str]) -> None:
    """The reserved attempt was a success: the user's failures are cleared, and the attempt no
    longer counts against the other keys (the address). The caller commits."""
    session.execute(update(LoginThrottle).where(LoginThrottle.key == user_key).values(failures=0))
    session.execute(
        update(LoginThrottle)
        .where(LoginThrottle.key.in_(other_keys), LoginThrottle.failures > 0)
        .values(failures=LoginThrottle.failures - 1)
    )
