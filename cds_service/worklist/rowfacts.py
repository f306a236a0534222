"""What a worklist row says about an assessment at a glance, computed once when it is recorded. Pure.

- ``igg4``: the current serum IgG4 (value, date, unit) beside the re-elevation line;
- ``reelevated_on``: when the current re-elevation began (the first result after the nadir from
  which every result through the current one is at or above the line), the list's sort key;
- ``gaps``: each real data gap, as a short structured item the templates turn into words
  ("AST needed (none within 90 days)"); the screening-visit confirmations (I6, I7, E6 and E1
  when no Responder Index is recorded, ``overall.VISIT_CONFIRMED``) are kept apart in ``confirm``;
- ``fails``: for an ineligible patient, the criteria that rule them out.

Gaps are read from the engine's message ids (``reasonCode``/``reasonArgs``: "I5.no-nadir",
"E11.missing" with its labs and window, "unavailable.type", ...), else from the English reason of an
assessment recorded before the engine gave them; a reason this module does not recognise still
yields a gap (kind ``"other"`` with the criterion id), never nothing. Labs are analyte keys
("ast") when read from message ids, the words of the reason otherwise ("AST"); the templates
word both.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from cds_service.eligibility.overall import VISIT_CONFIRMED

# Criterion -> the kind of gap when its reason says nothing more specific (templates word them).
DEFAULT_KIND: dict[str, str] = {
    "I1": "diagnosis",
    "I2": "birth-date",
    "I3": "baseline",
    "I4": "organ",
    "I5": "igg4-course",
    "E2": "organ",
    "E3": "infection",
    "E4": "malignancy",
    "E5": "immunodeficiency",
    "E7": "mimic",
    "E8": "enrolment",
    "E9": "substance",
    "E10": "pregnancy",
    "E11": "screening-labs",
}
# (criterion, pattern over the reason, kind): the first match wins.
_SPECIFIC: tuple[tuple[str, re.Pattern[str], str], ...] = (
    ("I5", re.compile(r"no IgG4 result in the (?P<days>\d+) days"), "current-igg4"),
    ("I5", re.compile(r"no baseline IgG4"), "baseline"),
    ("I5", re.compile(r"to give a nadir"), "nadir"),
    ("E3", re.compile(r"without an HCV RNA"), "hcv-rna"),
    ("E3", re.compile(r"tuberculosis|IGRA", re.IGNORECASE), "active-tb"),
    ("E7", re.compile(r"Castleman"), "castleman"),
    (
        "E11",
        re.compile(r"no result in the (?P<days>\d+) days before \S+ for: (?P<labs>[^;]+)"),
        "labs",
    ),
)
_UNREADABLE = re.compile(r"\b([A-Z][A-Za-z]+) could not be read")
# Message ids of the engine's reasons (eligibility/reasons.py) -> the kind of gap they name.
_BY_MESSAGE: dict[str, str] = {
    "I5.no-current": "current-igg4",
    "I5.no-baseline": "baseline",
    "I5.no-nadir": "nadir",
    "E3.hcv-ab": "hcv-rna",
    "E3.latent-tb": "active-tb",
    "E7.castleman": "castleman",
    "E11.missing": "labs",
}

# "<a Condition>: may be / reads like <what>; confirm" (eligibility/uncertain.py): the recruiter
# confirms what that Condition is; no date or result would settle it.
_READS_LIKE = frozenset({"uncertain.reads-like", "uncertain.may-be"})


def _messages(node: Any) -> list[tuple[str, dict[str, Any]]]:
    """Every (message id, args) in a reason's argument tree, outermost first."""
    out: list[tuple[str, dict[str, Any]]] = []
    if isinstance(node, dict):
        message, args = node.get("msg"), node.get("args")
        if isinstance(message, str):
            out.append((message, args if isinstance(args, dict) else {}))
        for value in node.values():
            out.extend(_messages(value))
    elif isinstance(node, list):
        for value in node:
            out.extend(_messages(value))
    return out


def _lab_keys(names: Any) -> list[str]:
    return [m.removeprefix("lab.") for m, _ in _messages(names) if m.startswith("lab.")]


def _gap_from_messages(criterion: dict[str, Any]) -> dict[str, Any] | None:
    cid = str(criterion.get("id") or "")
    code = criterion.get("reasonCode")
    if not isinstance(code, str):
        return None
    top = criterion.get("reasonArgs")
    found = [(code, top if isinstance(top, dict) else {}), *_messages(top)]
    types = sorted(
        {str(a["type"]) for m, a in found if m.startswith("unavailable.") and "type" in a}
    )
    if types:
        return {"id": cid, "kind": "unreadable", "types": types}
    for message, args in found:
        if message in _READS_LIKE:  # a recorded Condition that may be what the criterion excludes
            what = args.get("what")
            named = what.get("msg") if isinstance(what, dict) else None
            if isinstance(named, str) and named.startswith("uncertain.what."):
                return {"id": cid, "kind": "confirm-condition", "what": named}
        kind = _BY_MESSAGE.get(message)
        if kind is None:
            continue
        gap: dict[str, Any] = {"id": cid, "kind": kind}
        if isinstance(args.get("days"), int):
            gap["days"] = args["days"]
        if kind == "labs":
            gap["labs"] = _lab_keys(args.get("names")) or ["?"]
        return gap
    return {"id": cid, "kind": DEFAULT_KIND.get(cid, "other")}


