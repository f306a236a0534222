"""The clinician's SMART on FHIR app (issue 6): launched from the EHR (or standalone), it reads the
patient with the clinician's own token and shows the assessment, with a referral button.

``register(app)`` (called by ``create_app``) registers the blueprint under ``/smart``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flask import Flask


def register(app: Flask) -> None:
    import logging

    from cds_service.smart import settings
    from cds_service.smart.state import KEY, build_state
    from cds_service.smart.views import bp

    # fhirclient logs launch contexts (the patient's id) at DEBUG: never let them out.
    logging.getLogger("fhirclient").setLevel(logging.WARNING)
    conf = settings.resolve(app.config)
    app.extensions[KEY] = build_state(app, conf)
    app.register_blueprint(bp)
