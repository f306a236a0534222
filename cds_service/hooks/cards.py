"""Cards of the screening service: what the clinician sees in the EHR, read in five seconds.

One card for a ``candidate`` or ``needs-review`` patient (for ``ineligible`` only when configured),
carrying the engine's assessment as ``extension["org.igg4cds.assessment"]``; and a card that says
the check could not be completed, when the FHIR server failed.

The ``detail`` (at most ``DETAIL_MAX`` characters of CommonMark) leads with the verdict and the IgG4
course in one line (baseline -> nadir -> current, the re-elevation line and the rule), then only what
needs the clinician, one short line each: what was not read from the EHR, the items to confirm at
the screening visit, the criteria the record leaves ``unknown`` (or, for an ineligible patient, what
rules them out). The full table of criteria with evidence is one link away (worklist, SMART app).
The words live in ``card_text`` as templates with named values.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from cds_service.hooks.card_text import (
    MESSAGES,
    RESOURCE_NAMES,
    Markdown,
    criterion_name,
    md,
    message,
    number,
    plain,
    plural,
    shorten_reason,
)
from cds_service.hooks.referral import TRIAL_ID, referral_request

EXTENSION_KEY = "org.igg4cds.assessment"
CODE_SYSTEM = "http://igg4-cds.org/fhir/CodeSystem"
SOURCE_LABEL = f"IgG4-RD trial screening ({TRIAL_ID})"
DETAIL_MAX = 1200  # characters of markdown: a card read in five seconds
SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"
REASON_MAX = 140  # characters of one criterion's reason on the card (the table has it whole)
ITEMS_MAX = 5  # lines per section before "and N more in the full table"

# Criteria confirmed at the screening visit (criteria.md "Overall status"); E1 only when unknown.
VISIT_CRITERIA = ("I6", "I7", "E1", "E6")
VISIT_REASON_SHOWN = ("E6",)  # its reason lists recorded conditions worth the investigator's look

OVERRIDE_REASONS: list[dict[str, str]] = [
    {"system": f"{CODE_SYSTEM}/override-reason", "code": code, "display": display}
    for code, display in (
        ("already-referred", "Already referred or screened for this trial"),
        ("patient-declined", "Patient not interested in trials"),
        ("clinically-inappropriate", "Not appropriate for this patient"),
        ("data-incorrect", "The record's data is wrong or out of date"),
    )
]


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
    # resource type -> why it was not read (a FhirError kind: "timeout", "unauthorized", ...)
    unread: Mapping[str, str] = field(default_factory=dict)


def fingerprint(assessment: dict[str, Any]) -> str:
    """What decides the card: overall and per-criterion status with evidence (not the wording)."""
    decisive = [assessment.get("status")] + [
        [c.get("id"), c.get("status"), sorted(c.get("evidence") or [])]
        for c in assessment.get("criteria") or []
    ]
    return hashlib.sha256(orjson.dumps(decisive)).hexdigest()


# ---- which criteria the card names -------------------------------------------------------------


def _criteria(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    return [c for c in assessment.get("criteria") or [] if isinstance(c, dict)]


def ruling_out(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """Inclusions not met and exclusions that apply."""
    return [
        c
        for c in _criteria(assessment)
        if (c.get("type") == "inclusion" and c.get("status") == "not-met")
        or (c.get("type") == "exclusion" and c.get("status") == "met")
    ]


def without_mirrors(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """E2 is I4's mirror (criteria.md): listed beside I4 it says nothing more."""
    ids = {c.get("id") for c in criteria}
    return [c for c in criteria if not (c.get("id") == "E2" and "I4" in ids)]