def _number(raw: Any) -> float | None:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        return float(raw)
    return None


def _point(raw: Any) -> tuple[date, float] | None:
    if not isinstance(raw, dict):
        return None
    value = _number(raw.get("value"))
    try:
        day = date.fromisoformat(str(raw.get("date"))[:10])
    except ValueError:
        return None
    return (day, value) if value is not None else None


def current_igg4(igg4: Any) -> dict[str, Any] | None:
    """The current result beside the re-elevation line, or None when there is no current one."""
    if not isinstance(igg4, dict):
        return None
    current = _point(igg4.get("current"))
    if current is None:
        return None
    threshold = _number(igg4.get("threshold"))
    return {
        "value": current[1],
        "date": current[0].isoformat(),
        "unit": str(igg4.get("unit") or "mg/L"),
        "threshold": threshold,
        "above": threshold is not None and current[1] >= threshold,
    }


def reelevated_on(igg4: Any) -> date | None:
    """The first result after the nadir from which the IgG4 stayed at or above the line."""
    if not isinstance(igg4, dict):
        return None
    current, nadir = _point(igg4.get("current")), _point(igg4.get("nadir"))
    threshold = _number(igg4.get("threshold"))
    if current is None or threshold is None or current[1] < threshold:
        return None
    series = sorted(p for p in (_point(r) for r in igg4.get("series") or []) if p is not None)
    start = current[0]
    for day, value in reversed([p for p in series if p[0] <= current[0]]):
        if value < threshold or (nadir is not None and day <= nadir[0]):
            break
        start = day
    return start


def gap_of(criterion: dict[str, Any]) -> dict[str, Any]:
    """One unknown criterion as a gap: ``{"id", "kind", ...details}``."""
    from_messages = _gap_from_messages(criterion)
    if from_messages is not None:
        return from_messages
    cid = str(criterion.get("id") or "")
    reason = str(criterion.get("reason") or "")
    unreadable = _UNREADABLE.findall(reason)
    if unreadable:
        return {"id": cid, "kind": "unreadable", "types": sorted(set(unreadable))}
    for target, pattern, kind in _SPECIFIC:
        if target != cid:
            continue
        found = pattern.search(reason)
        if found:
            gap: dict[str, Any] = {"id": cid, "kind": kind}
            details = found.groupdict()
            if details.get("days"):
                gap["days"] = int(details["days"])
            if details.get("labs"):
                gap["labs"] = [s.strip() for s in details["labs"].split(",") if s.strip()]
            return gap
    return {"id": cid, "kind": DEFAULT_KIND.get(cid, "other")}


def gaps(criteria: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The real data gaps, in protocol order, one per kind (I5's "no baseline" repeats I3's)."""
    out: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    for c in criteria:
        if not isinstance(c, dict) or c.get("status") != "unknown":
            continue
        if c.get("id") in VISIT_CONFIRMED:
            continue
        gap = gap_of(c)
        key = (gap["kind"], ",".join(gap.get("labs") or gap.get("types") or [gap.get("what", "")]))
        if key not in seen:
            seen.add(key)
            out.append(gap)
    return out


def visit_confirmations(criteria: list[dict[str, Any]]) -> list[str]:
    """The unknown criteria the screening visit confirms (I6, I7, E6; E1 without an RI)."""
    return [
        str(c["id"])
        for c in criteria
        if isinstance(c, dict) and c.get("status") == "unknown" and c.get("id") in VISIT_CONFIRMED
    ]


def failing(criteria: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [
        {"id": str(c.get("id")), "title": str(c.get("title") or "")}
        for c in criteria
        if isinstance(c, dict)
        and (
            (c.get("type") == "inclusion" and c.get("status") == "not-met")
            or (c.get("type") == "exclusion" and c.get("status") == "met")
        )
    ]


def row_facts(assessment: dict[str, Any]) -> dict[str, Any]:
    """The row's at-a-glance facts (stored as JSON on the row)."""
    criteria = [c for c in assessment.get("criteria") or [] if isinstance(c, dict)]
    return {
        "igg4": current_igg4(assessment.get("igg4")),
        "gaps": gaps(criteria),
        "confirm": visit_confirmations(criteria),
        "fails": failing(criteria),
    }
