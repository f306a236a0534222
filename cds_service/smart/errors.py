"""Failures of the SMART app, each ending on a clear page (never a stack trace)."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l


class SmartError(Exception):
    """``kind`` names the failure for tests and the page; ``title``/``message`` are for people
    (lazy translations: rendered in the page's language). Never carries tokens or patient data."""

    def __init__(self, kind: str, status: int, title: Any, message: Any) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status
        self.title = title
        self.message = message


def launch_again(what: Any) -> Any:
    """``what``, then how to start again (a lazy translation)."""
    if not str(what):
        return _l("Open the app again from the patient's chart in the EHR.")
    return _l("%(what)s Open the app again from the patient's chart in the EHR.", what=what)
