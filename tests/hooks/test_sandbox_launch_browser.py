"""The card's links as the CDS Hooks sandbox uses them, in headless Chromium (no sandbox checkout).

A page on another origin (another port on loopback) does in the browser what the sandbox's
``launch-context-retrieval.js`` and ``card-list.jsx`` do: it registers a SMART launch for the patient
at ``{fhirServer}/_services/smart/Launch`` (a cross-origin JSON ``POST``, so with a CORS preflight),
appends ``launch`` and ``iss`` (unencoded) to the link's URL and, only when the clinician clicks,
opens it with ``window.open(url, "_blank")``. The card stays on the EHR's page; the new tab goes
through the test EHR's consent page to the app on that patient. The same launch framed by a
same-site page (an EHR on loopback that embeds the app) works too, with the default
``SameSite=Lax`` cookie that carries the launch's ``state``; framed by a page of another site, it
works with ``SMART_COOKIE_SAMESITE=None`` (the cookie then ``Partitioned``, which browsers that
block third-party cookies keep).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import requests
from flask import Flask

from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.loopback import ThreadedHttpServer
from cds_service.smart_testing import TestEhr

from .conftest import AS_OF, FIXTURES, HOOK_PATH, LiveServer, hook_body

pytestmark = pytest.mark.browser

# The sandbox's steps, in the page's own script (the values come in the query string).
EHR_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sandbox-like EHR</title></head>
<body><main>
<h1 id="card">Card for <span id="patient"></span></h1>
<button id="smart" disabled>Open the screening app</button>
<button id="worklist">Open in the recruiter worklist</button>
<p id="error"></p>
<iframe id="frame" title="app" style="width: 1000px; height: 700px"></iframe>
</main>
<script>
const q = new URLSearchParams(location.search);
document.getElementById("patient").textContent = q.get("patient");
let remapped = null;
fetch(q.get("fhir") + "/_services/smart/Launch", {
  method: "POST",
  headers: {"Accept": "application/json", "Content-Type": "application/json"},
  body: JSON.stringify({
    launchUrl: q.get("url"),
    parameters: {
      patient: q.get("patient"),
      smart_messaging_origin: window.origin,
      appContext: q.get("appContext"),
    },
  }),
}).then((r) => r.json()).then((data) => {
  const sep = q.get("url").indexOf("?") < 0 ? "?" : "&";
  remapped = q.get("url") + sep + "launch=" + data.launch_id + "&iss=" + q.get("fhir");
  document.getElementById("smart").disabled = false;
}).catch((e) => { document.getElementById("error").textContent = String(e); });
document.getElementById("smart").addEventListener("click", (e) => {
  e.preventDefault();
  if (q.get("mode") === "frame") {
    document.getElementById("frame").src = remapped;
  } else {
    window.open(remapped, "_blank");
  }
});
document.getElementById("worklist").addEventListener("click", (e) => {
  e.preventDefault();
  window.open(q.get("worklist"), "_blank");
});
</script></body></html>
"""