def visit_items(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """The unknown criteria the screening visit settles (consent, contraception, judgement, RI)."""
    return [
        c
        for c in _criteria(assessment)
        if c.get("status") == "unknown" and c.get("id") in VISIT_CRITERIA
    ]


def undecided(assessment: dict[str, Any]) -> list[dict[str, Any]]:
    """The other unknown criteria: data missing, unreadable or needing the investigator."""
    return [
        c
        for c in _criteria(assessment)
        if c.get("status") == "unknown" and c.get("id") not in VISIT_CRITERIA
    ]


# ---- summary -----------------------------------------------------------------------------------


def summary(assessment: dict[str, Any], unread: Mapping[str, str] | None = None) -> str:
    """Plain text under 140 characters: the verdict and what the clinician has to do."""
    status = assessment["status"]
    if status == "candidate":
        count = len(visit_items(assessment))
        text = plain(plural("summary.candidate", count), trial=TRIAL_ID, count=count)
    elif status == "needs-review":
        count = len(undecided(assessment))
        key = "summary.needs-review.unread" if unread else "summary.needs-review"
        text = plain(plural(key, count), trial=TRIAL_ID, count=count)
    else:
        names = [f"{c.get('id')} {criterion_name(c)}" for c in ruling_out(assessment)]
        text = plain("summary.ineligible", trial=TRIAL_ID, criteria=", ".join(names) or "-")
        if len(text) > SUMMARY_MAX:
            ids = ", ".join(str(c.get("id")) for c in ruling_out(assessment))
            text = plain("summary.ineligible", trial=TRIAL_ID, criteria=ids)
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


# ---- detail ------------------------------------------------------------------------------------


def _point(igg4: dict[str, Any], key: str) -> dict[str, Any] | None:
    point = igg4.get(key)
    return point if isinstance(point, dict) and point.get("value") is not None else None


def _value(point: dict[str, Any]) -> str:
    """A result's value, with its comparator when censored (``<70``)."""
    comparator = point.get("comparator")
    prefix = (
        comparator if isinstance(comparator, str) and comparator in ("<", "<=", ">", ">=") else ""
    )
    return prefix + number(point.get("value"))


def igg4_course(assessment: dict[str, Any], unread: Mapping[str, str] | None = None) -> Markdown:
    """'Serum IgG4: baseline 2,600 (2022-03-01) -> nadir 380 (...) -> current 1,300 mg/L (...),
    back at or above the re-elevation line of 780 mg/L (30% of baseline, rule ...).'"""
    igg4 = assessment.get("igg4") if isinstance(assessment.get("igg4"), dict) else {}
    assert isinstance(igg4, dict)
    keys = ("baseline", "nadir", "current")
    points = {k: _point(igg4, k) for k in keys}
    present = [k for k in keys if points[k] is not None]
    if not present:
        return md("course.unread" if "Observation" in (unread or {}) else "course.none")
    shown: list[str] = []
    for key in present:
        point = points[key]
        assert point is not None
        value = _value(point)
        if key == present[-1]:
            value = str(md("course.unit", value=value))
        shown.append(
            md(
                "course.point",
                label=Markdown(message(f"point.{key}")),
                value=Markdown(value),
                date=point.get("date") or "?",
            )
        )
    course = " → ".join(shown)
    missing = [
        md("course.missing", label=Markdown(message(f"point.{k}")))
        for k in keys
        if points[k] is None
    ]
    if missing:
        course += "; " + "; ".join(missing)
    clause = _line_clause(igg4, points)
    text = md("course.intro", points=Markdown(course))
    return Markdown(f"{text}, {clause}." if clause else f"{text}.")


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _line_clause(igg4: dict[str, Any], points: dict[str, dict[str, Any] | None]) -> str:
    """How the course stands against the re-elevation rule (criteria.md "IgG4 timeline")."""
    base, nadir, current = (
        _num(p.get("value")) if p else None
        for p in (points["baseline"], points["nadir"], points["current"])
    )
    rule = str(igg4.get("rule") or "")
    line = _num(igg4.get("threshold"))
    if igg4.get("thresholdComparator") or any(p and p.get("comparator") for p in points.values()):
        return ""  # a censored value: the I5 reason says how it stands (docs/criteria.md)
    if rule == "ratio-vs-nadir":
        if nadir is None or current is None or nadir <= 0:
            return ""
        return md("line.ratio", ratio=number(current / nadir), rule=rule)
    if line is None or base is None or base <= 0:
        return ""
    values = {"line": number(line), "percent": number(line / base * 100), "rule": rule}
    if nadir is None or current is None:
        return md("line.missing-point", **values)
    if rule == "rise-vs-baseline":
        return md("line.rise", rise=number(current - nadir), **values)
    if nadir >= line:
        return md("line.never-below", **values)
    if current >= line:
        return md("line.above", **values)
    return md("line.below", **values)


def _item(criterion: dict[str, Any], with_reason: bool) -> Markdown:
    name = criterion_name(criterion)
    reason = criterion.get("reason")
    if with_reason and reason:
        return md(
            "item.reason",
            id=criterion.get("id"),
            name=name,
            reason=shorten_reason(reason, REASON_MAX),
        )
    return md("item", id=criterion.get("id"), name=name)


@dataclass(slots=True)
class _Section:
    heading: Markdown
    items: list[Markdown]
    after: list[Markdown] = field(default_factory=list)
    hidden: int = 0  # items left for the full table

    def lines(self) -> list[str]:
        out = [self.heading, *self.items]
        if self.hidden:
            out.append(md(plural("item.more", self.hidden), count=self.hidden))
        return [*out, *self.after]


def _unread_section(unread: Mapping[str, str]) -> _Section | None:
    if not unread:
        return None
    items = []
    for rtype, kind in unread.items():
        why = kind if kind in ("timeout", "unauthorized", "too-large") else "other"
        what = RESOURCE_NAMES.get(rtype, rtype)
        items.append(
            md(
                "unread.item",
                what=f"{what[:1].upper()}{what[1:]} ({rtype})",
                why=Markdown(message(f"unread.{why}")),
            )
        )
    return _Section(md("section.unread"), items, [md("unread.after")])


# The engine's data issue for a resource type that could not be read ("Observation: could not be
# read (...)"): the card says that in its own section, not as "a result that could not be used".
_UNREAD_ISSUE = re.compile(r"[A-Z][A-Za-z]+: could not be read \(")


def detail(
    assessment: dict[str, Any],
    *,
    unread: Mapping[str, str] | None = None,
    links: bool = False,
    smart_link: bool = False,
) -> str:
    """CommonMark, at most ``DETAIL_MAX`` characters (see the module docstring)."""
    status = str(assessment.get("status"))
    head = Markdown(f"**{md(f'verdict.{status}')}.** {igg4_course(assessment, unread)}")
    sections: list[_Section] = []
    unread_section = _unread_section(unread or {})
    if unread_section:
        sections.append(unread_section)
    if status == "ineligible":
        sections.append(
            _Section(
                md("section.ruled-out"),
                [_item(c, True) for c in without_mirrors(ruling_out(assessment))],
            )
        )
    else:
        others = without_mirrors(undecided(assessment))
        if others:
            sections.append(_Section(md("section.unknown"), [_item(c, True) for c in others]))
        visit = visit_items(assessment)
        if visit:
            sections.append(
                _Section(
                    md("section.visit"),
                    [_item(c, c.get("id") in VISIT_REASON_SHOWN) for c in visit],
                )
            )
    tail: list[str] = []
    issues = [i for i in assessment.get("dataIssues") or [] if not _UNREAD_ISSUE.match(str(i))]
    if issues:
        tail.append(md(plural("issues", len(issues)), count=len(issues)))
    if links:  # links, not a markdown link: a click in the detail would leave the EHR's page
        key = "more.smart" if smart_link else "more.worklist"
        tail.append(md(key, count=len(_criteria(assessment))) + ".")
    for section in sections:
        if len(section.items) > ITEMS_MAX:
            section.hidden = len(section.items) - ITEMS_MAX
            del section.items[ITEMS_MAX:]
    text = _join(head, sections, tail)
    while len(text) > DETAIL_MAX:  # drop items from the longest section into "N more"
        longest = max(sections, key=lambda s: len(s.items), default=None)
        if longest is None or not longest.items:
            break
        longest.items.pop()
        longest.hidden += 1
        text = _join(head, sections, tail)
    return text if len(text) <= DETAIL_MAX else text[: DETAIL_MAX - 1] + "…"


def _join(head: str, sections: list[_Section], tail: list[str]) -> str:
    blocks = [head, *("\n".join(s.lines()) for s in sections), *tail]
    return "\n\n".join(blocks)


# ---- the card ----------------------------------------------------------------------------------


def worklist_link(ctx: CardContext) -> str:
    query = urlencode({"server": ctx.fhir_server or "", "patient": ctx.patient_id}, quote_via=quote)
    return f"{ctx.worklist_base_url.rstrip('/')}/worklist/patients/lookup?{query}"


def screening_card(assessment: dict[str, Any], ctx: CardContext) -> dict[str, Any]:
    links: list[dict[str, Any]] = [
        {"label": message("link.worklist"), "url": worklist_link(ctx), "type": "absolute"},
        {
            "label": plain("link.trial", trial=TRIAL_ID),
            "url": ctx.trial_url,
            "type": "absolute",
        },
    ]
    if ctx.smart_launch_url:
        links.append(
            {
                "label": message("link.smart"),
                "url": ctx.smart_launch_url,
                "type": "smart",
                "appContext": orjson.dumps({"trial": TRIAL_ID}).decode(),
            }
        )
    card: dict[str, Any] = {
        "uuid": ctx.card_uuid,
        "summary": summary(assessment, ctx.unread),
        "detail": detail(
            assessment,
            unread=ctx.unread,
            links=True,
            smart_link=bool(ctx.smart_launch_url),
        ),
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
                "label": plain("suggestion.refer", trial=TRIAL_ID),
                "uuid": ctx.suggestion_uuid,
                "isRecommended": False,
                "actions": [
                    {
                        "type": "create",
                        "description": message("suggestion.refer.action"),
                        "resource": referral,
                    }
                ],
            }
        ]
    return card


def incomplete_card(card_uuid: str, kind: str, trial_url: str) -> dict[str, Any]:
    """Said instead of silence, so that 'no card' never stands for 'not a candidate' by mistake."""
    why = f"failure.{kind}" if f"failure.{kind}" in MESSAGES else "failure.other"
    return {
        "uuid": card_uuid,
        "summary": plain("incomplete.summary", trial=TRIAL_ID),
        "detail": md("incomplete.detail", why=Markdown(message(why))),
        "indicator": "info",
        "source": {"label": SOURCE_LABEL, "url": trial_url},
        "extension": {f"{EXTENSION_KEY}-error": {"kind": kind}},
    }
