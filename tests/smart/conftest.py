"""The SMART app's test stack, all real HTTP on loopback: the fixture FHIR server, a test EHR
(authorization server + scope-enforcing FHIR gateway) in front of it, and the app under werkzeug."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.smart.state import KEY, SmartState
from cds_service.smart_testing import TestEhr
from cds_service.smart_testing.ehr import CAPABILITIES

logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines name OAuth codes

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures" / "patients"
AS_OF = date(2026, 11, 24)
CANDIDATE = "fx01"  # 01-candidate-mgl-male
NEEDS_REVIEW = "fx12"  # 12-review-ast-91-days-old: AST outside the 90-day window


@dataclass
class LiveApp:
    app: Flask
    server: BaseWSGIServer
    url: str

    @property
    def launch_url(self) -> str:
        return f"{self.url}/smart/launch"

    @property
    def state(self) -> SmartState:
        state: SmartState = self.app.extensions[KEY]
        return state


@pytest.fixture(scope="session")
def fhir_upstream() -> Iterator[FixtureFhirServer]:
    with FixtureFhirServer.from_directory(FIXTURES) as server:
        yield server


@pytest.fixture(scope="session")
def ehr_server(fhir_upstream: FixtureFhirServer) -> Iterator[TestEhr]:
    with TestEhr(fhir_upstream) as ehr:
        yield ehr


@pytest.fixture
def ehr(ehr_server: TestEhr) -> Iterator[TestEhr]:
    """The shared test EHR, reset to its defaults for each test."""
    ehr_server.events.clear()
    yield ehr_server
    ehr_server.discovery = "smart-configuration"
    ehr_server.capabilities = list(CAPABILITIES)
    ehr_server.grant_filter = None
    ehr_server.token_lifetime_s = 300
    ehr_server.tasks.clear()
    ehr_server.client_secret = None


def start_app(tmp: Path, ehr: TestEhr, **extra: Any) -> LiveApp:
    config = {
        "DATABASE_URL": f"sqlite:///{tmp / 'smart.db'}",
        "SECRET_KEY": "smart-tests-" + "k" * 32,
        "JWT_VERIFY": False,
        "FHIR_SERVER_ALLOWLIST": [ehr.fhir_base],
        "IGG4_AS_OF": AS_OF.isoformat(),
        "SMART_COOKIE_SECURE": False,  # plain http on loopback
        "WORKLIST_SECURE_COOKIES": False,
        **extra,
    }
    app = create_app(config)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    live = LiveApp(app, server, f"http://127.0.0.1:{server.server_port}")
    ehr.redirect_uris.add(f"{live.url}/smart/callback")
    return live


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory, ehr_server: TestEhr) -> Iterator[LiveApp]:
    live = start_app(tmp_path_factory.mktemp("smart-app"), ehr_server)
    yield live
    live.server.shutdown()


@pytest.fixture
def app_server(live_app: LiveApp) -> Iterator[LiveApp]:
    yield live_app
    live_app.state.clock_offset_s = 0.0


@pytest.fixture
def make_live_app(tmp_path: Path, ehr: TestEhr) -> Iterator[Callable[..., LiveApp]]:
    started: list[LiveApp] = []

    def factory(**extra: Any) -> LiveApp:
        live = start_app(tmp_path, ehr, **extra)
        started.append(live)
        return live

    yield factory
    for live in started:
        live.server.shutdown()


# ---- a clinician driving the flow with requests (no browser) -------------------------------------


def consent_form(html: str) -> dict[str, Any]:
    txn = re.search(r'name="txn" value="([^"]+)"', html)
    assert txn, "no consent form"
    scopes = re.findall(r'name="scope" value="([^"]+)"', html)
    return {"txn": txn.group(1), "scopes": scopes}


@dataclass
class Flow:
    browser: requests.Session
    authorize: requests.Response  # the consent page
    form: dict[str, Any]
    ehr: TestEhr

    def decide(
        self,
        decision: str = "approve",
        *,
        scopes: list[str] | None = None,
        patient: str | None = None,
        follow: bool = True,
    ) -> requests.Response:
        data: list[tuple[str, str]] = [("txn", self.form["txn"]), ("decision", decision)]
        data += [("scope", s) for s in (self.form["scopes"] if scopes is None else scopes)]
        if patient:
            data.append(("patient", patient))
        return self.browser.post(
            f"{self.ehr.base_url}/auth/decide", data=data, allow_redirects=follow
        )


def begin(live: LiveApp, ehr: TestEhr, patient: str | None) -> Flow:
    """Open the app as the EHR does (EHR launch for ``patient``; standalone when None), up to the
    EHR's consent page."""
    return begin_at(live.launch_url, ehr, patient)


def begin_at(launch_url: str, ehr: TestEhr, patient: str | None) -> Flow:
    browser = requests.Session()
    browser.trust_env = False
    url = ehr.launch_url(launch_url, patient) if patient else f"{launch_url}?iss={ehr.fhir_base}"
    page = browser.get(url)
    assert page.status_code == 200, page.text[:500]
    assert urlsplit(page.url).path == "/auth/authorize"
    return Flow(browser, page, consent_form(page.text), ehr)


def launch(live: LiveApp, ehr: TestEhr, patient: str | None, **decide: Any) -> requests.Response:
    flow = begin(live, ehr, patient)
    return flow.decide(**decide)


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))
