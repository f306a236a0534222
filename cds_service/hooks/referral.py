"""The card's suggestion: a referral to the study team as a FHIR R4 ServiceRequest.

Built as plain JSON and validated with fhir.resources (its R4B models; ServiceRequest is the same
in R4 for every element used here) so that an EHR never receives an invalid resource.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from fhir.resources.R4B.servicerequest import ServiceRequest

from cds_service.db.feedback import IssuedCard
from cds_service.i18n.message import N_, define
from cds_service.i18n.render import Renderer, renderer
from cds_service.i18n.words import WORDS

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from cds_service.hooks.suppression import FeedbackItem

TRIAL_ID = "NCT05974683"
# FHIR ServiceRequest.category example value set: SNOMED CT 3457005 "Patient referral".
_REFERRAL_CATEGORY = {
    "coding": [
        {"system": "http://snomed.info/sct", "code": "3457005", "display": "Patient referral"}
    ]
}
_REQUESTER_TYPES = ("Practitioner/", "PractitionerRole/", "Organization/")

# The referral's words, written into the EHR in the clinician's language.
MESSAGES = define(
    N_(
        "referral.code",
        "Referral to the study team of trial {trial} (IgG4-RD re-elevation, low-dose MMF vs"
        " placebo) for screening",
    ),
    N_("referral.reason", "Pre-screened by igg4-cds as {status} for {trial}"),
    N_("referral.note", "Trial record: {url}"),
    N_("referral.performer", "Study team of {trial}"),
)


def referral_request(
    *,
    patient_id: str,
    status: str,
    authored: datetime,
    user_id: str | None,
    study_team: str | None,
    trial_url: str,
    tr: Renderer | None = None,
) -> dict[str, Any]:
    tr = tr or renderer()
    shown = tr.text(f"eligibility.{status}") if f"eligibility.{status}" in WORDS else status
    resource: dict[str, Any] = {
        "resourceType": "ServiceRequest",
        "status": "draft",  # the clinician's EHR activates it on signing
        "intent": "proposal",
        "category": [_REFERRAL_CATEGORY],
        "code": {"text": tr.text("referral.code", trial=TRIAL_ID)},
        "subject": {"reference": f"Patient/{patient_id}"},
        "authoredOn": authored.isoformat(timespec="seconds"),
        "reasonCode": [{"text": tr.text("referral.reason", status=shown, trial=TRIAL_ID)}],
        "note": [{"text": tr.text("referral.note", url=trial_url)}],
    }
    if user_id and user_id.startswith(_REQUESTER_TYPES):
        resource["requester"] = {"reference": user_id}
    if study_team:
        resource["performer"] = [{"reference": study_team}]
    else:
        resource["performer"] = [{"display": tr.text("referral.performer", trial=TRIAL_ID)}]
    ServiceRequest.model_validate(resource)  # raises on an invalid resource: a bug, caught by tests
    return resource


def accepted_referrals(
    session: Session, items: Iterable[FeedbackItem]
) -> list[tuple[str, str, str | None]]:
    """(fhir_server, patient_id, userId) of each card this service issued whose referral
    suggestion (the screening card's only suggestion) the clinician accepted."""
    out: list[tuple[str, str, str | None]] = []
    for item in items:
        if item.outcome != "accepted" or not item.accepted_suggestions:
            continue
        issued = session.get(IssuedCard, item.card)
        if issued is not None:
            user = getattr(issued, "user_id", None)  # the hook's context.userId, when kept
            out.append(
                (issued.fhir_server, issued.patient_id, user if isinstance(user, str) else None)
            )
    return out
