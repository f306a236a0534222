"""``igg4-cds demo``: the whole service against a FHIR server made of ``fixtures/``, on loopback.

Starts the read-only fixture FHIR server (open, as a browser EHR client such as the CDS Hooks sandbox
needs; ``--fhir-token`` puts it behind a bearer token), a test EHR that authorizes SMART launches
for it, and the CDS service with the worklist and the SMART app, all on one database; fills the
worklist, makes one login per worklist role; prints the URLs, the logins, the SMART app's EHR
launches, a ready CDS Hooks sandbox URL and ``curl`` commands for a candidate, a needs-review and an
ineligible patient, and serves until Ctrl-C. ``--once`` calls the hook for those three itself,
launches the SMART app for the candidate and the needs-review patient, refers one from the app and
one by accepting the card's suggestion, checks that both referrals reach the recruiter's list,
prints the results and exits 0 when all is as expected (1 otherwise). ``--sandbox DIR`` also serves a
built CDS Hooks sandbox (``build/`` of github.com/cds-hooks/sandbox) on loopback.

The fixtures are built for one screening date, 2026-11-24: the demo pins ``IGG4_AS_OF`` to it (and
says so). JWT verification is ON: the demo trusts the sandbox's published issuer (its public key
pinned, cds_service/security/issuers/cds-hooks-sandbox.yaml; its private key is public too, so this
trust is for a demo on loopback only) and a demo issuer whose key lives in memory and signs the
``--once`` calls and the printed curl commands (each token works once, for 10 minutes).
``--no-verify`` turns verification off. Ineligible patients get a card here
(``SHOW_INELIGIBLE_CARD``), so all three show.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
import shlex
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import click
import orjson
import requests
from joserfc import jwt
from joserfc.jwk import ECKey
from werkzeug.serving import make_server

import cds_service
from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.hooks import SERVICE_ID
from cds_service.hooks.cards import EXTENSION_KEY
from cds_service.loopback import ThreadedHttpServer
from cds_service.security import SANDBOX_ISSUER_FILE, load_issuers
from cds_service.smart_testing import TestEhr
from cds_service.smart_testing import demo as smart
from cds_service.worklist.demo import demo_accounts, seed_demo

DEMO_AS_OF = "2026-11-24"
STATUSES = ("candidate", "needs-review", "ineligible")
DEMO_ISSUER = "urn:igg4-cds:demo-cds-client"
DEMO_USER_ID = "Practitioner/demo-clinician"


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


def hook_request(patient_id: str, fhir_base: str, token: str | None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": DEMO_USER_ID, "patientId": patient_id},
        "fhirServer": fhir_base,
    }
    if token:
        body["fhirAuthorization"] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "patient/*.read",
            "subject": "demo-ehr",
        }
    return body


def curl_command(service_url: str, body: dict[str, Any], bearer: str | None = None) -> str:
    auth = f" -H {shlex.quote(f'Authorization: Bearer {bearer}')}" if bearer else ""
    return (
        f"curl -s -X POST {service_url} -H 'Content-Type: application/json'{auth} "
        f"-d {shlex.quote(orjson.dumps(body).decode())}"
    )


class DemoSigner:
    """The demo's own CDS client issuer: an ES384 key in memory, trusted by the demo service."""

    def __init__(self) -> None:
        self.key = ECKey.generate_key("P-384", parameters={"kid": "igg4-cds-demo"}, private=True)

    def issuer(self) -> dict[str, Any]:
        return {DEMO_ISSUER: {"jwks": {"keys": [self.key.as_dict(private=False)]}}}

    def token(self, audience: str, lifetime_s: int = 600) -> str:
        now = int(time.time())
        claims = {
            "iss": DEMO_ISSUER,
            "aud": audience,
            "iat": now,
            "exp": now + lifetime_s,
            "jti": str(uuid.uuid4()),
        }
        header = {"alg": "ES384", "typ": "JWT", "kid": self.key.kid}
        return jwt.encode(header, claims, self.key, algorithms=["ES384"])


def demo_issuers(signer: DemoSigner) -> dict[str, Any]:
    """JWT_ISSUERS of the demo: the CDS Hooks sandbox's published issuer and the demo's own."""
    return {**load_issuers(SANDBOX_ISSUER_FILE), **signer.issuer()}


