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
from datetime import date, datetime
from typing import Any
from urllib.parse import quote, urlencode

import orjson

from cds_service.hooks.card_text import (
    MESSAGES,
    Markdown,
    criterion_name,
    escape,
    md,
    number,
    percent,
    plain,
    resource_name,
    shorten_reason,
)
from cds_service.hooks.referral import TRIAL_ID, referral_request
from cds_service.i18n.locales import DEFAULT
from cds_service.i18n.message import DecodeError, decode_msg
from cds_service.i18n.render import Renderer, renderer

EXTENSION_KEY = "org.igg4cds.assessment"
CODE_SYSTEM = "http://igg4-cds.org/fhir/CodeSystem"
DETAIL_MAX = 1200  # characters of markdown: a card read in five seconds
SUMMARY_MAX = 139  # CDS Hooks: "<140 characters"
REASON_MAX = 140  # characters of one criterion's reason on the card (the table has it whole)
ITEMS_MAX = 5  # lines per section before "and N more in the full table"

# Criteria confirmed at the screening visit (criteria.md "Overall status"); E1 only when unknown.
VISIT_CRITERIA = ("I6", "I7", "E1", "E6")
VISIT_REASON_SHOWN = ("E6",)  # its reason lists recorded conditions worth the investigator's look

OVERRIDE_CODES = (
    "already-referred",
    "patient-declined",
    "clinically-inappropriate",
    "data-incorrect",
)


def override_reasons(tr: Renderer | None = None) -> list[dict[str, str]]:
    """The reasons a clinician may give for dismissing the card (displays in the reader's
    language; the codes are what feedback carries)."""
    tr = tr or renderer()
    return [
        {
            "system": f"{CODE_SYSTEM}/override-reason",
            "code": code,
            "display": tr.text(f"override.{code}"),
        }
        for code in OVERRIDE_CODES
    ]


OVERRIDE_REASONS = override_reasons(Renderer("en"))  # the English displays, for reference


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
    locale: str = DEFAULT  # the reader's language (cds_service.i18n.locales)


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


def summary(
    assessment: dict[str, Any],
    unread: Mapping[str, str] | None = None,
    *,
    tr: Renderer | None = None,
) -> str:
    """Plain text under 140 characters: the verdict and what the clinician has to do."""
    tr = tr or renderer()
    status = assessment["status"]
    if status == "candidate":
        count = len(visit_items(assessment))
        text = plain(tr, "summary.candidate", trial=TRIAL_ID, count=count)
    elif status == "needs-review":
        count = len(undecided(assessment))
        key = "summary.needs-review.unread" if unread else "summary.needs-review"
        text = plain(tr, key, trial=TRIAL_ID, count=count)
    else:
        sep = tr.text("sep.comma")
        names = [f"{c.get('id')} {criterion_name(c, tr)}" for c in ruling_out(assessment)]
        text = plain(tr, "summary.ineligible", trial=TRIAL_ID, criteria=sep.join(names) or "-")
        if len(text) > SUMMARY_MAX:
            ids = sep.join(str(c.get("id")) for c in ruling_out(assessment))
            text = plain(tr, "summary.ineligible", trial=TRIAL_ID, criteria=ids)
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


# ---- detail ------------------------------------------------------------------------------------


def _point(igg4: dict[str, Any], key: str) -> dict[str, Any] | None:
    point = igg4.get(key)
    return point if isinstance(point, dict) and point.get("value") is not None else None


def _value(point: dict[str, Any], tr: Renderer) -> str:
    """A result's value, with its comparator when censored (``<70``)."""
    comparator = point.get("comparator")
    prefix = (
        comparator if isinstance(comparator, str) and comparator in ("<", "<=", ">", ">=") else ""
    )
    return prefix + number(point.get("value"), tr)


def _day(value: Any, tr: Renderer) -> str:
    """A date of the assessment (ISO) in the reader's locale; anything else as it is."""
    try:
        return tr(date.fromisoformat(str(value)))
    except ValueError:
        return str(value or "?")


