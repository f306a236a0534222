"""The words of the card: message templates with named values, CommonMark escaping, numbers.

Every sentence a clinician reads on the card is one template here (``MESSAGES``), filled with named
values by ``md`` (markdown, every value escaped unless it is our own ``Markdown``) or ``plain``
(the summary, which CDS Hooks shows as plain text), in the reader's language: each template goes
through the locale's gettext catalog (``npgettext`` for the singular/plural pairs), numbers and
dates through Babel (``cds_service.i18n.render``).

Data text (criterion reasons and titles from the engine, dates, values, anything the record holds)
never reaches the card unescaped: UCUM's ``10*3/uL`` would otherwise start italics, a ``|`` a table
cell, a ``<`` raw HTML (the CDS Hooks sandbox renders HTML inside markdown).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from cds_service.i18n.message import N_, NN_, define
from cds_service.i18n.render import Renderer, fill, renderer

# CommonMark lets any ASCII punctuation be backslash-escaped. These can start markup inside a line
# (emphasis, code, links and images, raw HTML, entities, GFM tables and strikethrough); data never
# starts a line on the card, so the line-start markers (#, -, +, =, "1.") need no escape, and "(" or
# "!" cannot make a link without the "[" escaped here. Autolink literals (www., http://, e-mail) are
# kept text by an invisible word joiner (see ``_break_autolink``).
_INLINE = re.compile(r"([\\`*_\[\]<>&|~])")
_AUTOLINK = re.compile(r"(?i)(www)\.|(https?|ftp)(:)|(@)")
_SPACE = re.compile(r"\s+")
WORD_JOINER = "\u2060"


class Markdown(str):
    """Text that is already markdown (built from our templates): inserted as it is."""

    __slots__ = ()


def escape(value: Any) -> Markdown:
    """Any data as CommonMark text that renders exactly as the text (one line, no markup)."""
    text = _SPACE.sub(" ", str(value)).strip()
    text = _INLINE.sub(r"\\\1", text)
    text = _AUTOLINK.sub(_break_autolink, text)
    return Markdown(text)


def _break_autolink(match: re.Match[str]) -> str:
    """GFM turns www., scheme:// and e-mail addresses in plain text into links after parsing,
    whatever escapes the text holds: a WORD JOINER (invisible, U+2060) keeps them text."""
    if match.group(1):
        return f"{match.group(1)}{WORD_JOINER}."
    if match.group(2):
        return f"{match.group(2)}:{WORD_JOINER}"
    return f"{WORD_JOINER}@"


def shorten(text: Any, limit: int) -> str:
    """Data text cut to ``limit`` characters at a word, with an ellipsis (before escaping)."""
    value = _SPACE.sub(" ", str(text)).strip()
    if len(value) <= limit:
        return value
    cut = value[: limit - 1].rsplit(" ", 1)[0] if " " in value[: limit - 1] else value[: limit - 1]
    return cut.rstrip(" ,;:") + "…"


def shorten_reason(text: Any, limit: int, sep: str = "; ") -> str:
    """An engine reason ("clause; clause; ...", clauses split by ``sep``) cut to ``limit``
    characters, keeping its first clauses and its last one (where the engine says what decided or
    what is missing)."""
    value = _SPACE.sub(" ", str(text)).strip()
    clauses = value.split(sep)
    if len(value) <= limit or len(clauses) < 3:
        return shorten(value, limit)
    best = ""
    for k in range(1, len(clauses) - 1):
        candidate = sep.join(clauses[:k]) + f"{sep}…{sep}" + clauses[-1]
        if len(candidate) > limit:
            break
        best = candidate
    return best or shorten(value, limit)


def number(value: Any, tr: Renderer | None = None) -> str:
    """A measurement as a clinician writes it, in the reader's locale (Babel): ``2600.0`` ->
    ``2,600``; ``3.80`` -> ``3.8``; at most two decimals."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    amount = amount.quantize(Decimal("0.01"))
    if amount == 0:
        amount = Decimal(0)  # never "-0"
    return (tr or renderer()).decimal(amount, "#,##0.##")


def percent(ratio: float, tr: Renderer | None = None) -> str:
    """A share as a percentage in the reader's locale (Babel): ``0.3`` -> ``30%``."""
    amount = Decimal(str(ratio)).quantize(Decimal("0.0001"))
    return (tr or renderer()).percent(amount)


