"""Recruiter worklist: users, API tokens, flagged patients, assessment history, notes, audit trail,
login attempts.

Revision ID: 0002_worklist
Revises: 0001_feedback
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0002_worklist"
down_revision: str | Sequence[str] | None = "0001_feedback"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "worklist_users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("username", sa.String(120), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=True),
        sa.Column("oidc_subject", sa.String(255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("session_epoch", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_users"),
        sa.UniqueConstraint("username", name="uq_worklist_users_username"),
        sa.UniqueConstraint("oidc_subject", name="uq_worklist_users_oidc_subject"),
    )
    op.create_table(
        "worklist_api_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("label", sa.String(120), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("revoked", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["worklist_users.id"],
            name="fk_worklist_api_tokens_user_id_worklist_users",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_api_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_worklist_api_tokens_token_hash"),
    )
    op.create_table(
        "worklist_patients",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fhir_server", sa.String(500), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("eligibility", sa.String(20), nullable=False),
        sa.Column("previous_eligibility", sa.String(20), nullable=True),
        sa.Column("eligibility_change", sa.String(30), nullable=True),
        sa.Column("eligibility_changed_at", TS, nullable=True),
        sa.Column("change_acknowledged", sa.Boolean(), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("last_assessed_at", TS, nullable=False),
        sa.Column("workflow_state", sa.String(20), nullable=False),
        sa.Column("assignee_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["assignee_id"],
            ["worklist_users.id"],
            name="fk_worklist_patients_assignee_id_worklist_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_patients"),
        sa.UniqueConstraint("fhir_server", "patient_id", name="uq_worklist_patient"),
    )
    for column in ("eligibility", "workflow_state", "assignee_id", "updated_at"):
        op.create_index(f"ix_worklist_patients_{column}", "worklist_patients", [column])
    op.create_table(
        "worklist_assessments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_row_id", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("last_as_of", sa.Date(), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("criteria", JSON, nullable=False),
        sa.Column("igg4", JSON, nullable=False),
        sa.Column("data_issues", JSON, nullable=False),
        sa.Column("parameters", JSON, nullable=False),
        sa.Column("recorded_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_row_id"],
            ["worklist_patients.id"],
            name="fk_worklist_assessments_patient_row_id_worklist_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_assessments"),
    )
    op.create_index(
        "ix_worklist_assessments_patient", "worklist_assessments", ["patient_row_id", "id"]
    )
    op.create_table(
        "worklist_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("patient_row_id", sa.Integer(), nullable=False),
        sa.Column("author_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["worklist_users.id"],
            name="fk_worklist_notes_author_id_worklist_users",
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["patient_row_id"],
            ["worklist_patients.id"],
            name="fk_worklist_notes_patient_row_id_worklist_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_notes"),
    )
    op.create_index("ix_worklist_notes_patient_row_id", "worklist_notes", ["patient_row_id"])
    op.create_table(
        "worklist_audit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("actor", sa.String(120), nullable=False),
        sa.Column("action", sa.String(40), nullable=False),
        sa.Column("patient_row_id", sa.Integer(), nullable=True),
        sa.Column("detail", JSON, nullable=False),
        sa.ForeignKeyConstraint(
            ["patient_row_id"],
            ["worklist_patients.id"],
            name="fk_worklist_audit_patient_row_id_worklist_patients",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["worklist_users.id"],
            name="fk_worklist_audit_user_id_worklist_users",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_audit"),
    )
    op.create_index("ix_worklist_audit_at", "worklist_audit", ["at"])
    op.create_index("ix_worklist_audit_patient_row_id", "worklist_audit", ["patient_row_id"])
    op.create_table(
        "worklist_login_attempts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("success", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_login_attempts"),
    )
    op.create_index("ix_worklist_login_attempts_key_at", "worklist_login_attempts", ["key", "at"])


def downgrade() -> None:
    op.drop_index("ix_worklist_login_attempts_key_at", table_name="worklist_login_attempts")
    op.drop_table("worklist_login_attempts")
    op.drop_index("ix_worklist_audit_patient_row_id", table_name="worklist_audit")
    op.drop_index("ix_worklist_audit_at", table_name="worklist_audit")
    op.drop_table("worklist_audit")
    op.drop_index("ix_worklist_notes_patient_row_id", table_name="worklist_notes")
    op.drop_table("worklist_notes")
    op.drop_index("ix_worklist_assessments_patient", table_name="worklist_assessments")
    op.drop_table("worklist_assessments")
    for column in ("updated_at", "assignee_id", "workflow_state", "eligibility"):
        op.drop_index(f"ix_worklist_patients_{column}", table_name="worklist_patients")
    op.drop_table("worklist_patients")
    op.drop_table("worklist_api_tokens")
    op.drop_table("worklist_users")
