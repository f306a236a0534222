"""Login throttling kept in the database, so that it holds across every worker process."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from cds_service.worklist.models import LoginAttempt, utcnow


def failures(session: Session, key: str, window_s: int) -> int:
    """Failed attempts for ``key`` within the window and since its last success."""
    since = utcnow() - timedelta(seconds=window_s)
    last_ok = session.execute(
        select(func.max(LoginAttempt.at)).where(
            LoginAttempt.key == key, LoginAttempt.success.is_(True), LoginAttempt.at >= since
        )
    ).scalar()
    start = max(since, last_ok) if last_ok is not None else since
    return int(
        session.execute(
            select(func.count(LoginAttempt.id)).where(
                LoginAttempt.key == key, LoginAttempt.success.is_(False), LoginAttempt.at > start
            )
        ).scalar_one()
    )


def is_throttled(session: Session, limits: dict[str, int], window_s: int) -> bool:
    """``limits``: {key: max failures}; throttled when any key has reached its limit."""
    return any(failures(session, key, window_s) >= limit for key, limit in limits.items())


def record(session: Session, keys: list[str], success: bool, window_s: int) -> None:
    """Record an attempt under each key; drops attempts older than a day. Commits."""
    now = utcnow()
    session.add_all([LoginAttempt(key=k, at=now, success=success) for k in keys])
    session.execute(
        delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(seconds=max(window_s, 86400)))
    )
    session.commit()
