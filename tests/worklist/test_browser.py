"""The real pages in headless Chromium (Debian's, driven by Playwright): log in, filter, open a
patient, change its state, add a note, export CSV; screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.serving import make_server

from cds_service.worklist.demo import seed_demo

from .conftest import FIXTURES, ROOT, make_app

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"  # the same folder as tests/conftest.py artifacts


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    if not list(FIXTURES.glob("*.expected.json")):
        pytest.skip("no fixtures to fill the worklist with")
    db = tmp_path_factory.mktemp("browser") / "browser.db"
    # Secure cookies stay on: Chromium treats http://localhost as a secure context.
    app = make_app(f"sqlite:///{db}", PREFERRED_URL_SCHEME="http")
    username, password = seed_demo(app, FIXTURES)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://localhost:{server.server_port}", username, password
    finally:
        server.shutdown()
        thread.join()


def test_recruiter_day_in_the_browser(browser: Any, served: tuple[str, str, str]) -> None:
    base, username, password = served
    ARTIFACTS.mkdir(exist_ok=True)
    context = browser.new_context(viewport={"width": 1280, "height": 900}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    console_errors: list[str] = []  # e.g. a Content-Security-Policy violation
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)

    page.goto(f"{base}/worklist/")
    assert "/worklist/login" in page.url
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_selector("table.worklist")
    assert page.locator("table.worklist tbody tr").count() > 1
    page.screenshot(path=str(ARTIFACTS / "worklist-list.png"), full_page=True)

    # filter: candidates only
    page.check("input[name=eligibility][value=candidate]")
    page.click("form#filters button[type=submit]")
    page.wait_for_url("**eligibility=candidate**")
    badges = page.locator("table.worklist tbody .badge[class*=elig-]").all_inner_texts()
    assert badges and set(badges) == {"candidate"}

    # open the first patient
    page.locator("a.patient-link").first.click()
    page.wait_for_selector("svg.igg4-chart")
    assert page.locator("svg.igg4-chart circle.result").count() >= 1
    assert page.locator("table.criteria tbody tr").count() == 18

    # change its state
    page.select_option("#state-select", "in-review")
    page.click("#state-form button[type=submit]")
    page.wait_for_selector("text=State changed.")
    assert "In review" in page.locator(".patient-head").inner_text()

    # add a note
    page.fill("#note-text", "Phoned the patient; call back Thursday.")
    page.click(".note-form button[type=submit]")
    page.wait_for_selector("text=Note added.")
    assert "call back Thursday" in page.locator("ol.notes").inner_text()
    audit = page.locator("table.audit").inner_text()
    assert "state" in audit and "note" in audit and "view" in audit
    page.screenshot(path=str(ARTIFACTS / "worklist-patient.png"), full_page=True)

    # export the list as CSV
    page.goto(f"{base}/worklist/?eligibility=candidate")
    with page.expect_download() as info:
        page.click("#export-csv")
    download = info.value
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows and {r["eligibility"] for r in rows} == {"candidate"}
    assert "in-review" in {r["state"] for r in rows}
    context.close()
    assert console_errors == []
    assert (ARTIFACTS / "worklist-list.png").stat().st_size > 10_000
    assert (ARTIFACTS / "worklist-patient.png").stat().st_size > 10_000
