"""The service and the floor app under gunicorn on loopback, for the benchmarks that load them
(``hook_load.py``, ``hostile.py``)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import requests

BENCH = Path(__file__).resolve().parent
TOKEN = "bench-token"  # what the fixture FHIR server is given to expect


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def gunicorn(
    app: str, port: int, env: dict[str, str], *, workers: int, threads: int, timeout: int = 30
) -> subprocess.Popen[bytes]:
    """``app`` (``cds_service.wsgi:app`` or ``floor_app:app``) under gunicorn, as in production:
    gthread workers, no access log."""
    return subprocess.Popen(
        [
            sys.executable, "-m", "gunicorn", app, "--chdir", str(BENCH),
            "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--threads", str(threads), "--worker-class", "gthread",
            "--timeout", str(timeout), "--log-level", "warning",
        ],
        env=env,
        cwd=BENCH,  # not the repository: "python -m" puts the cwd first on sys.path
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip


def wait_ready(base: str) -> bool:
    """True once ``{base}/healthz`` answers (at most about a minute)."""
    for _ in range(600):
        try:
            if requests.get(f"{base}/healthz", timeout=1).ok:
                return True
        except requests.RequestException:
            time.sleep(0.1)
    return False


def hook_request(
    patient: str, *, prefetch: dict[str, Any] | None = None, fhir: str | None = None
) -> dict[str, Any]:
    """A patient-view call: with ``prefetch``, or with ``fhir`` (the server and its token)."""
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": patient},
    }
    if prefetch is not None:
        body["prefetch"] = prefetch
    if fhir:
        body["fhirServer"] = fhir
        body["fhirAuthorization"] = {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "patient/*.read",
            "subject": "bench",
        }
    return body