def igg4_course(
    assessment: dict[str, Any],
    unread: Mapping[str, str] | None = None,
    *,
    tr: Renderer | None = None,
) -> Markdown:
    """'Serum IgG4: baseline 2,600 (2022-03-01) -> nadir 380 (...) -> current 1,300 mg/L (...),
    back at or above the re-elevation line of 780 mg/L (30% of baseline, rule ...).'"""
    tr = tr or renderer()
    igg4 = assessment.get("igg4") if isinstance(assessment.get("igg4"), dict) else {}
    assert isinstance(igg4, dict)
    keys = ("baseline", "nadir", "current")
    points = {k: _point(igg4, k) for k in keys}
    present = [k for k in keys if points[k] is not None]
    if not present:
        return md(tr, "course.unread" if "Observation" in (unread or {}) else "course.none")
    shown: list[str] = []
    for key in present:
        point = points[key]
        assert point is not None
        value = escape(_value(point, tr))
        if key == present[-1]:
            value = md(tr, "course.unit", value=value)
        shown.append(
            md(
                tr,
                "course.point",
                label=Markdown(tr.text(f"point.{key}")),
                value=value,
                date=_day(point.get("date"), tr),
            )
        )
    course = tr.text("sep.arrow").join(shown)
    missing = [
        md(tr, "course.missing", label=Markdown(tr.text(f"point.{k}")))
        for k in keys
        if points[k] is None
    ]
    if missing:
        semicolon = tr.text("sep.semicolon")
        course += semicolon + semicolon.join(missing)
    clause = _line_clause(igg4, points, tr)
    text = md(tr, "course.intro", points=Markdown(course))
    if clause:
        return md(tr, "course.with-clause", course=text, clause=Markdown(clause))
    return md(tr, "course.end", course=text)


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _line_clause(
    igg4: dict[str, Any], points: dict[str, dict[str, Any] | None], tr: Renderer
) -> str:
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
        return md(tr, "line.ratio", ratio=number(current / nadir, tr), rule=rule)
    if line is None or base is None or base <= 0:
        return ""
    values = {
        "line": number(line, tr),
        "percent": percent(line / base, tr),
        "rule": rule,
    }
    if nadir is None or current is None:
        return md(tr, "line.missing-point", **values)
    if rule == "rise-vs-baseline":
        return md(tr, "line.rise", rise=number(current - nadir, tr), **values)
    if nadir >= line:
        return md(tr, "line.never-below", **values)
    if current >= line:
        return md(tr, "line.above", **values)
    return md(tr, "line.below", **values)


def reason_text(criterion: dict[str, Any], tr: Renderer) -> str:
    """A criterion's reason in the reader's language, from its ``reasonCode``/``reasonArgs``;
    the English ``reason`` when it carries none (stored by an older version)."""
    code = criterion.get("reasonCode")
    if code is not None:
        try:
            return tr(decode_msg(code, criterion.get("reasonArgs") or {}))
        except DecodeError:
            pass
    return str(criterion.get("reason") or "")


def _item(criterion: dict[str, Any], with_reason: bool, tr: Renderer) -> Markdown:
    name = criterion_name(criterion, tr)
    reason = reason_text(criterion, tr) if with_reason else ""
    if reason:
        return md(
            tr,
            "item.reason",
            id=str(criterion.get("id")),
            name=name,
            reason=shorten_reason(reason, REASON_MAX, tr.text("sep.semicolon")),
        )
    return md(tr, "item", id=str(criterion.get("id")), name=name)


@dataclass(slots=True)
class _Section:
    heading: Markdown
    items: list[Markdown]
    tr: Renderer
    after: list[Markdown] = field(default_factory=list)
    hidden: int = 0  # items left for the full table

    def lines(self) -> list[str]:
        out = [self.heading, *self.items]
        if self.hidden:
            out.append(md(self.tr, "item.more", count=self.hidden))
        return [*out, *self.after]


def _unread_section(unread: Mapping[str, str], tr: Renderer) -> _Section | None:
    if not unread:
        return None
    items = []
    for rtype, kind in unread.items():
        why = kind if kind in ("timeout", "unauthorized", "too-large") else "other"
        items.append(
            md(
                tr,
                "unread.item",
                what=resource_name(rtype, tr),
                rtype=rtype,
                why=Markdown(tr.text(f"unread.{why}")),
            )
        )
    return _Section(md(tr, "section.unread"), items, tr, [md(tr, "unread.after")])


# The engine's data issue for a resource type that could not be read ("Observation: could not be
# read (...)"): the card says that in its own section, not as "a result that could not be used".
_UNREAD_ISSUE = re.compile(r"[A-Z][A-Za-z]+: could not be read \(")


