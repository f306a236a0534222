"""The recruiter worklist: pages, JSON API, exports and the store behind them (issue 4).

``register(app)`` (called by ``create_app``) registers the blueprints and the assessment listener; ``store`` holds the
database functions other parts of the service call (``store.record_assessment``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    from cds_service.worklist.extension import register as _register

    _register(app)
