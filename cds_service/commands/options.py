"""Option parsing shared by the commands."""

from __future__ import annotations

from datetime import date
from typing import Any

import click


def iso_date(_: Any, __: Any, value: str | None) -> date | None:
    """A click callback: ``YYYY-MM-DD`` to a date (None stays None), or a usage error."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None
    from cds_service.eligibility.api import AS_OF_MAX, AS_OF_MIN

    if not AS_OF_MIN <= day <= AS_OF_MAX:
        raise click.BadParameter(f"{value!r} is not between {AS_OF_MIN} and {AS_OF_MAX}")
    return day
