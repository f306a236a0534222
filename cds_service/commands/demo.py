"""``igg4-cds demo``: the whole service against a FHIR server made of ``fixtures/``, on loopback.

Starts the read-only fixture FHIR server (bearer token, search by patient and code, paging) and the
CDS service, prints the URLs and ready ``curl`` commands for a candidate, a needs-review and an
ineligible patient, and serves until Ctrl-C. ``--once`` calls the hook for those three itself,
prints the results and exits 0 when each status is the one its fixture expects (1 otherwise).

The fixtures are built for one screening date, 2026-11-24: the demo pins ``IGG4_AS_OF`` to it (and
says so). JWT verification of CDS clients is OFF in the demo (said loudly): the curl commands carry
no signed token. Ineligible patients get a card here (``SHOW_INELIGIBLE_CARD``), so all three show.
"""

from __future__ import annotations

import logging
import secrets
import shlex
import tempfile
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import orjson
import requests
from werkzeug.serving import make_server

import cds_service
from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.hooks import SERVICE_ID
from cds_service.hooks.cards import EXTENSION_KEY
from cds_service.worklist.demo import seed_demo

DEMO_AS_OF = "2026-11-24"
STATUSES = ("candidate", "needs-review", "ineligible")


@dataclass(frozen=True, slots=True)
class Example:
    status: str
    patient_id: str
    fixture: str


def default_fixtures() -> Path:
    return Path(cds_service.__file__).resolve().parent.parent / "fixtures" / "patients"


def pick_examples(directory: Path) -> list[Example]:
    """The first fixture (by file name) of each expected status."""
    found: dict[str, Example] = {}
    for expected_file in sorted(directory.glob("*.expected.json")):
        status = orjson.loads(expected_file.read_bytes()).get("status")
        bundle_file = expected_file.with_name(expected_file.name.replace(".expected.json", ".json"))
        if status not in STATUSES or status in found or not bundle_file.exists():
            continue
        bundle = orjson.loads(bundle_file.read_bytes())
        patients = [
            e["resource"]["id"]
            for e in bundle.get("entry") or []
            if e.get("resource", {}).get("resourceType") == "Patient"
        ]
        if len(patients) == 1:
            found[status] = Example(status, patients[0], bundle_file.stem)
    return [found[s] for s in STATUSES if s in found]


def hook_request(patient_id: str, fhir_base: str, token: str) -> dict[str, Any]:
    return {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/demo-clinician", "patientId": patient_id},
        "fhirServer": fhir_base,
        "fhirAuthorization": {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "patient/*.read",
            "subject": "demo-ehr",
        },
    }


def curl_command(service_url: str, body: dict[str, Any]) -> str:
    return (
        f"curl -s -X POST {service_url} -H 'Content-Type: application/json' "
        f"-d {shlex.quote(orjson.dumps(body).decode())}"
    )


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8080, show_default=True, type=int, help="Service port (0: any).")
@click.option("--fhir-port", default=0, show_default=True, type=int, help="FHIR port (0: any).")
@click.option(
    "--fixtures",
    "fixtures_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of fixture Bundles (default: the repository's fixtures/patients).",
)
@click.option("--page-size", default=20, show_default=True, type=int, help="FHIR page size.")
@click.option("--once", is_flag=True, help="Call the hook for three patients, print, exit.")
def demo(
    host: str, port: int, fhir_port: int, fixtures_dir: Path | None, page_size: int, once: bool
) -> None:
    """Run the CDS service against a FHIR server serving fixtures/ (all on this machine)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines may name patients
    directory = fixtures_dir or default_fixtures()
    examples = pick_examples(directory)
    token = secrets.token_urlsafe(16)
    workdir = tempfile.TemporaryDirectory(prefix="igg4-cds-demo-")
    fhir = FixtureFhirServer.from_directory(
        directory, token=token, page_size=page_size, host=host, port=fhir_port
    )
    fhir_base = fhir.start()
    server = None
    try:
        app = create_app(
            {
                "JWT_VERIFY": False,
                "FHIR_SERVER_ALLOWLIST": [fhir_base],
                "IGG4_AS_OF": DEMO_AS_OF,
                "SHOW_INELIGIBLE_CARD": True,
                "DATABASE_URL": f"sqlite:///{workdir.name}/demo.db",
            }
        )
        # the worklist, filled with every fixture's assessment, and a demo investigator account
        login = seed_demo(app, directory, fhir_server=fhir_base)
        server = make_server(host, port, app, threaded=True)
        base = f"http://{host}:{server.server_port}"
        app.config["WORKLIST_BASE_URL"] = base
        threading.Thread(target=server.serve_forever, name="demo-cds", daemon=True).start()
        hook_url = f"{base}/cds-services/{SERVICE_ID}"
        _banner(base, fhir_base, token, hook_url, examples, login)
        if once:
            raise SystemExit(_run_once(hook_url, fhir_base, token, examples))
        click.echo("Serving. Press Ctrl-C to stop.")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            click.echo("\nStopping.")
    finally:
        if server is not None:
            server.shutdown()
        fhir.stop()
        workdir.cleanup()


def _banner(
    base: str,
    fhir_base: str,
    token: str,
    hook_url: str,
    examples: list[Example],
    login: tuple[str, str],
) -> None:
    echo = click.echo
    echo("")
    echo("=" * 78)
    echo("igg4-cds demo")
    echo(f"  CDS Hooks discovery : {base}/cds-services")
    echo(f"  Hook endpoint       : {hook_url}")
    echo(f"  Recruiter worklist  : {base}/worklist/  (login {login[0]} / {login[1]})")
    echo(f"  Fixture FHIR server : {fhir_base}  (bearer token: {token})")
    echo(f"  Screening date      : {DEMO_AS_OF} (pinned: the fixtures are built for it)")
    echo("  !!! JWT verification of CDS clients is OFF in the demo: do not expose it. !!!")
    echo("=" * 78)
    echo(f"\ncurl -s {base}/cds-services")
    for example in examples:
        body = hook_request(example.patient_id, fhir_base, token)
        echo(f"\n# {example.status}: fixture {example.fixture}")
        echo(curl_command(hook_url, body))
    missing = [s for s in STATUSES if s not in {e.status for e in examples}]
    if missing:
        echo(f"\n(no fixture found for: {', '.join(missing)})")
    echo("")


def _run_once(hook_url: str, fhir_base: str, token: str, examples: list[Example]) -> int:
    failures = 0 if len(examples) == len(STATUSES) else 1
    for example in examples:
        response = requests.post(
            hook_url, json=hook_request(example.patient_id, fhir_base, token), timeout=30
        )
        cards = response.json().get("cards", []) if response.ok else []
        assessment = cards[0].get("extension", {}).get(EXTENSION_KEY) if cards else None
        got = assessment.get("status") if isinstance(assessment, dict) else None
        ok = response.status_code == 200 and got == example.status
        failures += 0 if ok else 1
        summary = cards[0]["summary"] if cards else "(no card)"
        click.echo(
            f"[{'ok' if ok else 'FAIL'}] {example.fixture}: HTTP {response.status_code}, "
            f"expected {example.status}, got {got}: {summary}"
        )
    click.echo("demo check passed" if failures == 0 else f"demo check FAILED ({failures})")
    return 0 if failures == 0 else 1