class _EhrPage(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return

    def do_GET(self) -> None:
        body = EHR_PAGE.encode() if self.path.startswith("/?") else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@dataclass
class Stack:
    fhir: FixtureFhirServer
    ehr: TestEhr
    service: LiveServer
    page_base: str  # the EHR page's origin: another port on loopback


def _service(db: Path, fhir_base: str, **cookies: Any) -> Flask:
    """The CDS service with its SMART app and worklist, trusting only ``fhir_base``."""
    return create_app(
        {
            "DATABASE_URL": f"sqlite:///{db}",
            "JWT_VERIFY": False,
            "FHIR_SERVER_ALLOWLIST": [fhir_base],
            "IGG4_AS_OF": AS_OF,
            "SECRET_KEY": "sandbox-launch-tests-" + "k" * 32,
            **cookies,
        }
    )


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """As ``igg4-cds demo --sandbox`` wires it: the open fixture FHIR server whose launches the
    test EHR authorizes, the service with the SMART app, and the EHR's page on another port."""
    tmp: Path = tmp_path_factory.mktemp("sandbox-launch")
    upstream = FixtureFhirServer.from_directory(FIXTURES)
    ehr = TestEhr(upstream)
    fhir = FixtureFhirServer.from_directory(FIXTURES, launch_authority=ehr)
    page = ThreadedHttpServer("127.0.0.1", 0, "sandbox-like-page")
    with upstream, ehr, fhir:
        ehr.audiences.add(fhir.base_url)
        app = _service(
            tmp / "launch.db",
            fhir.base_url,
            SMART_COOKIE_SECURE=False,  # plain http on loopback, as the demo
            WORKLIST_SECURE_COOKIES=False,
        )
        with LiveServer(app) as service:
            ehr.redirect_uris.add(f"{service.url}/smart/callback")
            app.config["SMART_LAUNCH_URL"] = f"{service.url}/smart/launch"
            app.config["WORKLIST_BASE_URL"] = service.url
            page.start(_EhrPage)
            try:
                yield Stack(fhir, ehr, service, f"http://127.0.0.1:{page.server_port}")
            finally:
                page.stop()


def _open_card(browser: Any, stack: Stack, patient: str, mode: str) -> tuple[Any, Any, str]:
    """The card from the hook, shown on the EHR's page: (context, page, the page's URL)."""
    card = requests.post(
        f"{stack.service.url}{HOOK_PATH}",
        json=hook_body(patient, fhirServer=stack.fhir.base_url),
        timeout=30,
    ).json()["cards"][0]
    links = {link["type"]: link for link in card["links"]}
    smart, worklist = links["smart"], card["links"][0]
    assert "autolaunchable" not in smart  # the app opens on the clinician's click only
    query = {
        "fhir": stack.fhir.base_url,
        "patient": patient,
        "url": smart["url"],
        "appContext": smart["appContext"],
        "worklist": worklist["url"],
        "mode": mode,
    }
    url = f"{stack.page_base}/?{urlencode(query)}"
    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(15000)
    page.goto(url)
    page.wait_for_selector("#smart:enabled")  # the launch is registered
    assert page.inner_text("#error") == ""
    registered = stack.fhir.launches[-1]
    assert registered["launchUrl"] == smart["url"]
    assert registered["parameters"]["patient"] == patient
    assert registered["parameters"]["appContext"] == smart["appContext"]
    return context, page, url


@pytest.mark.parametrize(("patient", "status"), [("fx01", "candidate"), ("fx12", "needs-review")])
def test_the_smart_link_opens_the_app_in_a_new_tab_and_the_card_stays(
    browser: Any, stack: Stack, patient: str, status: str
) -> None:
    context, page, url = _open_card(browser, stack, patient, "tab")
    try:
        page.wait_for_timeout(500)
        assert page.url == url  # nothing left the EHR's page before the click
        assert len(context.pages) == 1
        with context.expect_page() as opened:
            page.click("#smart")
        app = opened.value
        app.set_default_timeout(15000)
        app.wait_for_selector("#approve")
        assert "/auth/authorize" in app.url
        assert f"Patient in context: {patient}" in app.inner_text("body")
        app.click("#approve")
        app.wait_for_selector(f".badge.elig-{status}")
        assert app.url.startswith(f"{stack.service.url}/smart/app/")
        assert f"Patient/{patient}" in app.inner_text("body")
        assert page.url == url and page.is_visible("#card")  # the card is still there
        # the worklist link opens the patient's lookup (behind the recruiter's login)
        with context.expect_page() as opened_list:
            page.click("#worklist")
        listing = opened_list.value
        listing.wait_for_load_state()
        assert listing.url.startswith(f"{stack.service.url}/worklist/login?next=")
        assert "patients/lookup" in listing.url and patient in listing.url
    finally:
        context.close()


def test_the_smart_app_works_framed_by_a_same_site_ehr_page(browser: Any, stack: Stack) -> None:
    context, page, url = _open_card(browser, stack, "fx01", "frame")
    try:
        page.click("#smart")
        frame = page.frame_locator("#frame")
        frame.locator("#approve").click()
        frame.locator(".badge.elig-candidate").wait_for()
        assert page.url == url  # the app ran in the frame; the EHR's page stayed
        assert len(context.pages) == 1
    finally:
        context.close()


def test_the_smart_app_works_framed_by_another_site_with_samesite_none(
    browser: Any, stack: Stack, tmp_path: Path
) -> None:
    """An EHR on another site (``localhost``, the app on ``127.0.0.1``) that frames the app: with
    ``SMART_COOKIE_SAMESITE=None`` the launch's cookie is ``Partitioned``, so this Chromium, which
    blocks third-party cookies, keeps it and the sign-in completes in the frame."""
    app = _service(
        tmp_path / "framed.db",
        stack.fhir.base_url,
        SMART_COOKIE_SECURE=True,  # loopback http counts as a secure context
        SMART_COOKIE_SAMESITE="None",
    )
    with LiveServer(app) as service:
        stack.ehr.redirect_uris.add(f"{service.url}/smart/callback")
        app.config["SMART_LAUNCH_URL"] = f"{service.url}/smart/launch"
        other_site = Stack(
            stack.fhir, stack.ehr, service, stack.page_base.replace("127.0.0.1", "localhost")
        )
        context, page, url = _open_card(browser, other_site, "fx01", "frame")
        try:
            with page.expect_response(lambda r: "/smart/launch" in r.url) as launched:
                page.click("#smart")
            cookie = launched.value.header_value("set-cookie") or ""
            assert "SameSite=None" in cookie and "Partitioned" in cookie and "Secure" in cookie
            frame = page.frame_locator("#frame")
            frame.locator("#approve").click()
            frame.locator(".badge.elig-candidate").wait_for()
            assert page.url == url
        finally:
            context.close()
