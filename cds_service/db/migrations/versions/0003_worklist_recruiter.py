"""Worklist for recruiters (issue 12): who to call (birth date, sex, MRN, phone, treating clinician),
the row's at-a-glance facts and re-elevation date, clinicians' referrals, decision reasons, evidence
descriptions, and the daily digest's e-mail address.

Rows listed before this revision get their facts and re-elevation date from their latest assessment
here; their contact details arrive with the next assessment handed over.

Revision ID: 0003_worklist_recruiter
Revises: 0002_worklist
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003_worklist_recruiter"
down_revision: str | Sequence[str] | None = "0002_worklist"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
TS = sa.DateTime(timezone=True)


def _patient_columns() -> tuple[sa.Column[object], ...]:
    return (
        sa.Column("birth_date", sa.String(10), nullable=True),
        sa.Column("gender", sa.String(10), nullable=True),
        sa.Column("mrn", sa.String(64), nullable=True),
        sa.Column("phone", sa.String(40), nullable=True),
        sa.Column("general_practitioner", sa.String(200), nullable=True),
        sa.Column("facts", JSON, nullable=True),
        sa.Column("reelevated_on", sa.Date(), nullable=True),
        sa.Column("referred_at", TS, nullable=True),
        sa.Column("referred_by", sa.String(200), nullable=True),
        sa.Column("referred_via", sa.String(20), nullable=True),
        sa.Column("decision_reason", sa.String(40), nullable=True),
        sa.Column("decision_criterion", sa.String(8), nullable=True),
        sa.Column("decision_note", sa.Text(), nullable=True),
    )


def upgrade() -> None:
    with op.batch_alter_table("worklist_patients") as batch:
        for column in _patient_columns():
            batch.add_column(column)
        batch.create_index("ix_worklist_patients_mrn", ["mrn"])
    with op.batch_alter_table("worklist_assessments") as batch:
        batch.add_column(sa.Column("evidence", JSON, nullable=True))
    with op.batch_alter_table("worklist_users") as batch:
        batch.add_column(sa.Column("email", sa.String(254), nullable=True))
        batch.add_column(sa.Column("last_digest_at", TS, nullable=True))
    op.create_table(
        "worklist_referrals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fhir_server", sa.String(500), nullable=False),
        sa.Column("patient_id", sa.String(64), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("by", sa.String(200), nullable=False),
        sa.Column("via", sa.String(20), nullable=False),
        sa.Column("detail", JSON, nullable=False),
        sa.Column("patient_row_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["patient_row_id"],
            ["worklist_patients.id"],
            name="fk_worklist_referrals_patient_row_id_worklist_patients",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_worklist_referrals"),
    )
    op.create_index(
        "ix_worklist_referrals_patient", "worklist_referrals", ["fhir_server", "patient_id"]
    )
    op.create_index(
        "ix_worklist_referrals_patient_row_id", "worklist_referrals", ["patient_row_id"]
    )
    _backfill()


def _backfill() -> None:
    """Facts and re-elevation date of rows already listed, from their latest assessment."""
    from cds_service.worklist.rowfacts import reelevated_on, row_facts

    bind = op.get_bind()
    patients = sa.table(
        "worklist_patients",
        sa.column("id", sa.Integer()),
        sa.column("facts", JSON),
        sa.column("reelevated_on", sa.Date()),
    )
    records = sa.table(
        "worklist_assessments",
        sa.column("id", sa.Integer()),
        sa.column("patient_row_id", sa.Integer()),
        sa.column("as_of", sa.Date()),
        sa.column("criteria", JSON),
        sa.column("igg4", JSON),
    )
    latest = sa.select(records.c.patient_row_id, records.c.criteria, records.c.igg4).order_by(
        records.c.patient_row_id, records.c.as_of.desc(), records.c.id.desc()
    )
    done: set[int] = set()
    for row_id, criteria, igg4 in bind.execute(latest):
        if row_id in done:
            continue
        done.add(row_id)
        assessment = {"criteria": criteria or [], "igg4": igg4 or {}}
        bind.execute(
            patients.update()
            .where(patients.c.id == row_id)
            .values(facts=row_facts(assessment), reelevated_on=reelevated_on(igg4))
        )


def downgrade() -> None:
    op.drop_index("ix_worklist_referrals_patient_row_id", table_name="worklist_referrals")
    op.drop_index("ix_worklist_referrals_patient", table_name="worklist_referrals")
    op.drop_table("worklist_referrals")
    with op.batch_alter_table("worklist_users") as batch:
        batch.drop_column("last_digest_at")
        batch.drop_column("email")
    with op.batch_alter_table("worklist_assessments") as batch:
        batch.drop_column("evidence")
    with op.batch_alter_table("worklist_patients") as batch:
        batch.drop_index("ix_worklist_patients_mrn")
        for column in reversed(_patient_columns()):
            batch.drop_column(column.name)
