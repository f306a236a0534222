"""Cards issued, feedback stored, and the rule that hides an overridden card for a while.

Dismissal belongs to the clinician who dismissed: an overridden card is not shown again to the same
clinician (the hook's ``context.userId``) for the same patient for ``OVERRIDE_SUPPRESS_DAYS`` unless
the assessment changed (its fingerprint differs). ``OVERRIDE_SUPPRESS_SCOPE: patient`` makes any
clinician's dismissal hide the card from everyone. Feedback names no user: it is tied to one through
the card ``uuid`` issued to that user. The latest feedback decides (accepting a later card ends the
suppression), and "latest" and the window run from the time this service received the feedback,
never from the client's ``outcomeTimestamp`` (which is stored, for the record, and trusted for
nothing).

The API is three calls: ``record_card`` (a card shown), ``store_feedback`` (the clinician's answer,
returning each item with the card it is about, for listeners such as the worklist hand-off) and
``is_suppressed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.db import utc
from cds_service.db.feedback import CardFeedback, IssuedCard

log = logging.getLogger("igg4_cds.hooks")

OUTCOMES = ("accepted", "overridden")
SCOPES = ("user", "patient")  # OVERRIDE_SUPPRESS_SCOPE: whose dismissal hides the card
USER_ID_MAX = 256


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


@dataclass(frozen=True, slots=True)
class IssuedCardInfo:
    """The card a feedback item is about, as it was issued (who saw it, about whom)."""

    uuid: str
    fhir_server: str
    patient_id: str
    user_id: str | None
    status: str
    fingerprint: str
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class StoredFeedback:
    """One feedback item as stored, with the issued card it names (None: not a card of ours)."""

    item: FeedbackItem
    card: IssuedCardInfo | None
    received_at: datetime

    @property
    def accepted(self) -> bool:
        return self.item.outcome == "accepted"


def store_feedback(
    session: Session, items: Iterable[FeedbackItem], service_id: str, now: datetime
) -> list[StoredFeedback]:
    """Store each item with the card's patient and clinician; ``now`` is the receive time."""
    stored: list[StoredFeedback] = []
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
                user_id=issued.user_id if issued else None,
            )
        )
        info = None
        if issued is not None:
            info = IssuedCardInfo(
                uuid=issued.uuid,
                fhir_server=issued.fhir_server,
                patient_id=issued.patient_id,
                user_id=issued.user_id,
                status=issued.status,
                fingerprint=issued.fingerprint,
                issued_at=utc(issued.issued_at),
            )
        stored.append(StoredFeedback(item, info, now))
    return stored


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
    user_id: str | None = None,
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
            user_id=user_key(user_id),
        )
    )


def user_key(user_id: str | None) -> str | None:
    """The clinician as stored: the hook's ``context.userId`` (bounded), None when not sent."""
    return user_id[:USER_ID_MAX] if user_id else None


def is_suppressed(
    session: Session,
    *,
    fhir_server: str,
    patient_id: str,
    fingerprint: str,
    now: datetime,
    days: int,
    user_id: str | None = None,
    scope: str = "user",
) -> bool:
    """Whether the latest feedback (by receive time) on this patient's cards, from this clinician
    (scope ``user``) or anyone (scope ``patient``), dismissed this same assessment within ``days``
    before ``now``."""
    if days <= 0:
        return False
    query = select(CardFeedback).where(
        CardFeedback.fhir_server == fhir_server, CardFeedback.patient_id == patient_id
    )
    if scope == "user":
        key = user_key(user_id)
        query = query.where(
            CardFeedback.user_id == key if key is not None else CardFeedback.user_id.is_(None)
        )
    latest = session.scalars(
        query.order_by(CardFeedback.received_at.desc(), CardFeedback.id.desc()).limit(1)
    ).first()
    return (
        latest is not None
        and latest.outcome == "overridden"
        and latest.fingerprint == fingerprint
        and utc(latest.received_at) >= now - timedelta(days=days)
    )


FeedbackListener = Callable[["StoredFeedback"], None]
FEEDBACK_LISTENERS_KEY = "igg4_feedback_listeners"


def add_feedback_listener(app: Any, listener: FeedbackListener) -> None:
    """Call ``listener`` with every feedback item once it is stored (e.g. an accepted referral
    suggestion moves the worklist row). ``app`` is the Flask application."""
    app.extensions.setdefault(FEEDBACK_LISTENERS_KEY, []).append(listener)


def notify_feedback_listeners(app: Any, stored: Iterable[StoredFeedback]) -> None:
    """A failing listener is logged (type only) and never fails the feedback request."""
    listeners = list(app.extensions.get(FEEDBACK_LISTENERS_KEY, []))
    for entry in stored:
        for listener in listeners:
            try:
                listener(entry)
            except Exception as exc:
                log.error(
                    "feedback listener %s failed: %s",
                    getattr(listener, "__qualname__", type(listener).__name__),
                    type(exc).__name__,
                )
