"""Failures of the SMART app, each ending on a clear page (never a stack trace)."""

from __future__ import annotations


class SmartError(Exception):
    """``kind`` names the failure for tests and the page; ``title``/``message`` are for people.
    Never carries tokens or patient data."""

    def __init__(self, kind: str, status: int, title: str, message: str) -> None:
        super().__init__(kind)
        self.kind = kind
        self.status = status
        self.title = title
        self.message = message


def launch_again(what: str) -> str:
    return f"{what} Open the app again from the patient's chart in the EHR.".strip()