def sandbox_url(sandbox_base: str, fhir_base: str, patient_id: str, service_base: str) -> str:
    """The CDS Hooks sandbox opened on this demo: FHIR server, patient and CDS services."""
    query = urlencode(
        {
            "fhirServiceUrl": fhir_base,
            "patientId": patient_id,
            "serviceDiscoveryURL": f"{service_base}/cds-services",
        }
    )
    return f"{sandbox_base.rstrip('/')}/?{query}"


@contextlib.contextmanager
def fhir_with_launches(
    directory: Path, *, host: str, port: int, page_size: int, token: str | None
) -> Iterator[tuple[FixtureFhirServer, TestEhr]]:
    """The fixture FHIR server whose ``_services/smart/Launch`` registers launches with a test EHR
    (its authorization server), so a card's SMART link opens the app on the patient."""
    upstream = FixtureFhirServer.from_directory(directory, host=host)
    ehr = TestEhr(upstream, host=host)
    fhir = FixtureFhirServer.from_directory(
        directory, token=token, page_size=page_size, host=host, port=port, launch_authority=ehr
    )
    with upstream, ehr, fhir:
        ehr.audiences.add(fhir.base_url)
        yield fhir, ehr


class _StaticHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # URLs name patients: never logged
        return


def serve_static(directory: Path, host: str, port: int) -> ThreadedHttpServer:
    """A built CDS Hooks sandbox (its ``build/``), served as static files on loopback."""
    server = ThreadedHttpServer(host, port, "demo-sandbox")
    server.start(functools.partial(_StaticHandler, directory=str(directory)))  # type: ignore[arg-type]
    return server


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
@click.option(
    "--fhir-token",
    default=None,
    help="Put the fixture FHIR server behind this bearer token (the sandbox needs it open).",
)
@click.option(
    "--sandbox",
    "sandbox_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Serve a built CDS Hooks sandbox (its build/ directory) on --sandbox-port.",
)
@click.option("--sandbox-port", default=8081, show_default=True, type=int)
@click.option(
    "--sandbox-url",
    default=None,
    help="Where the CDS Hooks sandbox is served (default: http://HOST:SANDBOX_PORT).",
)
@click.option("--no-verify", is_flag=True, help="Turn JWT verification of CDS clients off.")
@click.option("--once", is_flag=True, help="Call the hook for three patients, print, exit.")
def demo(
    host: str,
    port: int,
    fhir_port: int,
    fixtures_dir: Path | None,
    page_size: int,
    fhir_token: str | None,
    sandbox_dir: Path | None,
    sandbox_port: int,
    sandbox_url: str | None,
    no_verify: bool,
    once: bool,
) -> None:
    """Run the CDS service against a FHIR server serving fixtures/ (all on this machine)."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s %(message)s")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # request lines may name patients
    directory = fixtures_dir or default_fixtures()
    examples = pick_examples(directory)
    signer = DemoSigner()
    workdir = tempfile.TemporaryDirectory(prefix="igg4-cds-demo-")
    server = None
    serving = False
    static = None
    with fhir_with_launches(
        directory, host=host, port=fhir_port, page_size=page_size, token=fhir_token
    ) as (fhir, ehr):
        fhir_base = fhir.base_url
        try:
            # The server is bound first, so that the service knows its own URL: the audience its
            # clients' JWTs must name (PUBLIC_BASE_URL, required with JWT verification on).
            wsgi: dict[str, Any] = {}
            server = make_server(
                host, port, lambda env, start: wsgi["app"](env, start), threaded=True
            )
            base = f"http://{host}:{server.server_port}"
            app = create_app(
                {
                    "PUBLIC_BASE_URL": base,
                    "JWT_VERIFY": not no_verify,
                    "JWT_ISSUERS": demo_issuers(signer),
                    "FHIR_SERVER_ALLOWLIST": [fhir_base, ehr.fhir_base],
                    "IGG4_AS_OF": DEMO_AS_OF,
                    "SHOW_INELIGIBLE_CARD": True,
                    "DATABASE_URL": f"sqlite:///{workdir.name}/demo.db",
                    "SMART_COOKIE_SECURE": False,
                    "WORKLIST_SECURE_COOKIES": False,
                }
            )
            # the worklist, filled with every fixture's assessment, and a login per role
            seed_demo(app, directory, fhir_server=fhir_base)
            logins = demo_accounts(app)
            wsgi["app"] = app
            app.config["WORKLIST_BASE_URL"] = base
            app.config["SMART_LAUNCH_URL"] = f"{base}/smart/launch"
            ehr.redirect_uris.add(f"{base}/smart/callback")
            threading.Thread(target=server.serve_forever, name="demo-cds", daemon=True).start()
            serving = True
            if sandbox_dir is not None:
                static = serve_static(sandbox_dir, host, sandbox_port)
            sandbox = sandbox_url or f"http://{host}:{sandbox_port}"
            hook_url = f"{base}/cds-services/{SERVICE_ID}"
            signed = None if no_verify else signer
            _banner(base, fhir_base, fhir_token, hook_url, examples, logins, signed)
            # the SMART app reads the fixture FHIR server (the hook's rows are keyed by it); behind
            # --fhir-token it cannot (the token is not the EHR's): then the test EHR's gateway
            smart_iss = ehr.fhir_base if fhir_token else fhir_base
            _smart_banner(base, smart_iss, ehr, examples)
            _sandbox_banner(sandbox, sandbox_dir, fhir_base, base, examples, fhir_token)
            if once:
                failed = _run_once(hook_url, fhir_base, fhir_token, examples, signed)
                if fhir_token:
                    click.echo("(SMART app and referral checks need the open FHIR server: skipped)")
                else:
                    failed |= _referral_loop(
                        base, hook_url, fhir_base, fhir_token, ehr, examples, signed, logins
                    )
                click.echo("demo check passed" if not failed else "demo check FAILED")
                raise SystemExit(failed)
            click.echo("Serving. Press Ctrl-C to stop.")
            try:
                threading.Event().wait()
            except KeyboardInterrupt:
                click.echo("\nStopping.")
        finally:
            if server is not None:
                if serving:
                    server.shutdown()
                server.server_close()
            if static is not None:
                static.stop()
            workdir.cleanup()


def _banner(
    base: str,
    fhir_base: str,
    token: str | None,
    hook_url: str,
    examples: list[Example],
    logins: dict[str, tuple[str, str]],
    signer: DemoSigner | None,
) -> None:
    echo = click.echo
    echo("")
    echo("=" * 78)
    echo("igg4-cds demo")
    echo(f"  CDS Hooks discovery : {base}/cds-services")
    echo(f"  Hook endpoint       : {hook_url}")
    echo(f"  Recruiter worklist  : {base}/worklist/  (one login per role:)")
    for role, (username, password) in logins.items():
        echo(f"    {role:<13}      {username} / {password}")
    echo(f"  SMART app           : {base}/smart/  (clinicians: the test EHR, no login)")
    guard = f"bearer token: {token}" if token else "open: no token, as the sandbox needs"
    echo(f"  Fixture FHIR server : {fhir_base}  ({guard})")
    echo(f"  Screening date      : {DEMO_AS_OF} (pinned: the fixtures are built for it)")
    if signer is None:
        echo("  !!! JWT verification of CDS clients is OFF in the demo: do not expose it. !!!")
    else:
        echo("  JWT verification ON : trusted issuers are the CDS Hooks sandbox (its published")
        echo("                        key, pinned; demo only: its private key is public too)")
        echo(f"                        and {DEMO_ISSUER} (signs the curl lines below:")
        echo("                        each token works once, for 10 minutes)")
    echo("=" * 78)
    echo(f"\ncurl -s {base}/cds-services")
    for example in examples:
        body = hook_request(example.patient_id, fhir_base, token)
        bearer = signer.token(hook_url) if signer else None
        echo(f"\n# {example.status}: fixture {example.fixture}")
        echo(curl_command(hook_url, body, bearer))
    missing = [s for s in STATUSES if s not in {e.status for e in examples}]
    if missing:
        echo(f"\n(no fixture found for: {', '.join(missing)})")
    echo("")


def _smart_banner(base: str, fhir_base: str, ehr: TestEhr, examples: list[Example]) -> None:
    echo = click.echo
    echo("SMART app opened from the test EHR (its consent page, then the app), in a browser:")
    for example in examples:
        if example.status != "ineligible":
            url = smart.launch_url(f"{base}/smart/launch", ehr, example.patient_id, fhir_base)
            echo(f"  {example.status:<12} {url}")
    echo(f"  standalone   {base}/smart/  (sign in to the test EHR and pick a patient)")
    echo("")


def _referral_loop(
    base: str,
    hook_url: str,
    fhir_base: str,
    token: str | None,
    ehr: TestEhr,
    examples: list[Example],
    signer: DemoSigner | None,
    logins: dict[str, tuple[str, str]],
) -> int:
    """The SMART app's Refer and the card's accepted suggestion both reach the recruiter's list."""
    by_status = {e.status: e for e in examples}
    failures = 0
    review = by_status.get("needs-review")
    if review is not None:
        browser, page = smart.launch(f"{base}/smart/launch", ehr, review.patient_id, fhir_base)
        got = smart.page_status(page)
        referred = page is not None and smart.refer(browser, base, page)
        ok = got == "needs-review" and referred
        failures += 0 if ok else 1
        click.echo(
            f"[{'ok' if ok else 'FAIL'}] SMART app, {review.patient_id}: expected needs-review, "
            f"got {got}; referred from the app: {'yes' if referred else 'no'}"
        )
    candidate = by_status.get("candidate")
    if candidate is not None:
        got = smart.run_launch(f"{base}/smart/launch", ehr, candidate.patient_id, fhir_base)
        headers = {"Authorization": f"Bearer {signer.token(hook_url)}"} if signer else {}
        body = hook_request(candidate.patient_id, fhir_base, token)
        cards = requests.post(hook_url, json=body, headers=headers, timeout=30).json()["cards"]
        feedback = {
            "feedback": [
                {
                    "card": cards[0]["uuid"],
                    "outcome": "accepted",
                    "acceptedSuggestions": [{"id": cards[0]["suggestions"][0]["uuid"]}],
                    "outcomeTimestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
            ]
        }
        url = f"{hook_url}/feedback"
        headers = {"Authorization": f"Bearer {signer.token(url)}"} if signer else {}
        answer = requests.post(url, json=feedback, headers=headers, timeout=30)
        ok = got == "candidate" and answer.status_code == 200
        failures += 0 if ok else 1
        click.echo(
            f"[{'ok' if ok else 'FAIL'}] SMART app, {candidate.patient_id}: expected candidate, "
            f"got {got}; card suggestion accepted: HTTP {answer.status_code}"
        )
    # the recruiter's list shows both referrals
    username, password = logins.get("recruiter", next(iter(logins.values())))
    recruiter = requests.Session()
    recruiter.trust_env = False
    form = recruiter.get(f"{base}/worklist/login", timeout=30).text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', form)
    data = {"username": username, "password": password, "csrf_token": csrf.group(1) if csrf else ""}
    listing = recruiter.post(f"{base}/worklist/login", data=data, timeout=30).text
    shown = {via: f'data-referred-via="{via}"' in listing for via in ("smart-app", "cds-card")}
    ok = all(shown.values())
    failures += 0 if ok else 1
    click.echo(
        f"[{'ok' if ok else 'FAIL'}] worklist, as {username}: referred via the SMART app "
        f"{'shown' if shown['smart-app'] else 'MISSING'}, via the CDS card "
        f"{'shown' if shown['cds-card'] else 'MISSING'}"
    )
    return 1 if failures else 0


def _sandbox_banner(
    sandbox: str,
    sandbox_dir: Path | None,
    fhir_base: str,
    base: str,
    examples: list[Example],
    token: str | None,
) -> None:
    echo = click.echo
    echo("CDS Hooks sandbox (the reference EHR client), in a browser:")
    if sandbox_dir is None:
        echo("  (build it and serve its build/ on loopback, or pass --sandbox DIR; see the README)")
    if token:
        echo("  (the fixture FHIR server needs a token now: the sandbox cannot read it)")
    for example in examples:
        echo(f"  {example.status:<12} {sandbox_url(sandbox, fhir_base, example.patient_id, base)}")
    echo("")


def _run_once(
    hook_url: str,
    fhir_base: str,
    token: str | None,
    examples: list[Example],
    signer: DemoSigner | None,
) -> int:
    failures = 0 if len(examples) == len(STATUSES) else 1
    for example in examples:
        headers = {"Authorization": f"Bearer {signer.token(hook_url)}"} if signer else {}
        response = requests.post(
            hook_url,
            json=hook_request(example.patient_id, fhir_base, token),
            headers=headers,
            timeout=30,
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
    return 0 if failures == 0 else 1
