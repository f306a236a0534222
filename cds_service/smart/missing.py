"""For each ``unknown`` criterion: what data would decide it, and which of it this app could not
read. Clinical wording is data (one line per criterion, after criteria.md). Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cds_service.eligibility.availability import READS

# What decides each criterion when it is unknown (criteria.md; protocol items in brackets).
NEEDED: dict[str, str] = {
    "I1": "A confirmed IgG4-RD diagnosis (Condition, not provisional or differential).",
    "I2": "A full birth date (Patient.birthDate) to tell whether the age is 18–70.",
    "I3": "A serum IgG4 result dated on or before the start of IgG4-RD therapy (baseline).",
    "I4": "A major-organ manifestation (Condition, or bodySite of the IgG4-RD diagnosis).",
    "I5": "A current serum IgG4 (within 180 days), a nadir after treatment start, a baseline, "
    "and the maintenance therapy record.",
    "I6": "Written informed consent: obtained at the screening visit.",
    "I7": "Agreement to contraception: confirmed at the screening visit.",
    "E1": "An IgG4-RD Responder Index within 180 days (else assessed at the screening visit).",
    "E2": "A major-organ manifestation (as I4).",
    "E3": "HCV RNA after a positive HCV antibody; evidence of active TB when latent TB or a "
    "positive IGRA is recorded; HBsAg, HIV and HCV results.",
    "E4": "Dates and status of the recorded malignancy (onset, abatement, clinical status).",
    "E5": "The patient's diagnoses (Conditions), to rule out an immunodeficiency.",
    "E6": "Severe comorbidities: the investigator's judgement at the screening visit.",
    "E7": "Whether a Castleman disease is IgG4-related (the investigator decides).",
    "E8": "Enrolment in other studies (ResearchSubject).",
    "E9": "The patient's diagnoses (Conditions), to rule out alcohol or drug abuse.",
    "E10": "Pregnancy or lactation records, a pregnancy status or an hCG test.",
    "E11": "Hb, neutrophils, platelets, ALT, AST, total bilirubin and creatinine (or eGFR) "
    "within 90 days.",
}


@dataclass(frozen=True, slots=True)
class Missing:
    id: str
    title: str
    reason: str
    needed: str
    unreadable: tuple[str, ...]  # "Condition: not within the access granted to this app"


def missing_data(assessment: dict[str, Any], unavailable: dict[str, str]) -> list[Missing]:
    out: list[Missing] = []
    for c in assessment.get("criteria") or []:
        if c.get("status") != "unknown":
            continue
        cid = str(c.get("id"))
        unreadable = tuple(
            f"{rtype}: {unavailable[rtype]}" for rtype in READS.get(cid, ()) if rtype in unavailable
        )
        out.append(
            Missing(
                id=cid,
                title=str(c.get("title") or ""),
                reason=str(c.get("reason") or ""),
                needed=NEEDED.get(cid, ""),
                unreadable=unreadable,
            )
        )
    return out
