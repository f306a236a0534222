"""Population screening: every candidate in a clinic's FHIR data (issue 5).

Sources: a FHIR server (search, then fetch per patient), a Bulk Data export grouped by patient on disk (memory bounded by settings), or
the same export on Apache Spark. Each patient goes through the eligibility engine; results go to a
file and/or the worklist, with a summary, an attrition table and picture, progress and resume.

    from cds_service.screening import ScreenConfig, run_screen
    outcome = run_screen(ScreenConfig(bulk_dir=Path("export/"), out=Path("results.ndjson")))
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cds_service.screening.pipeline import ScreenConfig, ScreenOutcome, run_screen

__all__ = ["ScreenConfig", "ScreenOutcome", "run_screen"]


def __getattr__(name: str) -> Any:
    # Imported when first used: a worker process that imports only ``scan`` or ``runner`` does not
    # load the pipeline (HTTP client, auth, worklist database).
    if name in __all__:
        from cds_service.screening import pipeline

        return getattr(pipeline, name)
    raise AttributeError(name)
