"""Cards of the screening service: what the clinician sees in the EHR.

One card for a ``candidate`` or ``needs-review`` patient (for ``ineligible`` only when configured),
carrying the engine's assessment as ``extension["org.igg4cds.assessment"]``; and a card that says
the check could not be completed, when the FHIR server failed.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from cds_service.hooks.referral import TRIAL_ID, referral_request

EXTENSION_KEY = "org.igg4cds.assessment"
CODE_SYSTEM = "http://igg4-cds.org/fhir/CodeSystem"
SOURCE_LABEL = f"IgG4-RD trial screening ({TRIAL_ID})"

OVERRIDE_REASONS: list[dict[str, str]] = [
    {"system": f"{CODE_SYSTEM}/override-reason", "code": code, "display": display}
    for code, display in (
        ("already-referred", "Already referred or screened for this trial"),
        ("patient-declined", "Patient not interested in trials"),
        ("clinically-inappropriate", "Not appropriate for this patient"),
        ("data-incorrect", "The record's data is wrong or out of date"),
    )
]

_SUMMARIES = {
    "candidate": "Possible candidate for IgG4-RD trial {trial} (low-dose MMF): "
    "{n} item(s) to confirm",
    "needs-review": "IgG4-RD trial {trial} (low-dose MMF): may be eligible, {n} criteria lack data",
    "ineligible": "Not eligible for IgG4-RD trial {trial} (low-dose MMF): {reason}",
}
_SYMBOLS = {
    ("inclusion", "met"): "✅ met",
    ("inclusion", "not-met"): "❌ not met",
    ("exclusion", "met"): "❌ applies",
    ("exclusion", "not-met"): "✅ does not apply",
}


@dataclass(frozen=True, slots=True)
class CardContext:
    card_uuid: str
    suggestion_uuid: str
    patient_id: str
    fhir_server: str | None
    user_id: str | None
    worklist_base_url: str
    smart_launch_url: str | None
    trial_url: str
    study_team: str | None
    now: datetime


def fingerprint(assessment: dict[str, Any]) -> str:
    """What decides the card: overall and per-criterion status with evidence (not the wording)."""
    decisive = [assessment.get("status")] + [
        [c.get("id"), c.get("status"), sorted(c.get("evidence") or [])]
        for c in assessment.get("criteria") or []
    ]
    return hashlib.sha256(orjson.dumps(decisive)).hexdigest()


def summary(assessment: dict[str, Any]) -> str:
    status = assessment["status"]
    criteria = assessment.get("criteria") or []
    unknown = [c for c in criteria if c.get("status") == "unknown"]
    reason = ""
    if status == "ineligible":
        failing = [
            c
            for c in criteria
            if (c.get("type") == "inclusion" and c.get("status") == "not-met")
            or (c.get("type") == "exclusion" and c.get("status") == "met")
        ]
        reason = ", ".join(str(c.get("id")) for c in failing[:6]) or "see details"
    text = _SUMMARIES[status].format(trial=TRIAL_ID, n=len(unknown), reason=reason)
    return text if len(text) < 140 else text[:136] + "…"


def _cell(value: Any) -> str:
    text = str(value) if value is not None else ""
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ").strip()


def detail(assessment: dict[str, Any]) -> str:
    """GitHub Flavored Markdown: the IgG4 course, the criteria (status, reason, evidence)."""
    lines = [f"**Screening as of {assessment.get('asOf')}**: `{assessment.get('status')}`."]
    igg4 = assessment.get("igg4") or {}
    parts = []
    for label, key in (("baseline", "baseline"), ("nadir", "nadir"), ("current", "current")):
        point = igg4.get(key)
        if isinstance(point, dict) and point.get("value") is not None:
            parts.append(f"{label} {_cell(point.get('value'))} mg/L ({_cell(point.get('date'))})")
    if parts:
        threshold = igg4.get("threshold")
        line = "Serum IgG4: " + "; ".join(parts)
        if threshold is not None:
            line += f"; re-elevation line {_cell(threshold)} mg/L"
        lines += ["", line + "."]
    lines += ["", "| | Criterion | Status | Reason | Evidence |", "|---|---|---|---|---|"]
    for c in assessment.get("criteria") or []:
        status = _SYMBOLS.get((c.get("type"), c.get("status")), "❔ unknown")
        evidence = ", ".join(_cell(e) for e in c.get("evidence") or []) or "—"
        lines.append(
            f"| {_cell(c.get('id'))} | {_cell(c.get('title'))} | {status} | "
            f"{_cell(c.get('reason'))} | {evidence} |"
        )
    issues = assessment.get("dataIssues") or []
    if issues:
        lines += ["", f"**Data issues ({len(issues)})**:"]
        lines += [f"- {_cell(i)}" for i in issues[:20]]
        if len(issues) > 20:
            lines.append(f"- … and {len(issues) - 20} more (see the worklist)")
    lines += ["", "Items marked unknown at I6, I7, E6 are confirmed at the screening visit."]
    return "\n".join(lines)


def worklist_link(ctx: CardContext) -> str:
    query = urlencode({"server": ctx.fhir_server or "", "patient": ctx.patient_id}, quote_via=quote)
    return f"{ctx.worklist_base_url.rstrip('/')}/worklist/patients/lookup?{query}"


def screening_card(assessment: dict[str, Any], ctx: CardContext) -> dict[str, Any]:
    links: list[dict[str, Any]] = [
        {"label": "Open in the recruiter worklist", "url": worklist_link(ctx), "type": "absolute"},
        {
            "label": f"Trial {TRIAL_ID} on ClinicalTrials.gov",
            "url": ctx.trial_url,
            "type": "absolute",
        },
    ]
    if ctx.smart_launch_url:
        links.append(
            {
                "label": "Open the screening app",
                "url": ctx.smart_launch_url,
                "type": "smart",
                "appContext": orjson.dumps({"trial": TRIAL_ID}).decode(),
            }
        )
    card: dict[str, Any] = {
        "uuid": ctx.card_uuid,
        "summary": summary(assessment),
        "detail": detail(assessment),
        "indicator": "info",
        "source": {
            "label": SOURCE_LABEL,
            "url": ctx.trial_url,
            "topic": {
                "system": f"{CODE_SYSTEM}/card-topic",
                "code": "trial-screening",
                "display": "Clinical trial screening",
            },
        },
        "overrideReasons": OVERRIDE_REASONS,
        "links": links,
        "extension": {EXTENSION_KEY: assessment},
    }
    if assessment["status"] != "ineligible":
        referral = referral_request(
            patient_id=ctx.patient_id,
            status=assessment["status"],
            authored=ctx.now,
            user_id=ctx.user_id,
            study_team=ctx.study_team,
            trial_url=ctx.trial_url,
        )
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [
            {
                "label": f"Refer to the {TRIAL_ID} study team",
                "uuid": ctx.suggestion_uuid,
                "isRecommended": False,
                "actions": [
                    {
                        "type": "create",
                        "description": "Create a referral (ServiceRequest) to the study team",
                        "resource": referral,
                    }
                ],
            }
        ]
    return card


_FAILURE_TEXT = {
    "unauthorized": "the EHR's FHIR server refused access",
    "timeout": "the EHR's FHIR server did not answer in time",
    "unreachable": "the EHR's FHIR server could not be reached",
    "too-large": "the patient's record exceeded the configured size limits",
    "malformed": "the EHR's FHIR server sent data that could not be read",
    "http-error": "the EHR's FHIR server answered with an error",
    "not-allowed": "the FHIR server is not on this service's allow-list",
    "engine": "the record could not be assessed",
}


def incomplete_card(card_uuid: str, kind: str, trial_url: str) -> dict[str, Any]:
    """Said instead of silence, so that 'no card' never stands for 'not a candidate' by mistake."""
    why = _FAILURE_TEXT.get(kind, "of an unexpected error")
    return {
        "uuid": card_uuid,
        "summary": f"IgG4-RD trial {TRIAL_ID} screening could not be completed",
        "detail": f"The screening did not run because {why}. Nothing was concluded about "
        "eligibility. Open the chart again later, or ask the study team.",
        "indicator": "info",
        "source": {"label": SOURCE_LABEL, "url": trial_url},
        "extension": {f"{EXTENSION_KEY}-error": {"kind": kind}},
    }
