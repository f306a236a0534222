"""FHIR date, dateTime and instant values as calendar-day ranges.

A dateTime is reduced to the calendar date it was written with (its local date): a result drawn at
23:30+08:00 belongs to that day in the clinic, which is what "within 90 days" means to the people
who read it. Partial dates ("1980", "1980-05") become the range of days they can stand for.
"""

from __future__ import annotations

import calendar
import re
from datetime import date
from typing import Any

from fhir_mappings.facts import FuzzyDate

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")


def parse_fhir_date(value: Any) -> FuzzyDate | None:
    """Parse a FHIR date/dateTime/instant; None when absent or not a valid date."""
    if not isinstance(value, str):
        return None
    m = _DATE.match(value.strip())
    if not m:
        return None
    year = int(m.group(1))
    try:
        if m.group(3):
            d = date(year, int(m.group(2)), int(m.group(3)))
            return FuzzyDate(d, d, value)
        if m.group(2):
            month = int(m.group(2))
            last = calendar.monthrange(year, month)[1]
            return FuzzyDate(date(year, month, 1), date(year, month, last), value)
        return FuzzyDate(date(year, 1, 1), date(year, 12, 31), value)
    except ValueError:
        return None


def period_bounds(period: Any) -> tuple[FuzzyDate | None, FuzzyDate | None]:
    """(start, end) of a FHIR Period."""
    if not isinstance(period, dict):
        return None, None
    return parse_fhir_date(period.get("start")), parse_fhir_date(period.get("end"))


def choice_date(res: Any, prefix: str, *, prefer_end: bool = False) -> FuzzyDate | None:
    """A date choice element ``{prefix}[x]``: DateTime or Instant, else Period (its start, or its
    end when ``prefer_end``, falling back to the other bound). Age/String/Range forms give None."""
    for suffix in ("DateTime", "Instant"):
        if prefix + suffix in res:
            return parse_fhir_date(res.get(prefix + suffix))
    if prefix + "Period" in res:
        start, end = period_bounds(res.get(prefix + "Period"))
        return (end or start) if prefer_end else (start or end)
    return None


def age_in_years(birth: date, on: date) -> int:
    """Whole years completed on ``on`` (a birthday on ``on`` counts; 29 Feb birthdays turn on 1 Mar)."""
    years = on.year - birth.year
    if (on.month, on.day) < (birth.month, birth.day):
        years -= 1
    return years


def age_range(birth: FuzzyDate, on: date) -> tuple[int, int]:
    """The youngest and oldest whole-year age a possibly partial birth date allows on ``on``."""
    return age_in_years(birth.latest, on), age_in_years(birth.earliest, on)


def add_years(d: date, years: int) -> date:
    """Same calendar day ``years`` later/earlier; 29 Feb falls back to 28 Feb."""
    try:
        return d.replace(year=d.year + years)
    except ValueError:
        return d.replace(year=d.year + years, day=28)


def add_months(d: date, months: int) -> date:
    index = d.year * 12 + (d.month - 1) + months
    year, month = divmod(index, 12)
    day = min(d.day, calendar.monthrange(year, month + 1)[1])
    return date(year, month + 1, day)
