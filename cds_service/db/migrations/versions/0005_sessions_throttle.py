"""Worklist sessions kept on the server (revocable; logout revokes) and atomic login throttling
counters, in place of the login-attempt log.

Revision ID: 0005_sessions_throttle
Revises: 0004_card_user
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_sessions_throttle"
down_revision: str | Sequence[str] | None = "0004_card_user"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worklist_sessions",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["worklist_users.id"],
            name="fk_worklist_sessions_user_id_worklist_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_sessions"),
    )
    op.create_index("ix_worklist_sessions_user_id", "worklist_sessions", ["user_id"])
    op.create_index("ix_worklist_sessions_expires_at", "worklist_sessions", ["expires_at"])
    op.create_table(
        "worklist_login_throttle",
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("window_start", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_worklist_login_throttle"),
    )
    op.drop_index("ix_worklist_login_attempts_key_at", table_name="worklist_login_attempts")
    op.drop_table("worklist_login_attempts")


def downgrade() -> None:
    op.create_table(
        "worklist_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_login_attempts"),
    )
    op.create_index("ix_worklist_login_attempts_key_at", "worklist_login_attempts", ["key", "at"])
    op.drop_table("worklist_login_throttle")
    op.drop_index("ix_worklist_sessions_expires_at", table_name="worklist_sessions")
    op.drop_index("ix_worklist_sessions_user_id", table_name="worklist_sessions")
    op.drop_table("worklist_sessions")
