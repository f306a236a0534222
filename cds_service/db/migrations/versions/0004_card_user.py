"""CDS Hooks: the clinician a card was issued to, copied onto its feedback (per-user dismissal).

Revision ID: 0004_card_user
Revises: 0003_worklist_recruiter
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_card_user"
down_revision: str | Sequence[str] | None = "0003_worklist_recruiter"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("cds_issued_card") as batch:
        batch.add_column(sa.Column("user_id", sa.String(256), nullable=True))
    with op.batch_alter_table("cds_card_feedback") as batch:
        batch.add_column(sa.Column("user_id", sa.String(256), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("cds_card_feedback") as batch:
        batch.drop_column("user_id")
    with op.batch_alter_table("cds_issued_card") as batch:
        batch.drop_column("user_id")
