"""Models of the CDS Hooks service: cards issued, clinicians' feedback on them, JWT ids seen."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from cds_service.db.base import Base


class IssuedCard(Base):
    """A card the hook returned. Feedback names only the card uuid; this ties it to a patient."""

    __tablename__ = "cds_issued_card"

    uuid: Mapped[str] = mapped_column(String(36), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64))
    fhir_server: Mapped[str] = mapped_column(String(512))
    patient_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(32))  # candidate | needs-review | ineligible
    fingerprint: Mapped[str] = mapped_column(String(64))  # sha256 of the decisive assessment
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The hook's context.userId: the clinician the card was shown to (feedback carries no user).
    user_id: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_cds_issued_card_patient", "fhir_server", "patient_id"),)


class CardFeedback(Base):
    """One feedback item (CDS Hooks 2.0 feedback): accepted or overridden, with the reason."""

    __tablename__ = "cds_card_feedback"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    card_uuid: Mapped[str] = mapped_column(String(64), index=True)
    service_id: Mapped[str] = mapped_column(String(64))
    outcome: Mapped[str] = mapped_column(String(16))  # accepted | overridden
    override_system: Mapped[str | None] = mapped_column(String(256))
    override_code: Mapped[str | None] = mapped_column(String(128))
    override_display: Mapped[str | None] = mapped_column(String(256))
    user_comment: Mapped[str | None] = mapped_column(Text)
    accepted_suggestions: Mapped[str | None] = mapped_column(Text)  # JSON list of suggestion uuids
    outcome_timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the client's
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # ours: orders, times
    # Copied from the issued card (None when the card is unknown to this service).
    fhir_server: Mapped[str | None] = mapped_column(String(512))
    patient_id: Mapped[str | None] = mapped_column(String(128))
    fingerprint: Mapped[str | None] = mapped_column(String(64))
    user_id: Mapped[str | None] = mapped_column(String(256))

    __table_args__ = (Index("ix_cds_card_feedback_patient", "fhir_server", "patient_id"),)


class SeenJwt(Base):
    """A CDS client JWT already accepted (iss, jti), kept until it expires: replay protection."""

    __tablename__ = "cds_seen_jwt"

    issuer: Mapped[str] = mapped_column(String(512), primary_key=True)
    jti: Mapped[str] = mapped_column(String(256), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