# Named values only; ``md`` escapes each value that is not ``Markdown``. The id is the gettext
# context of each template (README, "Localisation").
MESSAGES = define(
    # verdicts (first words of the detail)
    N_("verdict.candidate", "Possible candidate"),
    N_("verdict.needs-review", "May be eligible: needs review"),
    N_("verdict.ineligible", "Not eligible"),
    # the detail's first line: the verdict, then the IgG4 course
    N_("detail.head", "**{verdict}.** {course}"),
    # summary (plain text, under 140 characters)
    NN_(
        "summary.candidate",
        "Possible candidate for IgG4-RD trial {trial} (low-dose MMF): "
        "{count} item to confirm at the visit",
        "Possible candidate for IgG4-RD trial {trial} (low-dose MMF): "
        "{count} items to confirm at the visit",
    ),
    NN_(
        "summary.needs-review",
        "May be eligible for IgG4-RD trial {trial} (low-dose MMF): {count} criterion unknown",
        "May be eligible for IgG4-RD trial {trial} (low-dose MMF): {count} criteria unknown",
    ),
    NN_(
        "summary.needs-review.unread",
        "May be eligible for IgG4-RD trial {trial}: {count} criterion unknown, "
        "EHR data not all read",
        "May be eligible for IgG4-RD trial {trial}: {count} criteria unknown, "
        "EHR data not all read",
    ),
    N_("summary.ineligible", "Not eligible for IgG4-RD trial {trial}: {criteria}"),
    # the IgG4 course line
    N_("course.intro", "Serum IgG4: {points}"),
    N_("course.point", "{label} {value} ({date})"),
    N_("course.unit", "{value} mg/L"),
    N_("course.none", "No readable serum IgG4 result on record."),
    N_("course.unread", "Serum IgG4 results: not read from the EHR, so not known here."),
    N_("course.missing", "no {label} result"),
    # the course line and its clause: "Serum IgG4: {points}, {clause}."
    N_("course.with-clause", "{course}, {clause}."),
    N_("course.end", "{course}."),
    N_("point.baseline", "baseline"),
    N_("point.nadir", "nadir"),
    N_("point.current", "current"),
    N_(
        "line.above",
        "back at or above the re-elevation line of {line} mg/L "
        "({percent} of baseline, rule {rule})",
    ),
    N_(
        "line.below",
        "still below the re-elevation line of {line} mg/L ({percent} of baseline, rule {rule})",
    ),
    N_(
        "line.never-below",
        "the nadir never fell below the re-elevation line of {line} mg/L "
        "({percent} of baseline, rule {rule})",
    ),
    N_(
        "line.rise",
        "a rise of {rise} mg/L from the nadir against {line} mg/L needed "
        "({percent} of baseline, rule {rule})",
    ),
    N_("line.ratio", "now {ratio} times the nadir (rule {rule})"),
    N_("line.missing-point", "the re-elevation line is {line} mg/L ({percent} of baseline)"),
    # sections
    N_("section.visit", "**Confirm at the screening visit**"),
    N_("section.unknown", "**Unknown: the record does not decide**"),
    N_("section.ruled-out", "**Ruled out by**"),
    N_("section.unread", "**Not read from the EHR**"),
    N_("item", "- {id} {name}"),
    N_("item.reason", "- {id} {name}: {reason}"),
    NN_(
        "item.more",
        "- and {count} more in the full table",
        "- and {count} more in the full table",
    ),
    N_("unread.item", "- {what} ({rtype}): {why}"),
    N_("unread.after", "Criteria that rest on these are unknown, not ruled in or out."),
    NN_(
        "issues",
        "{count} result in the record could not be used (see the full table).",
        "{count} results in the record could not be used (see the full table).",
    ),
    N_(
        "more.worklist",
        "All {count} criteria with evidence and the IgG4 chart: "
        "Open in the recruiter worklist (link below).",
    ),
    N_(
        "more.smart",
        "All {count} criteria with evidence and the IgG4 chart: "
        "Open the screening app or the recruiter worklist (links below).",
    ),
    # why a resource type was not read
    N_("unread.timeout", "not read in time (the FHIR server was too slow)"),
    N_("unread.unauthorized", "access refused by the FHIR server"),
    N_("unread.too-large", "too large to read here (the service's size or page limits)"),
    N_("unread.other", "could not be read"),
    # the card said instead of silence when the screening could not run
    N_("incomplete.summary", "IgG4-RD trial {trial} screening could not be completed"),
    N_(
        "incomplete.detail",
        "The screening did not run because {why}. Nothing was concluded about "
        "eligibility. Open the chart again later, or ask the study team.",
    ),
    N_("failure.unauthorized", "the EHR's FHIR server refused access"),
    N_("failure.timeout", "the EHR's FHIR server did not answer in time"),
    N_("failure.unreachable", "the EHR's FHIR server could not be reached"),
    N_("failure.too-large", "the patient's record exceeded the configured size limits"),
    N_("failure.malformed", "the EHR's FHIR server sent data that could not be read"),
    N_("failure.http-error", "the EHR's FHIR server answered with an error"),
    N_("failure.not-allowed", "the FHIR server is not on this service's allow-list"),
    N_("failure.engine", "the record could not be assessed"),
    N_("failure.other", "of an unexpected error"),
    # links and suggestion
    N_("link.worklist", "Open in the recruiter worklist"),
    N_("link.trial", "Trial {trial} on ClinicalTrials.gov"),
    N_("link.smart", "Open the screening app"),
    N_("suggestion.refer", "Refer to the {trial} study team"),
    N_("suggestion.refer.action", "Create a referral (ServiceRequest) to the study team"),
    N_("source.label", "IgG4-RD trial screening ({trial})"),
    N_("source.topic", "Clinical trial screening"),
    # the reasons a clinician may give for dismissing the card
    N_("override.already-referred", "Already referred or screened for this trial"),
    N_("override.patient-declined", "Patient not interested in trials"),
    N_("override.clinically-inappropriate", "Not appropriate for this patient"),
    N_("override.data-incorrect", "The record's data is wrong or out of date"),
)

