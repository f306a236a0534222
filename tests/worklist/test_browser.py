"""The recruiter's worklist in headless Chromium (Debian's, driven by Playwright), on the whole demo
stack over real HTTP: the fixture FHIR server, the test EHR, the CDS service with the worklist and
the SMART app on one database. Covers the list (default view, order, row contents), the patient
page (header, what is missing, evidence), the referral loop from the CDS card and from the SMART
app, a decline with its reason, the 390 px layout (no horizontal scroll), and axe-core on every
page (no critical or serious violation). Screenshots go to test-artifacts/."""

from __future__ import annotations

import csv
import io
import json
import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from cds_service.commands.demo import fhir_with_launches
from cds_service.eligibility import assess_bundle
from cds_service.smart_testing import TestEhr
from cds_service.smart_testing.demo import launch_url
from cds_service.worklist import store
from cds_service.worklist.db import session_factory
from cds_service.worklist.demo import demo_accounts, seed_demo
from tests.a11y import DESKTOP, PHONE, assert_accessible, assert_fits, new_context

from .conftest import FIXTURES, ROOT, make_app

pytestmark = pytest.mark.browser
ARTIFACTS = ROOT / "test-artifacts"
logging.getLogger("werkzeug").setLevel(logging.WARNING)


@dataclass
class Stack:
    base: str
    fhir: str
    ehr: TestEhr
    logins: dict[str, tuple[str, str]]
    app: Any

    def row_id(self, patient: str) -> int:
        with session_factory(self.app)() as s:
            row = store.find_patient_row(s, self.fhir, patient)
            assert row is not None, patient
            return row.id


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    db = tmp_path_factory.mktemp("browser") / "browser.db"
    with fhir_with_launches(FIXTURES, host="127.0.0.1", port=0, page_size=50, token=None) as (
        fhir,
        ehr,
    ):
        # Secure cookies stay on for the worklist: Chromium treats http://localhost as secure.
        app = make_app(
            f"sqlite:///{db}",
            PREFERRED_URL_SCHEME="http",
            FHIR_SERVER_ALLOWLIST=[fhir.base_url],
            IGG4_AS_OF="2026-11-24",
            SMART_COOKIE_SECURE=False,
        )
        # fx02 was needs-review on an earlier screen: the seed makes it "newly candidate"
        bundle = json.loads((FIXTURES / "02-candidate-mgdl-female-no-ri.json").read_text())
        earlier = assess_bundle(bundle, as_of=date(2026, 11, 1)).to_dict()
        earlier["status"] = "needs-review"
        with session_factory(app)() as s:
            store.record_assessment(
                s, fhir_server=fhir.base_url, assessment=earlier, source="screen"
            )
        seed_demo(app, FIXTURES, fhir_server=fhir.base_url)
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://localhost:{server.server_port}"
        ehr.redirect_uris.add(f"{base}/smart/callback")
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield Stack(base, fhir.base_url, ehr, demo_accounts(app), app)
        finally:
            server.shutdown()
            thread.join()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    width = page.viewport_size["width"]
    page.screenshot(path=str(ARTIFACTS / f"worklist-{name}-{width}.png"), full_page=True)


