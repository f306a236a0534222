"""The SMART app's per-application state: settings, the session store, the clock, the allow-list."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app

from cds_service.eligibility import Params, load_params
from cds_service.fhir_client import Allowlist, FhirLimits
from cds_service.smart.http import SafeSession
from cds_service.smart.referral import TaskOutcome
from cds_service.smart.sessions import Sessions, make_store

KEY = "igg4_smart"
log = logging.getLogger(__name__)


@dataclass
class SmartState:
    settings: dict[str, Any]
    allowlist: Allowlist
    fhir_limits: FhirLimits
    params_file: str | None = None
    clock_offset_s: float = 0.0  # tests move time forward to see tokens expire
    sessions: Sessions = field(init=False)
    _params: Params | None = None

    def __post_init__(self) -> None:
        self.sessions = Sessions(
            make_store(str(self.settings["SMART_SESSION_STORE"]), self.now), self.now
        )

    def now(self) -> float:
        return time.time() + self.clock_offset_s

    def http(self) -> SafeSession:
        return SafeSession(float(self.settings["SMART_HTTP_TIMEOUT_S"]))

    def params(self) -> Params:
        if self._params is None:
            self._params = load_params(self.params_file)
        return self._params

    def task_owner(self, config: Mapping[str, Any]) -> str | None:
        owner = self.settings.get("SMART_TASK_OWNER") or config.get("STUDY_TEAM_REFERENCE")
        return str(owner) if owner else None

    def record_referral(
        self,
        app: Flask,
        fhir_server: str,
        assessment: dict[str, Any],
        name: str | None,
        task: TaskOutcome,
        handoff: dict[str, Any] | None = None,
        by: str | None = None,
    ) -> int | None:
        """Add or update the patient's worklist entry and mark it referred by the clinician (who,
        when, via the SMART app; in its audit trail too). None when this deployment has no
        worklist."""
        if "worklist" not in app.blueprints:
            return None
        from cds_service.worklist import store
        from cds_service.worklist.db import session_factory

        with session_factory(app)() as db:
            row = store.record_assessment(
                db,
                fhir_server=fhir_server,
                assessment=assessment,
                source="manual",
                display_name=name,
                handoff=handoff,
            )
            store.record_referral(
                db,
                fhir_server=fhir_server,
                patient_id=store.patient_id_of(assessment),
                by=by or "a clinician",
                via="smart-app",
                detail={"task": task.reference, "taskWritten": task.written},
            )
        return row


def build_state(app: Flask, settings: dict[str, Any]) -> SmartState:
    config = app.config
    limits = FhirLimits(
        time_budget_s=float(settings["SMART_FHIR_TIME_BUDGET_S"]),
        max_response_bytes=int(config.get("FHIR_MAX_RESPONSE_BYTES") or 20 * 1024 * 1024),
        max_pages=int(config.get("FHIR_MAX_PAGES") or 100),
        max_workers=int(config.get("FHIR_MAX_WORKERS") or 6),
        page_size=config.get("FHIR_PAGE_SIZE") or 200,
    )
    return SmartState(
        settings=settings,
        allowlist=Allowlist(settings["SMART_ISS_ALLOWLIST"]),
        fhir_limits=limits,
        params_file=config.get("IGG4_PARAMS_FILE"),
    )


def smart_state() -> SmartState:
    state: SmartState = current_app.extensions[KEY]
    return state
