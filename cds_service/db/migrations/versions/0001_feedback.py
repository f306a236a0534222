"""CDS Hooks: issued cards, card feedback, seen JWT ids.

Revision ID: 0001_feedback
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_feedback"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cds_issued_card",
        sa.Column("uuid", sa.String(36), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("fhir_server", sa.String(512), nullable=False),
        sa.Column("patient_id", sa.String(128), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("uuid", name="pk_cds_issued_card"),
    )
    op.create_index("ix_cds_issued_card_patient", "cds_issued_card", ["fhir_server", "patient_id"])
    op.create_table(
        "cds_card_feedback",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("card_uuid", sa.String(64), nullable=False),
        sa.Column("service_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("override_system", sa.String(256), nullable=True),
        sa.Column("override_code", sa.String(128), nullable=True),
        sa.Column("override_display", sa.String(256), nullable=True),
        sa.Column("user_comment", sa.Text(), nullable=True),
        sa.Column("accepted_suggestions", sa.Text(), nullable=True),
        sa.Column("outcome_timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fhir_server", sa.String(512), nullable=True),
        sa.Column("patient_id", sa.String(128), nullable=True),
        sa.Column("fingerprint", sa.String(64), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_cds_card_feedback"),
    )
    op.create_index("ix_cds_card_feedback_card_uuid", "cds_card_feedback", ["card_uuid"])
    op.create_index(
        "ix_cds_card_feedback_patient", "cds_card_feedback", ["fhir_server", "patient_id"]
    )
    op.create_table(
        "cds_seen_jwt",
        sa.Column("issuer", sa.String(512), nullable=False),
        sa.Column("jti", sa.String(256), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("issuer", "jti", name="pk_cds_seen_jwt"),
    )
    op.create_index("ix_cds_seen_jwt_expires_at", "cds_seen_jwt", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_cds_seen_jwt_expires_at", table_name="cds_seen_jwt")
    op.drop_table("cds_seen_jwt")
    op.drop_index("ix_cds_card_feedback_patient", table_name="cds_card_feedback")
    op.drop_index("ix_cds_card_feedback_card_uuid", table_name="cds_card_feedback")
    op.drop_table("cds_card_feedback")
    op.drop_index("ix_cds_issued_card_patient", table_name="cds_issued_card")
    op.drop_table("cds_issued_card")
