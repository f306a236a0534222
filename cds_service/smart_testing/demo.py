"""The SMART app's part of the demo: launches driven without a browser (``igg4-cds demo --once``
checks them), and ``igg4-cds smart-demo``, kept as another name for ``igg4-cds demo`` (which now
starts the fixture FHIR server, the test EHR, the CDS service, the worklist and the SMART app on
one database).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlencode

import click
import requests

from cds_service.smart_testing.ehr import TestEhr


def launch_url(app_launch_url: str, ehr: TestEhr, patient: str, iss: str | None = None) -> str:
    """What the EHR opens to launch the app on ``patient``; ``iss`` the FHIR server the app
    reads (default: the test EHR's own gateway)."""
    if iss is None:
        return ehr.launch_url(app_launch_url, patient)
    return f"{app_launch_url}?{urlencode({'iss': iss, 'launch': ehr.new_launch(patient)})}"


def launch(
    app_launch_url: str, ehr: TestEhr, patient: str, iss: str | None = None
) -> tuple[requests.Session, str | None]:
    """An EHR launch approved on the test EHR's consent page, as a browser would do it: the
    browser session and the app's page (None when the launch did not reach it)."""
    browser = requests.Session()
    browser.trust_env = False
    consent = browser.get(launch_url(app_launch_url, ehr, patient, iss), timeout=30)
    txn = re.search(r'name="txn" value="([^"]+)"', consent.text)
    if not txn:
        return browser, None
    scopes = re.findall(r'name="scope" value="([^"]+)"', consent.text)
    data = [("txn", txn.group(1)), ("decision", "approve"), *(("scope", s) for s in scopes)]
    page = browser.post(f"{ehr.base_url}/auth/decide", data=data, timeout=30)
    return browser, (page.text if page.status_code == 200 else None)


def page_status(page: str | None) -> str | None:
    """The verdict badge of the app's page (candidate, needs-review, ineligible), or None."""
    found = re.search(r'class="badge elig-([a-z-]+)"', page or "")
    return found.group(1) if found else None


def run_launch(
    app_launch_url: str, ehr: TestEhr, patient: str, iss: str | None = None
) -> str | None:
    """An EHR launch driven without a browser; the status badge of the page, or None."""
    return page_status(launch(app_launch_url, ehr, patient, iss)[1])


def refer(browser: requests.Session, base_url: str, page: str) -> bool:
    """Press "Refer to the study team" on the app's page; True when the app says it referred."""
    form = re.search(r'<form method="post" action="([^"]+/refer)"', page)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    if not form or not token:
        return False
    answer = browser.post(base_url + form.group(1), data={"csrf_token": token.group(1)}, timeout=30)
    return answer.status_code == 200 and 'id="referral-status"' in answer.text


@click.command("smart-demo")
@click.option("--port", default=8080, show_default=True, type=int, help="The service's port.")
@click.option(
    "--fixtures",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="Directory of fixture Bundles (default: the repository's fixtures/patients).",
)
@click.option("--once", is_flag=True, help="Run the demo's checks, print the results, exit.")
@click.pass_context
def smart_demo(ctx: click.Context, port: int, fixtures: Path | None, once: bool) -> None:
    """Another name for ``igg4-cds demo`` (the SMART app and its test EHR are part of it)."""
    from cds_service.commands.demo import demo

    click.echo("smart-demo is part of `igg4-cds demo` now: starting it.")
    args = ["--port", str(port)] + (["--fixtures", str(fixtures)] if fixtures else [])
    ctx.invoke(demo, **demo.make_context("demo", [*args, *(["--once"] if once else [])]).params)
