"""Small formatting helpers for the pages (Jinja filters and globals). Numbers and dates only, in
the page's locale (cds_service.i18n.web): the words stay in the templates."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from flask import Flask, current_app

from cds_service.i18n import web as i18n
from fhir_mappings.dates import age_range, parse_fhir_date


def today() -> date:
    """The screening date the service works on: ``IGG4_AS_OF`` when pinned, else today."""
    pinned = current_app.config.get("IGG4_AS_OF")
    return pinned if isinstance(pinned, date) else date.today()


def age(birth_date: str | None, on: date | None = None) -> str | None:
    """Age in whole years ("47"); a range for a partial birth date ("70–71"); None unknown."""
    birth = parse_fhir_date(birth_date)
    if birth is None:
        return None
    low, high = age_range(birth, on or today())
    if high < 0:
        return None
    return str(low) if low == high else f"{max(low, 0)}–{high}"


def number(value: Any) -> str:
    """A measurement as a clinician writes it, in the page's locale: "1,300", "0.9", "13.1"."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "" if value is None else str(value)
    if float(value).is_integer():
        return i18n.number(int(value), "#,##0")
    return i18n.number(value, "#,##0.0" if abs(value) >= 10 else "#,##0.##")


def as_number(text: str | None) -> str:
    """A value recorded as text ("2600", "13.1") written as a number when it is one."""
    if text is None:
        return ""
    try:
        value = float(text)
    except ValueError:
        return text
    return number(value) if value == value and abs(value) != float("inf") else text


def day(value: date | datetime | str | None) -> str:
    """A date in the page's locale: ISO 8601 in English ("2026-11-24"), 2026年11月24日 in
    Chinese."""
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return i18n.day(value)
    return i18n.day(str(value)[:10])


def moment(value: datetime | None) -> str:
    return i18n.moment(value) if value else ""


def short_name(name: str | None) -> str:
    """A LOINC long name without its bracketed property: "Aspartate aminotransferase"."""
    text = name or ""
    return text.split(" [", 1)[0].strip() or text


def register(app: Flask) -> None:
    for name, function in (
        ("age", age),
        ("number", number),
        ("as_number", as_number),
        ("day", day),
        ("moment", moment),
        ("short_name", short_name),
    ):
        app.add_template_filter(function, name)
    app.add_template_global(today, "today")
