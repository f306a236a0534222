"""The list's filters from query parameters: one parser for the page, the API and the exports."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Protocol

from flask_babel import gettext as _

from cds_service.worklist.store import (
    ASCENDING_FIRST,
    DEFAULT_SORT,
    ELIGIBILITY,
    MAX_PER_PAGE,
    SORTS,
    ListFilters,
)
from cds_service.worklist.workflow import STATES

MAX_PAGE = 1_000_000
MAX_Q = 200
MAX_ASSIGNEE = 120
_NUMBER = re.compile(r"[0-9]{1,18}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def list_pattern(values: tuple[str, ...] | list[str]) -> str:
    """The JSON Schema pattern of a comma-separated filter as this parser reads it: known values,
    empty pieces and surrounding spaces ignored (an HTML form's "any" sends ``state=``)."""
    one = "|".join(re.escape(v) for v in values)
    return rf"^ *(?:{one})? *(?:, *(?:{one})? *)*$"


class Args(Protocol):
    def getlist(self, key: str) -> list[str]: ...


def _multi(args: Args, key: str) -> list[str]:
    out: list[str] = []
    for raw in args.getlist(key):
        out.extend(v.strip(" ") for v in raw.split(",") if v.strip(" "))  # as list_pattern
    return out


def parse_filters(
    args: Args,
    default_per_page: int = 25,
    default_eligibility: tuple[str, ...] = (),
    *,
    empty_ok: bool = True,
) -> tuple[ListFilters, list[str]]:
    """Filters and the problems found; an invalid value is dropped and named in the problems.
    ``default_eligibility`` applies when the query names no eligibility (the page's default view:
    candidates and needs-review patients).

    ``empty_ok``: an empty ``sort``, ``order``, ``page``, ``per_page`` or ``changed_since`` means
    "not given" (an HTML form sends empty fields); the API passes False: there it is an error.
    """
    errors: list[str] = []
    # Exactly what the OpenAPI document says (schemathesis checks both ways): text fields are
    # stripped and bounded, the others taken as sent.
    one: Mapping[str, str] = {
        k: (args.getlist(k) or [""])[-1]
        for k in ("assignee", "changed_since", "q", "sort", "order", "page", "per_page")
    }
    for key, most in (("q", MAX_Q), ("assignee", MAX_ASSIGNEE)):
        if len(one[key]) > most:
            errors.append(_("%(key)s must be at most %(most)d characters", key=key, most=most))
    if not empty_ok:
        for key in ("changed_since", "sort", "order", "page", "per_page"):
            if args.getlist(key) and not one[key]:
                errors.append(_("%(key)s must not be empty", key=key))
    eligibility = _multi(args, "eligibility") or list(default_eligibility)
    bad = [v for v in eligibility if v not in ELIGIBILITY]
    if bad:
        errors.append(_("eligibility must be among %(values)s", values=", ".join(ELIGIBILITY)))
    state = _multi(args, "state")
    if [v for v in state if v not in STATES]:
        errors.append(_("state must be among %(values)s", values=", ".join(STATES)))
    since: date | None = None
    if one["changed_since"]:
        try:
            if not _DATE.fullmatch(one["changed_since"]):
                raise ValueError
            since = date.fromisoformat(one["changed_since"])
        except ValueError:
            errors.append(_("changed_since must be a date YYYY-MM-DD"))
    sort = one["sort"] or DEFAULT_SORT
    if sort not in SORTS:
        errors.append(_("sort must be one of %(values)s", values=", ".join(SORTS)))
        sort = DEFAULT_SORT
    order = one["order"] or ("asc" if sort in ASCENDING_FIRST else "desc")
    if order not in ("asc", "desc"):
        errors.append(_("order must be asc or desc"))
        order = "desc"
    page, per_page = 1, default_per_page
    try:
        if not all(_NUMBER.fullmatch(one[k]) for k in ("page", "per_page") if one[k]):
            raise ValueError  # int() would take " 5", "+5", "1_0" and other scripts' digits
        page = int(one["page"] or 1)
        per_page = int(one["per_page"] or default_per_page)
        # bounded: the row offset must fit the database's integers (2^62 made PostgreSQL fail)
        if not 1 <= page <= MAX_PAGE or not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError
    except ValueError:
        errors.append(
            _(
                "page must be 1..%(pages)d and per_page 1..%(per_page)d",
                pages=MAX_PAGE,
                per_page=MAX_PER_PAGE,
            )
        )
        page, per_page = 1, default_per_page
    filters = ListFilters(
        eligibility=tuple(v for v in eligibility if v in ELIGIBILITY),
        state=tuple(v for v in state if v in STATES),
        assignee=one["assignee"].strip()[:MAX_ASSIGNEE] or None,
        changed_since=since,
        q=one["q"].strip()[:MAX_Q] or None,
        sort=sort,
        desc=order == "desc",
        page=page,
        per_page=per_page,
    )
    return filters, errors


def filters_to_args(f: ListFilters) -> dict[str, str]:
    """Query parameters that reproduce ``f`` (for links: sort headers, paging, exports)."""
    out: dict[str, str] = {}
    if f.eligibility:
        out["eligibility"] = ",".join(f.eligibility)
    if f.state:
        out["state"] = ",".join(f.state)
    if f.assignee:
        out["assignee"] = f.assignee
    if f.changed_since:
        out["changed_since"] = f.changed_since.isoformat()
    if f.q:
        out["q"] = f.q
    out["sort"] = f.sort
    out["order"] = "desc" if f.desc else "asc"
    return out
