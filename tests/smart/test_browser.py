"""The whole launch in headless Chromium (Debian's, driven by Playwright): the EHR opens the app,
the clinician approves on the EHR's consent page, the app shows the patient. Screenshots of the
page for a candidate and a needs-review patient go to test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from cds_service.smart_testing import TestEhr
from tests.a11y import DESKTOP, PHONE, assert_accessible, assert_fits, new_context

from .conftest import CANDIDATE, NEEDS_REVIEW, ROOT, LiveApp

pytestmark = pytest.mark.browser

ARTIFACTS = ROOT / "test-artifacts"  # the same folder as tests/conftest.py artifacts


@pytest.fixture(params=[DESKTOP, PHONE], ids=["1366px", "390px"])
def page(browser: object, request: pytest.FixtureRequest) -> Iterator[object]:
    context = new_context(browser, request.param)  # CSP bypassed for axe-core only
    tab = context.new_page()
    tab.set_default_timeout(15000)
    yield tab
    context.close()


def _launch(page: object, app: LiveApp, ehr: TestEhr, patient: str) -> None:
    page.goto(ehr.launch_url(app.launch_url, patient))  # type: ignore[attr-defined]
    page.wait_for_selector("#approve")  # type: ignore[attr-defined]
    assert "/auth/authorize" in page.url  # type: ignore[attr-defined]
    page.click("#approve")  # type: ignore[attr-defined]
    page.wait_for_selector("table.criteria")  # type: ignore[attr-defined]
    assert page.url.startswith(f"{app.url}/smart/app/")  # type: ignore[attr-defined]


def test_candidate_page_in_chromium(page: object, app_server: LiveApp, ehr: TestEhr) -> None:
    _launch(page, app_server, ehr, CANDIDATE)
    p = page
    assert p.inner_text("#patient-name") == "Pieter Hallorann"  # type: ignore[attr-defined]
    assert p.locator(".verdict .badge").inner_text() == "candidate"  # type: ignore[attr-defined]
    assert p.locator("table.criteria tbody tr").count() == 18  # type: ignore[attr-defined]
    for mark in (
        ".mark-baseline",
        ".mark-nadir",
        ".mark-current",
        ".threshold-line",
        ".inclusion-line",
    ):
        assert p.locator(f"svg.igg4-chart.wide {mark}").count() == 1, mark  # type: ignore[attr-defined]
    assert_accessible(p, "the SMART app (candidate)")
    assert_fits(p, "the SMART app (candidate)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"smart-candidate-{p.viewport_size['width']}.png"  # type: ignore[attr-defined]
    p.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000


def test_needs_review_page_and_referral_in_chromium(
    page: object, app_server: LiveApp, ehr: TestEhr
) -> None:
    _launch(page, app_server, ehr, NEEDS_REVIEW)
    p = page
    assert p.locator(".verdict .badge").inner_text() == "needs-review"  # type: ignore[attr-defined]
    e11 = p.locator('#missing tr[data-criterion="E11"]').inner_text()  # type: ignore[attr-defined]
    assert "AST" in e11
    assert_accessible(p, "the SMART app (needs-review)")
    assert_fits(p, "the SMART app (needs-review)")
    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"smart-needs-review-{p.viewport_size['width']}.png"  # type: ignore[attr-defined]
    p.screenshot(path=str(shot), full_page=True)  # type: ignore[attr-defined]
    assert shot.stat().st_size > 10_000
    p.click("#refer")  # type: ignore[attr-defined]
    status = p.locator("#referral-status").inner_text()  # type: ignore[attr-defined]
    assert "written to the EHR" in status and "worklist" in status
    assert [t["for"]["reference"] for t in ehr.tasks.values()] == [f"Patient/{NEEDS_REVIEW}"]
    assert_accessible(p, "the SMART app after the referral")
    p.screenshot(path=str(ARTIFACTS / "smart-needs-review-referred.png"), full_page=True)  # type: ignore[attr-defined]


def test_denied_consent_in_chromium(page: object, app_server: LiveApp, ehr: TestEhr) -> None:
    page.goto(ehr.launch_url(app_server.launch_url, CANDIDATE))  # type: ignore[attr-defined]
    page.click("#deny")  # type: ignore[attr-defined]
    page.wait_for_selector(".smart-error")  # type: ignore[attr-defined]
    assert page.inner_text("h1") == "Access declined"  # type: ignore[attr-defined]
    assert_accessible(page, "the SMART app's error page")
    page.screenshot(path=str(ARTIFACTS / "smart-access-declined.png"))  # type: ignore[attr-defined]