def _login(page: Any, stack: Stack, role: str = "recruiter") -> None:
    username, password = stack.logins[role]
    page.goto(f"{stack.base}/worklist/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("table.worklist")


@pytest.fixture
def desktop(browser: Any) -> Iterator[Any]:
    context = new_context(browser, DESKTOP, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []  # e.g. a Content-Security-Policy violation, a missing stylesheet
    page.on(
        "console",
        lambda m: (
            errors.append(m.text)
            if m.type == "error" and not m.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(  # the test EHR has no favicon; anything else missing is a bug
        "response",
        lambda r: (
            errors.append(f"{r.status} {r.url}")
            if r.status >= 400 and not r.url.endswith("/favicon.ico")
            else None
        ),
    )
    yield page
    context.close()
    assert errors == []


@pytest.fixture
def phone(browser: Any) -> Iterator[Any]:
    context = new_context(browser, PHONE, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _rows(page: Any) -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        "table.worklist tbody tr[data-patient]",
        """rows => rows.map(r => ({
            patient: r.dataset.patient,
            eligibility: r.querySelector('.badge[class*=elig-]').textContent.trim(),
            text: r.innerText,
            referred: r.querySelector('.referred') ? r.querySelector('.referred').dataset.referredVia : '',
            change: r.querySelector('.change') ? r.querySelector('.change').textContent.trim() : '',
        }))""",
    )


def _card_referral(stack: Stack, patient: str) -> None:
    """The clinician accepts the card's referral suggestion, through the CDS service's HTTP API."""
    hook = f"{stack.base}/cds-services/igg4rd-trial-screening"
    body = {
        "hook": "patient-view",
        "hookInstance": "0b7e3a52-4a5d-4d1e-9a4f-6f8c1d2e3f40",
        "context": {"userId": "Practitioner/dr-okafor", "patientId": patient},
        "fhirServer": stack.fhir,
    }
    (card,) = requests.post(hook, json=body, timeout=30).json()["cards"]
    feedback = {
        "feedback": [
            {
                "card": card["uuid"],
                "outcome": "accepted",
                "acceptedSuggestions": [{"id": card["suggestions"][0]["uuid"]}],
                "outcomeTimestamp": "2026-11-24T09:00:00Z",
            }
        ]
    }
    assert requests.post(f"{hook}/feedback", json=feedback, timeout=30).status_code == 200


def test_the_list_a_recruiter_works_from(desktop: Any, stack: Stack) -> None:
    page = desktop
    page.goto(f"{stack.base}/worklist/")
    assert "/worklist/login" in page.url
    assert_accessible(page, "the login page")
    _shot(page, "login")
    _login(page, stack)
    rows = _rows(page)
    # default view: candidates and needs-review patients only
    assert rows and {r["eligibility"] for r in rows} == {"candidate", "needs-review"}
    assert page.is_checked("input[name=eligibility][value=candidate]")
    assert not page.is_checked("input[name=eligibility][value=ineligible]")
    # order: newly candidate first, then the other candidates, then needs-review
    assert rows[0]["patient"] == "fx02" and rows[0]["change"] == "newly candidate"
    kinds = [r["eligibility"] for r in rows]
    assert kinds == sorted(kinds, key=lambda k: k != "candidate")
    # row contents: age and sex, MRN, phone or "no phone recorded", IgG4 with date and line, why
    fx01 = next(r for r in rows if r["patient"] == "fx01")["text"]
    for part in (
        "Pieter Hallorann",
        "52 y · male",
        "MRN 100037",
        "+1 555 0101",
        "1,300 mg/L",
        "on 2026-09-15",
        "re-elevation line 780",
        "Ready to call",
    ):
        assert part in fx01, (part, fx01)
    no_phone = next(r for r in rows if r["patient"] == "fx03")["text"]
    assert "no phone recorded" in no_phone
    # fx12 (needs-review) may sit past the first page as fixtures grow: look at one long page
    page.goto(f"{stack.base}/worklist/?per_page=100")
    fx12 = next(r for r in _rows(page) if r["patient"] == "fx12")["text"]
    assert "AST needed (none within 90 days)" in fx12
    assert "IgG4" in page.inner_text("thead") and "IGG4" not in page.inner_text("body")
    # a Condition the value sets do not hold, whose name reads like a malignancy: to confirm
    fx68 = next(r for r in _rows(page) if r["patient"] == "fx68")["text"]
    assert "A recorded condition may be a malignancy: to confirm" in fx68
    page.goto(f"{stack.base}/worklist/")
    # sorting: aria-sort on the header cell, and a first click on Patient sorts A to Z
    assert page.get_attribute("th[aria-sort]", "aria-sort") == "ascending"
    assert (page.locator("th[aria-sort] a").text_content() or "").startswith("Eligibility")
    page.click("thead th >> text=Patient")
    page.wait_for_url("**sort=name**")
    names = [r["text"].split("\n")[0] for r in _rows(page)]
    assert names == sorted(names) and "order=asc" in page.url
    page.goto(f"{stack.base}/worklist/")
    assert_accessible(page, "the list")
    _shot(page, "list")
    page.goto(f"{stack.base}/worklist/?eligibility=ineligible")
    ineligible = _rows(page)
    assert ineligible and {r["eligibility"] for r in ineligible} == {"ineligible"}
    assert "Ruled out by" in ineligible[0]["text"]
    assert_accessible(page, "the list of ineligible patients")
    # the skip link leads to the content
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"


def test_the_patient_page_header_and_evidence(desktop: Any, stack: Stack) -> None:
    page = desktop
    _login(page, stack)
    page.goto(f"{stack.base}/worklist/patients/{stack.row_id('fx12')}")
    facts = dict(
        zip(
            page.locator(".facts dt").all_inner_texts(),
            page.locator(".facts dd").all_inner_texts(),
            strict=True,
        )
    )
    assert {k.upper(): v for k, v in facts.items()} == {
        "AGE": "47 years",
        "SEX": "male",
        "DATE OF BIRTH": "1979-08-08",
        "MRN": "100444",
        "PHONE": "+1 555 0112",
        "TREATING CLINICIAN": "not recorded",
    }
    assert page.inner_text("h1") == "Dmitri Ivanov"
    assert "needs-review" in page.inner_text(".verdict-line")
    # what is missing: the real gap apart from the visit confirmations
    gaps = page.locator("#missing .gaps li").all_inner_texts()
    assert len(gaps) == 1 and gaps[0].startswith("AST needed (none within 90 days)")
    visit = page.locator("#missing .visit li").all_inner_texts()
    assert [v.rsplit("(", 1)[1] for v in visit] == ["I6)", "I7)", "E6)"]
    # evidence says what it is; the FHIR id on hover
    current = page.locator('tr[data-criterion="I5"] .ev[data-ref="Observation/fx12-igg4-8"]')
    assert current.inner_text() == "IgG4 1,300 mg/L (2026-09-15)"
    assert current.get_attribute("title") == "Observation/fx12-igg4-8"
    condition = page.locator('tr[data-criterion="I1"] .ev').first
    assert condition.inner_text().startswith("D89.84 IgG4-related disease")
    assert condition.get_attribute("title") == "Condition/fx12-igg4rd-1"
    assert page.locator("table.criteria tbody tr").count() == 18
    assert_accessible(page, "the patient page")
    _shot(page, "patient")
    # the chart: nice axes, no overlapping line labels
    labels = page.locator("svg.igg4-chart.wide text.axis").all_text_contents()
    assert "0" in labels and "1,000" in labels and "0.0" not in labels


def test_referrals_from_the_card_and_the_smart_app_reach_the_list(
    desktop: Any, stack: Stack
) -> None:
    page = desktop
    _card_referral(stack, "fx03")  # a candidate, referred through the card's suggestion
    # the clinician's SMART app, launched from the test EHR, refers a needs-review patient
    page.goto(launch_url(f"{stack.base}/smart/launch", stack.ehr, "fx13", iss=stack.fhir))
    page.click("#approve")
    page.wait_for_selector("table.criteria")
    assert page.locator(".verdict .badge").inner_text() == "needs-review"
    assert_accessible(page, "the SMART app")
    page.click("#refer")
    assert "on the study team's worklist" in page.inner_text("#referral-status")
    _login(page, stack)
    rows = _rows(page)
    referred = {r["patient"]: r["referred"] for r in rows if r["referred"]}
    assert referred == {"fx03": "cds-card", "fx13": "smart-app"}
    # referred by a clinician: right after the newly candidate patient, before the others
    assert rows[0]["patient"] == "fx02" and {r["patient"] for r in rows[1:3]} == {"fx03", "fx13"}
    card_row = next(r for r in rows if r["patient"] == "fx03")["text"]
    assert "Referred by Practitioner/dr-okafor (CDS card)" in card_row
    _shot(page, "list-referred")
    page.goto(f"{stack.base}/worklist/patients/{stack.row_id('fx13')}")
    # who: the clinician the EHR signed in (OpenID Connect id_token: name, else fhirUser)
    assert "Referred by Dr Test Clinician (SMART app)" in page.inner_text(".referral-line")
    trail = page.locator("table.audit").inner_text()
    assert "Referred to the study team by Dr Test Clinician via the SMART app" in trail


def test_decline_with_a_reason(desktop: Any, stack: Stack) -> None:
    page = desktop
    _login(page, stack)
    row = stack.row_id("fx07")
    page.goto(f"{stack.base}/worklist/patients/{row}")
    page.click("#decline summary")
    page.check("#decline-form input[name=reason][value=travel]")
    page.fill("#decline-note", "Lives 300 km away; would join a trial nearer home.")
    page.click("#decline-form button[type=submit]")
    page.wait_for_selector("text=State changed.")
    assert "Declined" in page.inner_text(".patient-head")
    assert "Too far to travel" in page.inner_text(".decision-line")
    trail = page.locator("table.audit").inner_text()
    assert "Declined: Too far to travel — “Lives 300 km away" in trail
    # page views are recorded, in their own view
    assert "Opened the patient" not in trail
    page.click("#show-views")
    assert "Opened the patient" in page.locator("table.audit").inner_text()
    assert_accessible(page, "the page views")
    # the decision and its reason are in the exports
    page.goto(f"{stack.base}/worklist/?state=declined")
    with page.expect_download() as info:
        page.click("#export-csv")
    text = Path(info.value.path()).read_text(encoding="utf-8")
    (exported,) = list(csv.DictReader(io.StringIO(text)))
    assert (exported["state"], exported["decisionReason"]) == ("declined", "travel")
    assert exported["decisionNote"].startswith("Lives 300 km")


def test_phones_390_px(phone: Any, stack: Stack) -> None:
    page = phone
    _login(page, stack)
    assert_fits(page, "the list")
    display = page.eval_on_selector("table.worklist tbody tr", "r => getComputedStyle(r).display")
    assert display == "flex"  # rows are cards
    assert (
        page.eval_on_selector("table.worklist thead", "t => getComputedStyle(t).display") == "none"
    )
    # the card labels keep their case: "Current IgG4", never "CURRENT IGG4"
    label = page.eval_on_selector(
        "table.worklist td[data-label]",
        "td => getComputedStyle(td, '::before').textTransform",
    )
    assert label == "none"
    assert_accessible(page, "the list at 390 px")
    _shot(page, "list")
    page.goto(f"{stack.base}/worklist/patients/{stack.row_id('fx12')}")
    assert_fits(page, "the patient page")
    assert not page.is_visible("svg.igg4-chart.wide") and page.is_visible("svg.igg4-chart.compact")
    smallest = page.eval_on_selector_all(
        "svg.igg4-chart.compact text",
        "ts => Math.min(...ts.map(t => t.getBoundingClientRect().height).filter(h => h > 0))",
    )
    assert smallest >= 11  # the chart's text stays readable (CSS pixels)
    assert_accessible(page, "the patient page at 390 px")
    _shot(page, "patient")
    page.goto(launch_url(f"{stack.base}/smart/launch", stack.ehr, "fx01", iss=stack.fhir))
    page.click("#approve")
    page.wait_for_selector("table.criteria")
    assert_fits(page, "the SMART app")
    assert page.is_visible("svg.igg4-chart.compact")
    assert_accessible(page, "the SMART app at 390 px")
    _shot(page, "smart")


def test_a_recruiters_day(desktop: Any, stack: Stack) -> None:
    """Filter, open a patient, change its state, add a note, export CSV."""
    page = desktop
    _login(page, stack)
    page.click("details.filters-box > summary")
    page.uncheck("input[name=eligibility][value=needs-review]")
    page.click("form#filters button[type=submit]")
    page.wait_for_url("**eligibility=candidate**")
    assert {r["eligibility"] for r in _rows(page)} == {"candidate"}
    page.click('tr[data-patient="fx09"] a.patient-link')
    page.wait_for_selector("svg.igg4-chart")
    page.select_option("#state-select", "in-review")
    page.click("#state-form button[type=submit]")
    page.wait_for_selector("text=State changed.")
    assert "In review" in page.locator(".patient-head").inner_text()
    page.fill("#note-text", "Phoned the patient; call back Thursday.")
    page.click(".note-form button[type=submit]")
    page.wait_for_selector("text=Note added.")
    assert "call back Thursday" in page.locator("ol.notes").inner_text()
    trail = page.locator("table.audit").inner_text()
    assert "State New → In review" in trail and "Added a note" in trail
    page.goto(f"{stack.base}/worklist/?eligibility=candidate")
    with page.expect_download() as info:
        page.click("#export-csv")
    rows = list(csv.DictReader(io.StringIO(Path(info.value.path()).read_text(encoding="utf-8"))))
    assert rows and {r["eligibility"] for r in rows} == {"candidate"}
    assert "in-review" in {r["state"] for r in rows} and all(r["mrn"] for r in rows)


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366px", "390px"])
def test_every_other_page_is_accessible_and_fits(
    browser: Any, stack: Stack, viewport: dict[str, int]
) -> None:
    """The pages the tests above do not open: an upload's assessment, the users page, an error."""
    context = new_context(browser, viewport)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        _login(page, stack, "investigator")
        page.goto(f"{stack.base}/worklist/assess")
        assert_accessible(page, "the upload page")
        page.set_input_files("input[name=bundle]", str(FIXTURES / "12-review-ast-91-days-old.json"))
        page.click("form.upload button[type=submit]")
        page.wait_for_selector("table.criteria")
        assert "AST" in page.inner_text('tr[data-criterion="E11"]')
        assert_accessible(page, "an uploaded Bundle's assessment")
        assert_fits(page, "an uploaded Bundle's assessment")
        page.goto(f"{stack.base}/worklist/patients/999999")
        assert_accessible(page, "the error page")
        context.clear_cookies()  # log in again, as the admin
        _login(page, stack, "admin")
        page.goto(f"{stack.base}/worklist/admin/users")
        assert page.locator("input[name=email]").count() >= 2
        assert_accessible(page, "the users page")
        assert_fits(page, "the users page")
    finally:
        context.close()
