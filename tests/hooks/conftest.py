"""Shared fixtures of the CDS Hooks service tests."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "fixtures" / "patients"
AS_OF = "2026-11-24"
HOOK_PATH = "/cds-services/igg4rd-trial-screening"


@pytest.fixture
def make_app(tmp_path: Path) -> Callable[..., Flask]:
    """An application on a fresh SQLite file; JWT verification off unless the test turns it on."""

    def factory(**overrides: Any) -> Flask:
        config: dict[str, Any] = {
            "DATABASE_URL": f"sqlite:///{tmp_path}/cds-{uuid.uuid4().hex[:8]}.db",
            "JWT_VERIFY": False,
            "IGG4_AS_OF": AS_OF,
            "TESTING": True,
        }
        config.update(overrides)
        return create_app(config)

    return factory


def hook_body(patient_id: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/test-user", "patientId": patient_id},
    }
    body.update(extra)
    return body


def fhir_auth(token: str) -> dict[str, Any]:
    return {
        "access_token": token,
        "token_type": "Bearer",
        "expires_in": 300,
        "scope": "patient/*.read",
        "subject": "test-ehr",
    }


class LiveServer:
    """A Flask app on real HTTP (loopback), in a background thread."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> LiveServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._thread.join(timeout=5)


@pytest.fixture(scope="session")
def fixture_fhir() -> Iterator[FixtureFhirServer]:
    """Every fixture patient behind a bearer token, small pages (so searches span several)."""
    with FixtureFhirServer.from_directory(FIXTURES, token="fixture-token", page_size=5) as server:
        yield server