def detail(
    assessment: dict[str, Any],
    *,
    unread: Mapping[str, str] | None = None,
    links: bool = False,
    smart_link: bool = False,
    tr: Renderer | None = None,
) -> str:
    """CommonMark, at most ``DETAIL_MAX`` characters (see the module docstring)."""
    tr = tr or renderer()
    status = str(assessment.get("status"))
    verdict = md(tr, f"verdict.{status}") if f"verdict.{status}" in MESSAGES else escape(status)
    head = md(tr, "detail.head", verdict=verdict, course=igg4_course(assessment, unread, tr=tr))
    sections: list[_Section] = []
    unread_section = _unread_section(unread or {}, tr)
    if unread_section:
        sections.append(unread_section)
    if status == "ineligible":
        sections.append(
            _Section(
                md(tr, "section.ruled-out"),
                [_item(c, True, tr) for c in without_mirrors(ruling_out(assessment))],
                tr,
            )
        )
    else:
        others = without_mirrors(undecided(assessment))
        if others:
            sections.append(
                _Section(md(tr, "section.unknown"), [_item(c, True, tr) for c in others], tr)
            )
        visit = visit_items(assessment)
        if visit:
            sections.append(
                _Section(
                    md(tr, "section.visit"),
                    [_item(c, c.get("id") in VISIT_REASON_SHOWN, tr) for c in visit],
                    tr,
                )
            )
    tail: list[str] = []
    issues = [i for i in assessment.get("dataIssues") or [] if not _UNREAD_ISSUE.match(str(i))]
    if issues:
        tail.append(md(tr, "issues", count=len(issues)))
    if links:  # links, not a markdown link: a click in the detail would leave the EHR's page
        key = "more.smart" if smart_link else "more.worklist"
        tail.append(md(tr, key, count=len(_criteria(assessment))))
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
    tr = renderer(ctx.locale)
    links: list[dict[str, Any]] = [
        {"label": tr.text("link.worklist"), "url": worklist_link(ctx), "type": "absolute"},
        {
            "label": plain(tr, "link.trial", trial=TRIAL_ID),
            "url": ctx.trial_url,
            "type": "absolute",
        },
    ]
    if ctx.smart_launch_url:
        links.append(
            {
                "label": tr.text("link.smart"),
                "url": ctx.smart_launch_url,
                "type": "smart",
                "appContext": orjson.dumps({"trial": TRIAL_ID}).decode(),
            }
        )
    card: dict[str, Any] = {
        "uuid": ctx.card_uuid,
        "summary": summary(assessment, ctx.unread, tr=tr),
        "detail": detail(
            assessment,
            unread=ctx.unread,
            links=True,
            smart_link=bool(ctx.smart_launch_url),
            tr=tr,
        ),
        "indicator": "info",
        "source": {
            "label": tr.text("source.label", trial=TRIAL_ID),
            "url": ctx.trial_url,
            "topic": {
                "system": f"{CODE_SYSTEM}/card-topic",
                "code": "trial-screening",
                "display": tr.text("source.topic"),
            },
        },
        "overrideReasons": override_reasons(tr),
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
            tr=tr,
        )
        card["selectionBehavior"] = "at-most-one"
        card["suggestions"] = [
            {
                "label": plain(tr, "suggestion.refer", trial=TRIAL_ID),
                "uuid": ctx.suggestion_uuid,
                "isRecommended": False,
                "actions": [
                    {
                        "type": "create",
                        "description": tr.text("suggestion.refer.action"),
                        "resource": referral,
                    }
                ],
            }
        ]
    return card


def incomplete_card(
    card_uuid: str, kind: str, trial_url: str, locale: str = DEFAULT
) -> dict[str, Any]:
    """Said instead of silence, so that 'no card' never stands for 'not a candidate' by mistake."""
    tr = renderer(locale)
    why = f"failure.{kind}" if f"failure.{kind}" in MESSAGES else "failure.other"
    return {
        "uuid": card_uuid,
        "summary": plain(tr, "incomplete.summary", trial=TRIAL_ID),
        "detail": md(tr, "incomplete.detail", why=Markdown(tr.text(why))),
        "indicator": "info",
        "source": {"label": tr.text("source.label", trial=TRIAL_ID), "url": trial_url},
        "extension": {f"{EXTENSION_KEY}-error": {"kind": kind}},
    }
