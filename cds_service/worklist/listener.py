"""The assessment listener: the CDS hook (and anything else that assesses patients) reports its
assessments here, and the worklist records those worth a recruiter's look."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cds_service.hooks.writes import retryable
from cds_service.worklist import store

log = logging.getLogger(__name__)
Listener = Callable[[str, dict[str, Any], str, dict[str, Any] | None], None]
ReferralListener = Callable[[str, str, str | None, datetime], None]


def make_listener(sessions: sessionmaker[Session]) -> Listener:
    """``listener(fhir_server, assessment, source, handoff)``: ``store.record_if_relevant`` in a
    session of its own. Raises only when the database is unavailable (so that the hook's writer
    keeps the hand-off and retries it); any other failure is logged and dropped."""

    def listener(
        fhir_server: str,
        assessment: dict[str, Any],
        source: str,
        handoff: dict[str, Any] | None = None,
    ) -> None:
        try:
            with sessions() as session:
                store.record_if_relevant(
                    session,
                    fhir_server=fhir_server,
                    assessment=assessment,
                    source=source,
                    handoff=handoff,
                )
        except Exception as exc:
            if retryable(exc):
                raise
            log.warning("worklist: could not record an assessment (%s)", type(exc).__name__)

    return listener


def make_referral_listener(sessions: sessionmaker[Session]) -> ReferralListener:
    """``listener(fhir_server, patient_id, user_id, at)``: a clinician accepted the CDS card's
    referral suggestion; ``store.record_referral``. Never raises."""

    def listener(fhir_server: str, patient_id: str, user_id: str | None, at: datetime) -> None:
        try:
            with sessions() as session:
                store.record_referral(
                    session,
                    fhir_server=fhir_server,
                    patient_id=patient_id,
                    by=user_id or "a clinician",
                    via="cds-card",
                    at=at,
                )
        except Exception as exc:
            log.warning("worklist: could not record a referral (%s)", type(exc).__name__)

    return listener
