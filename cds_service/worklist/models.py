"""Worklist tables: flagged patients, their assessment history, notes, users and the audit trail.

Registered on the project's shared ``Base`` so one Alembic history covers every table
(revision ``0002_worklist``).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

from cds_service.db import utc
from cds_service.db.base import Base

JSONType = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite drops the offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return utc(value)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return None if value is None else utc(value)


def utcnow() -> datetime:
    return datetime.now(UTC)


class User(Base):
    __tablename__ = "worklist_users"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(120), unique=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))  # recruiter | investigator | admin
    password_hash: Mapped[str | None] = mapped_column(String(255))  # None for OIDC accounts
    oidc_subject: Mapped[str | None] = mapped_column(String(255), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Bumped on password change / deactivation: invalidates every open session of the user.
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The daily digest (optional): sent to this address; patients since the last one.
    email: Mapped[str | None] = mapped_column(String(254))
    last_digest_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(Base):
    __tablename__ = "worklist_api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("worklist_users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # sha256 hex; token never kept
    label: Mapped[str | None] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(Boolean, default=False)

    user: Mapped[User] = relationship()


class FlaggedPatient(Base):
    """One patient of one FHIR server on the worklist, with the recruiter's workflow state."""

    __tablename__ = "worklist_patients"
    __table_args__ = (UniqueConstraint("fhir_server", "patient_id", name="uq_worklist_patient"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fhir_server: Mapped[str] = mapped_column(String(500))
    patient_id: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str | None] = mapped_column(String(200))
    # Eligibility: always the latest assessment's; the recruiter's state is separate.
    eligibility: Mapped[str] = mapped_column(String(20), index=True)
    previous_eligibility: Mapped[str | None] = mapped_column(String(20))
    eligibility_change: Mapped[str | None] = mapped_column(String(30))  # "newly-candidate", ...
    eligibility_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    change_acknowledged: Mapped[bool] = mapped_column(Boolean, default=True)
    as_of: Mapped[date] = mapped_column(Date)
    last_assessed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    workflow_state: Mapped[str] = mapped_column(String(20), default="new", index=True)
    assignee_id: Mapped[int | None] = mapped_column(
        ForeignKey("worklist_users.id", ondelete="SET NULL"), index=True
    )
    # Optimistic lock for recruiter edits (state, assignee); assessments never bump it.
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # Who to call (fhir_mappings.summary.PatientSummary of the latest hand-off that had one).
    birth_date: Mapped[str | None] = mapped_column(String(10))  # as recorded, maybe partial
    gender: Mapped[str | None] = mapped_column(String(10))
    mrn: Mapped[str | None] = mapped_column(String(64), index=True)
    phone: Mapped[str | None] = mapped_column(String(40))
    general_practitioner: Mapped[str | None] = mapped_column(String(200))
    # The latest assessment at a glance (rowfacts.row_facts) and the list's sort key.
    facts: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    reelevated_on: Mapped[date | None] = mapped_column(Date)
    # A clinician's referral (CDS card suggestion accepted, or the SMART app's Refer): the latest.
    referred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    referred_by: Mapped[str | None] = mapped_column(String(200))
    referred_via: Mapped[str | None] = mapped_column(String(20))  # cds-card | smart-app
    # The reason of a closing decision (declined / not-eligible); cleared when reopened.
    decision_reason: Mapped[str | None] = mapped_column(String(40))
    decision_criterion: Mapped[str | None] = mapped_column(String(8))
    decision_note: Mapped[str | None] = mapped_column(Text)

    assignee: Mapped[User | None] = relationship()


class AssessmentRecord(Base):
    """The assessment history; a row per distinct assessment content (see store.content_hash)."""

    __tablename__ = "worklist_assessments"
    __table_args__ = (Index("ix_worklist_assessments_patient", "patient_row_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_row_id: Mapped[int] = mapped_column(
        ForeignKey("worklist_patients.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(String(20))
    as_of: Mapped[date] = mapped_column(Date)
    last_as_of: Mapped[date] = mapped_column(Date)  # latest as-of that produced the same content
    source: Mapped[str] = mapped_column(String(20))  # hook | screen | manual | demo
    content_hash: Mapped[str] = mapped_column(String(64))
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSONType)
    igg4: Mapped[dict[str, Any]] = mapped_column(JSONType)
    data_issues: Mapped[list[str]] = mapped_column(JSONType)
    parameters: Mapped[dict[str, Any]] = mapped_column(JSONType)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # What each cited resource says ({"Observation/x": EvidenceItem.to_dict()}), when handed over.
    evidence: Mapped[dict[str, Any] | None] = mapped_column(JSONType)


class Note(Base):
    __tablename__ = "worklist_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_row_id: Mapped[int] = mapped_column(
        ForeignKey("worklist_patients.id", ondelete="CASCADE"), index=True
    )
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("worklist_users.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    author: Mapped[User | None] = relationship()


class AuditEvent(Base):
    """Who did what, when: every view and change (the record itself, never a log line)."""

    __tablename__ = "worklist_audit"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("worklist_users.id", ondelete="SET NULL")
    )
    actor: Mapped[str] = mapped_column(String(120))  # username, or "system:<source>"
    action: Mapped[str] = mapped_column(String(40))
    patient_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("worklist_patients.id", ondelete="CASCADE"), index=True
    )
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class Referral(Base):
    """A clinician's referral to the study team, kept even when it arrives before the patient is
    listed (then applied to the row when it is created)."""

    __tablename__ = "worklist_referrals"
    __table_args__ = (Index("ix_worklist_referrals_patient", "fhir_server", "patient_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fhir_server: Mapped[str] = mapped_column(String(500))
    patient_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    by: Mapped[str] = mapped_column(String(200))
    via: Mapped[str] = mapped_column(String(20))  # cds-card | smart-app
    detail: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    patient_row_id: Mapped[int | None] = mapped_column(
        ForeignKey("worklist_patients.id", ondelete="CASCADE"), index=True
    )


class LoginSession(Base):
    """A signed-in browser session, kept on the server so that it can be revoked: logout deletes
    the row, and a copy of the old cookie then finds nothing (revision 0005_sessions_throttle)."""

    __tablename__ = "worklist_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie's token
    user_id: Mapped[int] = mapped_column(
        ForeignKey("worklist_users.id", ondelete="CASCADE"), index=True
    )
    epoch: Mapped[int] = mapped_column(Integer)  # the user's session_epoch at login
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LoginThrottle(Base):
    """Failed-login counters per user name and per address, one row per key, updated by single
    atomic statements so that parallel attempts can never exceed the limit (any worker, any
    process)."""

    __tablename__ = "worklist_login_throttle"

    key: Mapped[str] = mapped_column(String(200), primary_key=True)  # "user:<name>" or "ip:<addr>"
    failures: Mapped[int] = mapped_column(Integer)  # attempts in the window not ended by a success
    window_start: Mapped[datetime] = mapped_column(UTCDateTime)
