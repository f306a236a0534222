"""Cards issued, feedback stored, and the rule that hides an overridden card for a while.

An overridden card is not shown again for the same patient for ``OVERRIDE_SUPPRESS_DAYS`` unless the
assessment changed (its fingerprint differs). The clinician's latest feedback decides: accepting a
later card ends the suppression.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.db import utc
from cds_service.db.feedback import CardFeedback, IssuedCard

OUTCOMES = ("accepted", "overridden")


class FeedbackError(ValueError):
    """The feedback body does not follow CDS Hooks 2.0; the message is safe to return."""


@dataclass(frozen=True, slots=True)
class FeedbackItem:
    card: str
    outcome: str
    outcome_timestamp: datetime
    accepted_suggestions: tuple[str, ...] = ()
    reason: dict[str, Any] | None = None
    user_comment: str | None = None


def parse_feedback(body: Any) -> list[FeedbackItem]:
    if not isinstance(body, dict) or not isinstance(body.get("feedback"), list):
        raise FeedbackError("body must be an object with a 'feedback' array")
    items = []
    for n, raw in enumerate(body["feedback"]):
        if not isinstance(raw, dict):
            raise FeedbackError(f"feedback[{n}] must be an object")
        card, outcome, stamp = raw.get("card"), raw.get("outcome"), raw.get("outcomeTimestamp")
        if not isinstance(card, str) or not card or len(card) > 64:
            raise FeedbackError(f"feedback[{n}].card must be the card's uuid")
        if outcome not in OUTCOMES:
            raise FeedbackError(f"feedback[{n}].outcome must be 'accepted' or 'overridden'")
        try:
            when = utc(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
        except ValueError as exc:
            raise FeedbackError(f"feedback[{n}].outcomeTimestamp must be an instant") from exc
        accepted = raw.get("acceptedSuggestions") or []
        if not isinstance(accepted, list) or not all(
            isinstance(s, dict) and isinstance(s.get("id"), str) for s in accepted
        ):
            raise FeedbackError(f"feedback[{n}].acceptedSuggestions must be a list of {{id}}")
        override = raw.get("overrideReason")
        reason = comment = None
        if override is not None:
            if not isinstance(override, dict):
                raise FeedbackError(f"feedback[{n}].overrideReason must be an object")
            reason = override.get("reason") if isinstance(override.get("reason"), dict) else None
            comment = override.get("userComment")
            comment = str(comment)[:4000] if comment is not None else None
        items.append(
            FeedbackItem(card, outcome, when, tuple(s["id"] for s in accepted), reason, comment)
        )
    return items


def store_feedback(
    session: Session, items: Iterable[FeedbackItem], service_id: str, now: datetime
) -> int:
    count = 0
    for item in items:
        issued = session.get(IssuedCard, item.card)
        reason = item.reason or {}
        session.add(
            CardFeedback(
                card_uuid=item.card,
                service_id=service_id,
                outcome=item.outcome,
                override_system=_text(reason.get("system"), 256),
                override_code=_text(reason.get("code"), 128),
                override_display=_text(reason.get("display"), 256),
                user_comment=item.user_comment,
                accepted_suggestions=orjson.dumps(list(item.accepted_suggestions)).decode()
                if item.accepted_suggestions
                else None,
                outcome_timestamp=item.outcome_timestamp,
                received_at=now,
                fhir_server=issued.fhir_server if issued else None,
                patient_id=issued.patient_id if issued else None,
                fingerprint=issued.fingerprint if issued else None,
            )
        )
        count += 1
    return count


def _text(value: Any, limit: int) -> str | None:
    return str(value)[:limit] if value is not None else None


def record_card(
    session: Session,
    *,
    card_uuid: str,
    service_id: str,
    fhir_server: str,
    patient_id: str,
    status: str,
    fingerprint: str,
    now: datetime,
) -> None:
    session.add(
        IssuedCard(
            uuid=card_uuid,
            service_id=service_id,
            fhir_server=fhir_server,
            patient_id=patient_id,
            status=status,
            fingerprint=fingerprint,
            issued_at=now,
        )
    )


def is_suppressed(
    session: Session,
    *,
    fhir_server: str,
    patient_id: str,
    fingerprint: str,
    now: datetime,
    days: int,
) -> bool:
    if days <= 0:
        return False
    latest = session.scalars(
        select(CardFeedback)
        .where(CardFeedback.fhir_server == fhir_server, CardFeedback.patient_id == patient_id)
        .order_by(CardFeedback.outcome_timestamp.desc(), CardFeedback.id.desc())
        .limit(1)
    ).first()
    return (
        latest is not None
        and latest.outcome == "overridden"
        and latest.fingerprint == fingerprint
        and utc(latest.outcome_timestamp) >= now - timedelta(days=days)
    )
