"""gunicorn settings hooks for ``gunicorn -c python:cds_service.gunicorn_conf cds_service.wsgi:app``
(``igg4-cds serve`` sets the same hooks itself)."""

from __future__ import annotations

from typing import Any


def child_exit(server: Any, worker: Any) -> None:
    """A worker's live metrics (gauges) stop counting when it exits (multi-process metrics)."""
    from cds_service.metrics import worker_exited

    worker_exited(worker.pid)
