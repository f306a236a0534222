"""For each ``unknown`` criterion: what data would decide it, and which of it this app could not
read. Clinical wording is data (one line per criterion, after criteria.md). Pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cds_service.eligibility.availability import READS
from cds_service.i18n.message import N_, Arg, define
from cds_service.i18n.render import STABLE, Renderer

# What decides each criterion when it is unknown (criteria.md; protocol items in brackets).
NEEDED = define(
    N_("needed.I1", "A confirmed IgG4-RD diagnosis (Condition, not provisional or differential)."),
    N_("needed.I2", "A full birth date (Patient.birthDate) to tell whether the age is 18–70."),
    N_(
        "needed.I3",
        "A serum IgG4 result dated on or before the start of IgG4-RD therapy (baseline).",
    ),
    N_(
        "needed.I4",
        "A major-organ manifestation (Condition, or bodySite of the IgG4-RD diagnosis).",
    ),
    N_(
        "needed.I5",
        "A current serum IgG4 (within 180 days), a nadir after treatment start, a baseline, "
        "and the maintenance therapy record.",
    ),
    N_("needed.I6", "Written informed consent: obtained at the screening visit."),
    N_("needed.I7", "Agreement to contraception: confirmed at the screening visit."),
    N_(
        "needed.E1",
        "An IgG4-RD Responder Index within 180 days (else assessed at the screening visit).",
    ),
    N_("needed.E2", "A major-organ manifestation (as I4)."),
    N_(
        "needed.E3",
        "HCV RNA after a positive HCV antibody; evidence of active TB when latent TB or a "
        "positive IGRA is recorded; HBsAg, HIV and HCV results.",
    ),
    N_(
        "needed.E4",
        "Dates and status of the recorded malignancy (onset, abatement, clinical status).",
    ),
    N_("needed.E5", "The patient's diagnoses (Conditions), to rule out an immunodeficiency."),
    N_("needed.E6", "Severe comorbidities: the investigator's judgement at the screening visit."),
    N_("needed.E7", "Whether a Castleman disease is IgG4-related (the investigator decides)."),
    N_("needed.E8", "Enrolment in other studies (ResearchSubject)."),
    N_("needed.E9", "The patient's diagnoses (Conditions), to rule out alcohol or drug abuse."),
    N_("needed.E10", "Pregnancy or lactation records, a pregnancy status or an hCG test."),
    N_(
        "needed.E11",
        "Hb, neutrophils, platelets, ALT, AST, total bilirubin and creatinine (or eGFR) "
        "within 90 days.",
    ),
    N_("needed.unreadable", "{type}: {why}"),
)


@dataclass(frozen=True, slots=True)
class Missing:
    id: str
    criterion: dict[str, Any]  # the assessment's criterion (its reason and title are rendered)
    needed: str
    unreadable: tuple[str, ...]  # "Condition: not within the access granted to this app"


def missing_data(
    assessment: dict[str, Any], unavailable: Mapping[str, Arg], tr: Renderer = STABLE
) -> list[Missing]:
    """Each unknown criterion with what would decide it, in ``tr``'s language."""
    out: list[Missing] = []
    for c in assessment.get("criteria") or []:
        if c.get("status") != "unknown":
            continue
        cid = str(c.get("id"))
        unreadable = tuple(
            tr.text("needed.unreadable", type=rtype, why=unavailable[rtype])
            for rtype in READS.get(cid, ())
            if rtype in unavailable
        )
        out.append(
            Missing(
                id=cid,
                criterion=c,
                needed=tr.text(f"needed.{cid}") if f"needed.{cid}" in NEEDED else "",
                unreadable=unreadable,
            )
        )
    return out


def needed_texts(tr: Renderer = STABLE) -> dict[str, str]:
    """What would decide each criterion, by criterion id, in ``tr``'s language."""
    return {key.removeprefix("needed."): tr.text(key) for key in NEEDED if key[7:8] in "IE"}