# Short names of the criteria for one-line items (the engine's titles carry thresholds and are long).
CRITERION_NAMES = define(
    N_("name.I1", "IgG4-RD diagnosis"),
    N_("name.I2", "age 18-70"),
    N_("name.I3", "baseline serum IgG4"),
    N_("name.I4", "major organ involvement"),
    N_("name.I5", "IgG4 re-elevation in remission"),
    N_("name.I6", "written informed consent"),
    N_("name.I7", "contraception"),
    N_("name.E1", "Responder Index"),
    N_("name.E2", "no major organ involvement"),
    N_("name.E3", "infection (HIV, HBV, HCV, TB)"),
    N_("name.E4", "malignancy within 5 years"),
    N_("name.E5", "immunodeficiency"),
    N_("name.E6", "severe comorbidities"),
    N_("name.E7", "other rheumatic disease or mimicker"),
    N_("name.E8", "another interventional trial"),
    N_("name.E9", "alcohol or drug abuse"),
    N_("name.E10", "pregnancy or lactation"),
    N_("name.E11", "screening laboratory tests"),
)

# What a resource type holds, as the clinician would say it.
RESOURCE_NAMES = define(
    N_("resource.Patient", "The patient's demographics"),
    N_("resource.Observation", "Laboratory results and observations"),
    N_("resource.Condition", "Diagnoses and problems"),
    N_("resource.MedicationRequest", "Medication orders"),
    N_("resource.MedicationStatement", "Medication statements"),
    N_("resource.Medication", "Medications"),
    N_("resource.Procedure", "Procedures"),
    N_("resource.ResearchSubject", "Research study enrolments"),
)


def md(tr: Renderer, msgid: str, /, **values: Any) -> Markdown:
    """A markdown sentence in the reader's language: the template with every value escaped
    unless it is ``Markdown``; numbers and dates formatted for the locale."""
    words = tr.words(msgid, values)
    safe = {
        k: v if isinstance(v, Markdown) else escape(v if isinstance(v, str) else tr(v))
        for k, v in values.items()
    }
    return Markdown(fill(words, safe))


def plain(tr: Renderer, msgid: str, /, **values: Any) -> str:
    """A plain-text sentence (the card summary): values inserted as text, on one line."""
    return _SPACE.sub(" ", tr.text(msgid, **values))


def criterion_name(criterion: dict[str, Any], tr: Renderer | None = None) -> str:
    cid = str(criterion.get("id"))
    if f"name.{cid}" in CRITERION_NAMES:
        return (tr or renderer()).text(f"name.{cid}")
    return str(criterion.get("title") or cid)


def resource_name(rtype: str, tr: Renderer) -> str:
    key = f"resource.{rtype}"
    return tr.text(key) if key in RESOURCE_NAMES else rtype
