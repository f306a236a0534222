"""Prometheus metrics of the service (``prometheus_client``), served at ``/metrics`` when
``METRICS_ENABLED`` is true (off by default). Counts and timings only: no label ever carries a
patient, a user, a server URL or a token.

Several processes (gunicorn workers): each process counts in files under the directory named by
``PROMETHEUS_MULTIPROC_DIR`` (set before the service starts; ``igg4-cds serve`` sets one itself when
metrics are on), and ``/metrics`` adds up every process's files. Without it each worker would answer
with its own counts only.
"""

from __future__ import annotations

import os
import time
from typing import Any

import requests
from flask import Blueprint, Flask, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0)

HOOK_SECONDS = Histogram(
    "igg4_hook_seconds",
    "Time to answer a patient-view hook call, by outcome",
    ["outcome"],
    buckets=_LATENCY,
)
FHIR_SECONDS = Histogram(
    "igg4_fhir_request_seconds",
    "Time of one request to an EHR's FHIR server (to the response headers)",
    buckets=_LATENCY,
)
FHIR_ERRORS = Counter(
    "igg4_fhir_errors_total",
    "Requests to FHIR servers that failed, by kind (timeout, connection, http-4xx, http-5xx, ...)",
    ["kind"],
)
CARDS = Counter("igg4_cards_issued_total", "Cards returned by the hook, by status", ["status"])
FEEDBACK = Counter("igg4_feedback_total", "Card feedback items received, by outcome", ["outcome"])
DB_ERRORS = Counter(
    "igg4_db_errors_total",
    "Database operations that failed (unavailable), by operation",
    ["operation"],
)
HOOK_WRITES_PENDING = Gauge(
    "igg4_hook_writes_pending",
    "Hook writes (worklist hand-offs, issued cards) queued and not yet stored",
    multiprocess_mode="livesum",
)
HOOK_WRITES_DEFERRED = Counter(
    "igg4_hook_writes_deferred_total",
    "Hook calls answered before their writes were stored (database unavailable or slow)",
)
HOOK_WRITES_LOST = Counter(
    "igg4_hook_writes_lost_total", "Hook writes that could not even be queued (outbox full)"
)

bp = Blueprint("metrics", __name__)


@bp.get("/metrics")
def metrics() -> Response:
    registry: CollectorRegistry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)


def register(app: Flask) -> None:
    if app.config.get("METRICS_ENABLED"):
        app.register_blueprint(bp)


def worker_exited(pid: int) -> None:
    """gunicorn ``child_exit``: a dead worker's live gauges no longer count."""
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]


def instrument_session(session: requests.Session) -> None:
    """Time every request of ``session`` (to its response headers) and count its failures."""
    wrapped: set[int] = set()
    for adapter in list(session.adapters.values()):
        if id(adapter) in wrapped:
            continue
        wrapped.add(id(adapter))
        adapter.send = _measured(adapter)  # type: ignore[method-assign]


def _measured(adapter: Any) -> Any:
    def measured_send(request: Any, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            # The class's send, looked up per call (test doubles patch the class).
            response = type(adapter).send(adapter, request, *args, **kwargs)
        except requests.Timeout:
            FHIR_ERRORS.labels("timeout").inc()
            raise
        except requests.ConnectionError:
            FHIR_ERRORS.labels("connection").inc()
            raise
        except requests.RequestException:
            FHIR_ERRORS.labels("other").inc()
            raise
        finally:
            FHIR_SECONDS.observe(time.perf_counter() - started)
        if response.status_code >= 400:
            FHIR_ERRORS.labels(f"http-{response.status_code // 100}xx").inc()
        return response

    return measured_send
