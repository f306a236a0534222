"""``igg4-cds smart-demo``: the SMART app launched from a test EHR over ``fixtures/``, on loopback.

Starts the fixture FHIR server, the test EHR in front of it (authorization server with a consent
page, scope-enforcing FHIR gateway, Task endpoint) and the service with the SMART app, then prints
EHR-launch URLs for a candidate and a needs-review patient and the standalone start page. Open one
in a browser: the EHR's consent page, then the app. ``--once`` runs both launches itself (no
browser), prints each patient's status and exits 0 when it is the expected one.

The fixtures are built for one screening date, 2026-11-24: the demo pins ``IGG4_AS_OF`` to it.
Cookies are not marked Secure (plain http on loopback). Development only.
"""

from __future__ import annotations

import logging
import re
import tempfile
import threading
from pathlib import Path

import click
import requests
from werkzeug.serving import make_server

import cds_service
from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.smart_testing.ehr import TestEhr

DEMO_AS_OF = "2026-11-24"
EXAMPLES = (("candidate", "fx01"), ("needs-review", "fx12"))


def _default_fixtures() -> Path:
    return Path(cds_service.__file__).resolve().parent.parent / "fixtures" / "patients"


def run_launch(launch_url: str, ehr: TestEhr, patient: str) -> str | None:
    """An EHR launch driven without a browser; the status badge of the page, or None."""
    browser = requests.Session()
    browser.trust_env = False
    consent = browser.get(ehr.launch_url(launch_url, patient), timeout=30)
    txn = re.search(r'name="txn" value="([^"]+)"', consent.text)
    if not txn:
        return None
    scopes = re.findall(r'name="scope" value="([^"]+)"', consent.text)
    data = [("txn", txn.group(1)), ("decision", "approve"), *(("scope", s) for s in scopes)]
    page = browser.post(f"{ehr.base_url}/auth/decide", data=data, timeout=30)
    found = re.search(r'class="badge elig-([a-z-]+)"', page.text)
    return found.group(1) if page.status_code == 200 and found else None


@click.command("smart-demo")
@click.option("--port", default=8090, show_default=True, type=int, help="The app's port.")
@click.option("--ehr-port", default=8091, show_default=True, type=int, help="The test EHR's port.")
@click.option(
    "--fixtures",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of fixture Bundles (default: the repository's fixtures/patients).",
)
@click.option("--once", is_flag=True, help="Run the two launches, print the results, exit.")
def smart_demo(port: int, ehr_port: int, fixtures: Path | None, once: bool) -> None:
    """The SMART on FHIR app launched from a test EHR over the fixture patients."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines carry OAuth codes
    directory = fixtures or _default_fixtures()
    with (
        FixtureFhirServer.from_directory(directory) as upstream,
        TestEhr(upstream, port=ehr_port) as ehr,
        tempfile.TemporaryDirectory() as tmp,
    ):
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'demo.db'}",
                "JWT_VERIFY": False,
                "FHIR_SERVER_ALLOWLIST": [ehr.fhir_base],
                "IGG4_AS_OF": DEMO_AS_OF,
                "SMART_COOKIE_SECURE": False,
                "WORKLIST_SECURE_COOKIES": False,
            }
        )
        server = make_server("127.0.0.1", port, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        ehr.redirect_uris.add(f"{base}/smart/callback")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        click.echo(f"Screening as of {DEMO_AS_OF} (IGG4_AS_OF, the fixtures' date).")
        click.echo(f"Test EHR (FHIR base, iss): {ehr.fhir_base}")
        failures = 0
        for status, patient in EXAMPLES:
            if once:
                got = run_launch(f"{base}/smart/launch", ehr, patient)
                failures += got != status
                click.echo(f"{patient}: expected {status}, got {got}")
            else:
                url = ehr.launch_url(f"{base}/smart/launch", patient)
                click.echo(f"EHR launch, {status} ({patient}): {url}")
        if once:
            server.shutdown()
            raise SystemExit(1 if failures else 0)
        click.echo(f"Standalone launch (pick a patient): {base}/smart/")
        click.echo("Ctrl-C to stop.")
        try:
            thread.join()
        except KeyboardInterrupt:
            server.shutdown()
