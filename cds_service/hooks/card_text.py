"""The words of the card: message templates with named values, CommonMark escaping, numbers.

Every sentence a clinician reads on the card is one template here (``MESSAGES``), filled with named
values by ``md`` (markdown, every value escaped unless it is our own ``Markdown``) or ``plain``
(the summary, which CDS Hooks shows as plain text). Choosing between singular and plural goes through
``plural``, numbers through ``number``. Translation can then run each template through gettext
(``ngettext`` for the plural pairs) without touching how the card is put together.

Data text (criterion reasons and titles from the engine, dates, values, anything the record holds)
never reaches the card unescaped: UCUM's ``10*3/uL`` would otherwise start italics, a ``|`` a table
cell, a ``<`` raw HTML (the CDS Hooks sandbox renders HTML inside markdown).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

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


def shorten_reason(text: Any, limit: int) -> str:
    """An engine reason ("clause; clause; ...") cut to ``limit`` characters, keeping its first
    clauses and its last one (where the engine says what decided or what is missing)."""
    value = _SPACE.sub(" ", str(text)).strip()
    clauses = value.split("; ")
    if len(value) <= limit or len(clauses) < 3:
        return shorten(value, limit)
    best = ""
    for k in range(1, len(clauses) - 1):
        candidate = "; ".join(clauses[:k]) + "; …; " + clauses[-1]
        if len(candidate) > limit:
            break
        best = candidate
    return best or shorten(value, limit)


def number(value: Any) -> str:
    """A measurement as a clinician writes it: ``2600.0`` -> ``2,600``; ``3.80`` -> ``3.8``;
    at most two decimals; thousands separated by commas."""
    try:
        amount = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return str(value)
    if not amount.is_finite():
        return str(value)
    text = f"{amount.quantize(Decimal('0.01')):,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


# msgid -> template. Named values only; ``md`` escapes each value that is not ``Markdown``.
MESSAGES: dict[str, str] = {
    # verdicts (first words of the detail)
    "verdict.candidate": "Possible candidate",
    "verdict.needs-review": "May be eligible: needs review",
    "verdict.ineligible": "Not eligible",
    # summary (plain text, under 140 characters)
    "summary.candidate.one": "Possible candidate for IgG4-RD trial {trial} (low-dose MMF): "
    "{count} item to confirm at the visit",
    "summary.candidate.other": "Possible candidate for IgG4-RD trial {trial} (low-dose MMF): "
    "{count} items to confirm at the visit",
    "summary.needs-review.one": "May be eligible for IgG4-RD trial {trial} (low-dose MMF): "
    "{count} criterion unknown",
    "summary.needs-review.other": "May be eligible for IgG4-RD trial {trial} (low-dose MMF): "
    "{count} criteria unknown",
    "summary.needs-review.unread.one": "May be eligible for IgG4-RD trial {trial}: "
    "{count} criterion unknown, EHR data not all read",
    "summary.needs-review.unread.other": "May be eligible for IgG4-RD trial {trial}: "
    "{count} criteria unknown, EHR data not all read",
    "summary.ineligible": "Not eligible for IgG4-RD trial {trial}: {criteria}",
    # the IgG4 course line
    "course.intro": "Serum IgG4: {points}",
    "course.point": "{label} {value} ({date})",
    "course.unit": "{value} mg/L",
    "course.none": "No readable serum IgG4 result on record.",
    "course.unread": "Serum IgG4 results: not read from the EHR, so not known here.",
    "course.missing": "no {label} result",
    "point.baseline": "baseline",
    "point.nadir": "nadir",
    "point.current": "current",
    "line.above": "back at or above the re-elevation line of {line} mg/L "
    "({percent}% of baseline, rule {rule})",
    "line.below": "still below the re-elevation line of {line} mg/L ({percent}% of baseline, rule {rule})",
    "line.never-below": "the nadir never fell below the re-elevation line of {line} mg/L "
    "({percent}% of baseline, rule {rule})",
    "line.rise": "a rise of {rise} mg/L from the nadir against {line} mg/L needed "
    "({percent}% of baseline, rule {rule})",
    "line.ratio": "now {ratio} times the nadir (rule {rule})",
    "line.missing-point": "the re-elevation line is {line} mg/L ({percent}% of baseline)",
    # sections
    "section.visit": "**Confirm at the screening visit**",
    "section.unknown": "**Unknown: the record does not decide**",
    "section.ruled-out": "**Ruled out by**",
    "section.unread": "**Not read from the EHR**",
    "item": "- {id} {name}",
    "item.reason": "- {id} {name}: {reason}",
    "item.more.one": "- and {count} more in the full table",
    "item.more.other": "- and {count} more in the full table",
    "unread.item": "- {what}: {why}",
    "unread.after": "Criteria that rest on these are unknown, not ruled in or out.",
    "issues.one": "{count} result in the record could not be used (see the full table).",
    "issues.other": "{count} results in the record could not be used (see the full table).",
    "more.worklist": "All {count} criteria with evidence and the IgG4 chart: "
    "Open in the recruiter worklist (link below)",
    "more.smart": "All {count} criteria with evidence and the IgG4 chart: "
    "Open the screening app or the recruiter worklist (links below)",
    # why a resource type was not read
    "unread.timeout": "not read in time (the FHIR server was too slow)",
    "unread.unauthorized": "access refused by the FHIR server",
    "unread.too-large": "too large to read here (the service's size or page limits)",
    "unread.other": "could not be read",
    # the card said instead of silence when the screening could not run
    "incomplete.summary": "IgG4-RD trial {trial} screening could not be completed",
    "incomplete.detail": "The screening did not run because {why}. Nothing was concluded about "
    "eligibility. Open the chart again later, or ask the study team.",
    "failure.unauthorized": "the EHR's FHIR server refused access",
    "failure.timeout": "the EHR's FHIR server did not answer in time",
    "failure.unreachable": "the EHR's FHIR server could not be reached",
    "failure.too-large": "the patient's record exceeded the configured size limits",
    "failure.malformed": "the EHR's FHIR server sent data that could not be read",
    "failure.http-error": "the EHR's FHIR server answered with an error",
    "failure.not-allowed": "the FHIR server is not on this service's allow-list",
    "failure.engine": "the record could not be assessed",
    "failure.other": "of an unexpected error",
    # links and suggestion
    "link.worklist": "Open in the recruiter worklist",
    "link.trial": "Trial {trial} on ClinicalTrials.gov",
    "link.smart": "Open the screening app",
    "suggestion.refer": "Refer to the {trial} study team",
    "suggestion.refer.action": "Create a referral (ServiceRequest) to the study team",
}

# Short names of the criteria for one-line items (the engine's titles carry thresholds and are long).
CRITERION_NAMES: dict[str, str] = {
    "I1": "IgG4-RD diagnosis",
    "I2": "age 18-70",
    "I3": "baseline serum IgG4",
    "I4": "major organ involvement",
    "I5": "IgG4 re-elevation in remission",
    "I6": "written informed consent",
    "I7": "contraception",
    "E1": "Responder Index",
    "E2": "no major organ involvement",
    "E3": "infection (HIV, HBV, HCV, TB)",
    "E4": "malignancy within 5 years",
    "E5": "immunodeficiency",
    "E6": "severe comorbidities",
    "E7": "other rheumatic disease or mimicker",
    "E8": "another interventional trial",
    "E9": "alcohol or drug abuse",
    "E10": "pregnancy or lactation",
    "E11": "screening laboratory tests",
}

# What a resource type holds, as the clinician would say it.
RESOURCE_NAMES: dict[str, str] = {
    "Patient": "the patient's demographics",
    "Observation": "laboratory results and observations",
    "Condition": "diagnoses and problems",
    "MedicationRequest": "medication orders",
    "MedicationStatement": "medication statements",
    "Medication": "medications",
    "Procedure": "procedures",
    "ResearchSubject": "research study enrolments",
}


def message(msgid: str) -> str:
    """The template for ``msgid`` (where translation will plug in)."""
    return MESSAGES[msgid]


def plural(msgid: str, count: int) -> str:
    """``msgid.one`` or ``msgid.other`` by ``count`` (English rule; ngettext later)."""
    return f"{msgid}.one" if count == 1 else f"{msgid}.other"


def md(msgid: str, **values: Any) -> Markdown:
    """A markdown sentence: the template with every value escaped unless it is ``Markdown``."""
    safe = {k: v if isinstance(v, Markdown) else escape(v) for k, v in values.items()}
    return Markdown(message(msgid).format(**safe))


def plain(msgid: str, **values: Any) -> str:
    """A plain-text sentence (the card summary): values inserted as text, on one line."""
    return _SPACE.sub(" ", message(msgid).format(**{k: str(v) for k, v in values.items()}))


def criterion_name(criterion: dict[str, Any]) -> str:
    cid = str(criterion.get("id"))
    return CRITERION_NAMES.get(cid) or str(criterion.get("title") or cid)
