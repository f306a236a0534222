"""The assessment listener: the CDS hook (and anything else that assesses patients) reports its
assessments here, and the worklist records those worth a recruiter's look."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import store

log = logging.getLogger(__name__)
Listener = Callable[[str, dict[str, Any], str], None]


def make_listener(sessions: sessionmaker[Session]) -> Listener:
    """``listener(fhir_server, assessment, source)``: ``store.record_if_relevant`` in a session
    of its own. Never raises: the hook answers whatever happens here."""

    def listener(fhir_server: str, assessment: dict[str, Any], source: str) -> None:
        try:
            with sessions() as session:
                store.record_if_relevant(
                    session, fhir_server=fhir_server, assessment=assessment, source=source
                )
        except Exception as exc:
            log.warning("worklist: could not record an assessment (%s)", type(exc).__name__)

    return listener
