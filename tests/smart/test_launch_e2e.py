"""The whole launch on loopback with real HTTP and redirects: the app, the test EHR's
authorization server and its scope-enforcing FHIR gateway over the fixture FHIR server."""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import urlencode

import requests

from cds_service.smart_testing import TestEhr
from cds_service.smart_testing.pkce import s256

from .conftest import (
    CANDIDATE,
    NEEDS_REVIEW,
    LiveApp,
    begin,
    begin_at,
    launch,
    query_of,
)


def error_kind(response: requests.Response) -> str | None:
    match = re.search(r'data-error="([^"]+)"', response.text)
    return match.group(1) if match else None


def criterion_rows(html: str) -> dict[str, str]:
    """``{"I1": "met", ...}`` from the criteria table."""
    rows = re.findall(
        r'<tr class="row-([a-z-]+) type-[a-z]+"[^>]*>\s*<th scope="row"><abbr[^>]*>(\w+)</abbr>',
        html,
    )
    return {cid: status for status, cid in rows}


def test_ehr_launch_shows_a_candidate_with_pkce_state_and_v2_scopes(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    authorize = query_of(flow.authorize.history[-1].headers["Location"])
    assert authorize["response_type"] == "code"
    assert authorize["client_id"] == "igg4-cds"
    assert authorize["redirect_uri"] == f"{app_server.url}/smart/callback"
    assert authorize["aud"] == ehr.fhir_base
    assert authorize["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", authorize["code_challenge"])
    assert len(authorize["state"]) >= 16 and authorize["launch"]
    assert authorize["scope"].split() == [
        "launch",
        "openid",
        "fhirUser",
        "patient/*.rs",
        "patient/Task.c",
    ]

    page = flow.decide()
    assert page.status_code == 200
    assert page.url.startswith(f"{app_server.url}/smart/app/")
    assert "Pieter Hallorann" in page.text
    assert 'class="badge elig-candidate"' in page.text
    rows = criterion_rows(page.text)
    assert len(rows) == 18 and rows["I5"] == "met" and rows["E11"] == "not-met"
    # the chart: baseline, nadir, current, the re-elevation line and the 1400 mg/L line
    for mark in ("mark-baseline", "mark-nadir", "mark-current", "threshold-line", "inclusion-line"):
        assert mark in page.text
    assert [e["ok"] for e in ehr.events if e["kind"] == "pkce"] == [True]
    fhir = ehr.fhir_events()
    assert fhir and all(e["status"] == 200 for e in fhir)
    assert page.headers["Cache-Control"] == "no-store"


def test_needs_review_patient_lists_what_is_missing(app_server: LiveApp, ehr: TestEhr) -> None:
    page = launch(app_server, ehr, NEEDS_REVIEW)
    assert page.status_code == 200
    assert 'class="badge elig-needs-review"' in page.text
    assert criterion_rows(page.text)["E11"] == "unknown"
    missing = re.search(r'<tr data-criterion="E11">(.*?)</tr>', page.text, re.S)
    assert missing and "AST" in missing.group(1) and "within 90 days" in missing.group(1)
    assert 'data-criterion="I6"' in page.text  # confirmed at the visit: listed too


def test_v1_scopes_when_the_server_does_not_offer_v2(app_server: LiveApp, ehr: TestEhr) -> None:
    ehr.capabilities = [c for c in ehr.capabilities if c != "permission-v2"]
    flow = begin(app_server, ehr, CANDIDATE)
    assert flow.form["scopes"] == [
        "launch",
        "openid",
        "fhirUser",
        "patient/*.read",
        "patient/Task.write",
    ]
    page = flow.decide()
    assert page.status_code == 200 and "elig-candidate" in page.text


def test_capability_statement_fallback_discovery(app_server: LiveApp, ehr: TestEhr) -> None:
    ehr.discovery = "capability"  # a SMART 1.0 server: no .well-known/smart-configuration
    flow = begin(app_server, ehr, NEEDS_REVIEW)
    assert "patient/*.read" in flow.form["scopes"]  # nothing says v2: v1 scopes
    page = flow.decide()
    assert page.status_code == 200 and "elig-needs-review" in page.text


def test_standalone_launch_lets_the_clinician_pick_the_patient(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    start = requests.get(f"{app_server.url}/smart/")
    assert ehr.fhir_base in start.text
    flow = begin(app_server, ehr, None)
    assert "launch/patient" in flow.form["scopes"] and "launch" not in flow.form["scopes"]
    assert 'id="patient"' in flow.authorize.text
    page = flow.decide(patient=NEEDS_REVIEW)
    assert page.status_code == 200
    assert f"Patient/{NEEDS_REVIEW}" in page.text and "elig-needs-review" in page.text


def test_wrong_state_is_refused_and_no_code_is_exchanged(app_server: LiveApp, ehr: TestEhr) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    redirect = flow.decide(follow=False)
    back = query_of(redirect.headers["Location"])
    forged = {"code": back["code"], "state": "not-the-state-we-sent"}
    refused = flow.browser.get(f"{app_server.url}/smart/callback?{urlencode(forged)}")
    assert refused.status_code == 400 and error_kind(refused) == "state-mismatch"
    assert "Sign-in refused" in refused.text and "Traceback" not in refused.text
    assert not [e for e in ehr.events if e["kind"] == "token"]  # the code was never sent
    # the genuine redirect still works, and only once
    page = flow.browser.get(redirect.headers["Location"])
    assert page.status_code == 200 and "elig-candidate" in page.text
    replay = flow.browser.get(redirect.headers["Location"])
    assert replay.status_code == 400 and error_kind(replay) == "state-mismatch"


def test_callback_in_a_browser_without_the_launch_is_refused(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    redirect = flow.decide(follow=False)
    other = requests.get(redirect.headers["Location"])  # no session cookie (another browser)
    assert other.status_code == 400 and error_kind(other) == "no-session"


def test_pkce_the_code_is_useless_without_the_apps_verifier(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    challenge = query_of(flow.authorize.history[-1].headers["Location"])["code_challenge"]
    redirect = flow.decide(follow=False)
    code = query_of(redirect.headers["Location"])["code"]
    stolen = requests.post(
        f"{ehr.base_url}/auth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": "igg4-cds",
            "redirect_uri": f"{app_server.url}/smart/callback",
            "code_verifier": "x" * 64,  # an attacker without the verifier
        },
    )
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert s256("x" * 64) != challenge
    # the code is spent: the app's own exchange now fails, and ends on a clear page
    page = flow.browser.get(redirect.headers["Location"])
    assert page.status_code == 502 and error_kind(page) == "token-refused"


def test_iss_off_the_allow_list_is_refused_without_contacting_it(
    app_server: LiveApp, ehr: TestEhr, fhir_upstream: object
) -> None:
    served = fhir_upstream.requests_served  # type: ignore[attr-defined]
    rogue = fhir_upstream.base_url  # type: ignore[attr-defined]
    page = requests.get(app_server.launch_url, params={"iss": rogue, "launch": "x"})
    assert page.status_code == 400 and error_kind(page) == "iss-not-allowed"
    assert fhir_upstream.requests_served == served  # type: ignore[attr-defined]
    lookalike = requests.get(app_server.launch_url, params={"iss": ehr.fhir_base + "/../evil"})
    assert lookalike.status_code == 400 and error_kind(lookalike) == "iss-not-allowed"
    query = requests.get(app_server.launch_url, params={"iss": ehr.fhir_base + "?x=1"})
    assert query.status_code == 400 and error_kind(query) == "iss-not-allowed"
    missing = requests.get(app_server.launch_url)
    assert missing.status_code == 400 and error_kind(missing) == "no-iss"


def test_denied_consent_ends_on_a_clear_page(app_server: LiveApp, ehr: TestEhr) -> None:
    page = launch(app_server, ehr, CANDIDATE, decision="deny")
    assert page.status_code == 403 and error_kind(page) == "access-denied"
    assert "Access declined" in page.text
    assert not [e for e in ehr.events if e["kind"] == "token"]


def test_session_ends_with_the_tokens_expiry(app_server: LiveApp, ehr: TestEhr) -> None:
    ehr.token_lifetime_s = 120
    page = launch(app_server, ehr, CANDIDATE)
    assert page.status_code == 200 and "session ends" in page.text
    cookie = page.history[-1].cookies.get("igg4_smart") if page.history else None
    assert cookie is None or "." in cookie
    app_server.state.clock_offset_s = 119.0
    assert requests.Session().get(page.url).status_code == 401  # no cookie: never served
    still = launch_again_same_browser(page)
    assert still.status_code == 200
    app_server.state.clock_offset_s = 121.0  # the token has expired: so has the session
    ended = launch_again_same_browser(page)
    assert ended.status_code == 401 and error_kind(ended) == "session-ended"
    assert "Your session has ended" in ended.text


def launch_again_same_browser(page: requests.Response) -> requests.Response:
    session = requests.Session()
    session.cookies.update(page.cookies)
    for r in page.history:
        session.cookies.update(r.cookies)
    return session.get(page.url)


def test_a_fhir_server_that_refuses_the_token_ends_on_a_clear_page(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    page = flow.decide()
    assert page.status_code == 200
    ehr.expire_tokens()  # revoked or expired at the EHR
    again = flow.browser.get(page.url)
    assert again.status_code == 401 and error_kind(again) == "fhir-refused"
    assert "The EHR refused access" in again.text


def _types_except(*excluded: str) -> list[str]:
    types = [
        "Patient",
        "Observation",
        "Condition",
        "MedicationRequest",
        "MedicationStatement",
        "Procedure",
        "ResearchSubject",
        "Medication",
    ]
    return [f"patient/{t}.rs" for t in types if t not in excluded]


def test_narrowed_scopes_read_nothing_more_and_show_the_engines_unknowns(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    ehr.grant_filter = lambda scopes: ["launch", *_types_except("Condition", "ResearchSubject")]
    page = launch(app_server, ehr, CANDIDATE)
    assert page.status_code == 200
    fhir = ehr.fhir_events()
    asked = {e["type"] for e in fhir}
    assert "Condition" not in asked and "ResearchSubject" not in asked
    assert all(e["status"] == 200 for e in fhir)  # nothing was asked outside the scopes
    rows = criterion_rows(page.text)
    # "none recorded" is no evidence when Conditions could not be read
    for cid in ("I1", "I4", "E2", "E4", "E5", "E7", "E8", "E9"):
        assert rows[cid] == "unknown", cid
    assert rows["I3"] == "met" and rows["E11"] == "not-met"  # Observations were readable
    assert "elig-needs-review" in page.text
    assert "Data this app could not read" in page.text
    assert "Not readable: Condition: not within the access granted to this app" in page.text
    assert "Not readable: ResearchSubject" in page.text


def test_granular_v2_scope_reads_only_what_it_allows(app_server: LiveApp, ehr: TestEhr) -> None:
    lab = "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory"
    ehr.grant_filter = lambda scopes: ["launch", lab, *_types_except("Observation")]
    page = launch(app_server, ehr, CANDIDATE)
    assert page.status_code == 200
    assert all(e["status"] == 200 for e in ehr.fhir_events())
    assert "only Observation with category=" in page.text
    assert criterion_rows(page.text)["E11"] in ("unknown", "met")  # never "not-met" on part


def test_without_patient_read_scope_the_app_says_so(app_server: LiveApp, ehr: TestEhr) -> None:
    ehr.grant_filter = lambda scopes: ["launch", "patient/Observation.rs"]
    page = launch(app_server, ehr, CANDIDATE)
    assert page.status_code == 403 and error_kind(page) == "no-patient-scope"
    assert not ehr.fhir_events()


def referrals_on_worklist(live: LiveApp, server: str, patient: str) -> list[str]:
    from cds_service.worklist import store
    from cds_service.worklist.db import session_factory

    with session_factory(live.app)() as db:
        row = store.find_patient_row(db, server, patient)
        if row is None:
            return []
        assert row.eligibility == "needs-review"
        return [e.action for e in store.audit_of(db, row.id)]


def test_referral_writes_a_task_and_the_worklist_entry(app_server: LiveApp, ehr: TestEhr) -> None:
    before = referrals_on_worklist(app_server, ehr.fhir_base, NEEDS_REVIEW).count("referred")
    flow = begin(app_server, ehr, NEEDS_REVIEW)
    page = flow.decide()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    refer_url = page.url + "/refer"
    done = flow.browser.post(refer_url, data={"csrf_token": csrf.group(1)})
    assert done.status_code == 200
    assert (
        "on the study team&#39;s worklist" in done.text
        or "on the study team's worklist" in done.text
    )
    assert "Task <code>Task/task-1</code> written to the EHR" in done.text
    assert list(ehr.tasks) == ["task-1"]
    task = ehr.tasks["task-1"]
    assert task["for"] == {"reference": f"Patient/{NEEDS_REVIEW}"}
    assert task["status"] == "requested" and task["intent"] == "order"
    again = flow.browser.post(refer_url, data={"csrf_token": csrf.group(1)})
    assert again.status_code == 200 and list(ehr.tasks) == ["task-1"]  # conditional create

    actions = referrals_on_worklist(app_server, ehr.fhir_base, NEEDS_REVIEW)
    assert actions.count("referred") == before + 2 and "listed" in actions


def test_referral_without_task_scope_updates_only_the_worklist(
    app_server: LiveApp, ehr: TestEhr
) -> None:
    ehr.grant_filter = lambda scopes: [s for s in scopes if "Task" not in s]
    flow = begin(app_server, ehr, CANDIDATE)
    page = flow.decide()
    assert "this app may not write Tasks to the EHR" in page.text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    done = flow.browser.post(page.url + "/refer", data={"csrf_token": csrf.group(1)})
    assert done.status_code == 200 and "no Task written to the EHR" in done.text
    assert not ehr.tasks
    assert not [e for e in ehr.fhir_events() if e["method"] == "POST"]


def test_refer_needs_the_pages_csrf_token(app_server: LiveApp, ehr: TestEhr) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    page = flow.decide()
    forged = flow.browser.post(page.url + "/refer", data={"csrf_token": "forged"})
    assert forged.status_code == 400 and error_kind(forged) == "csrf"
    assert not ehr.tasks


def test_ending_the_session_forgets_the_token(app_server: LiveApp, ehr: TestEhr) -> None:
    flow = begin(app_server, ehr, CANDIDATE)
    page = flow.decide()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    ended = flow.browser.post(page.url + "/end", data={"csrf_token": csrf.group(1)})
    assert ended.status_code == 200 and "Session ended" in ended.text
    after = flow.browser.get(page.url)
    assert after.status_code == 401 and error_kind(after) == "session-ended"


def test_tokens_stay_out_of_cookies_the_database_and_logs(
    app_server: LiveApp, ehr: TestEhr, caplog: object
) -> None:
    import logging
    from pathlib import Path

    caplog.set_level(logging.DEBUG)  # type: ignore[attr-defined]
    flow = begin(app_server, ehr, CANDIDATE)
    page = flow.decide()
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert csrf
    flow.browser.post(page.url + "/refer", data={"csrf_token": csrf.group(1)})
    tokens = list(ehr.tokens)
    assert tokens
    cookies = " ".join(c.value or "" for c in flow.browser.cookies)
    logs = caplog.text  # type: ignore[attr-defined]
    database = Path(app_server.app.config["DATABASE_URL"].removeprefix("sqlite:///")).read_bytes()
    for token in tokens:
        assert token not in cookies and token not in logs
        assert token.encode() not in database
    assert "Hallorann" not in logs and "fx01" not in logs  # no patient data in log lines
    assert "smart: signed in" in logs  # the app does log, without data
    cookie = flow.browser.cookies.get("igg4_smart")
    assert cookie and len(cookie) < 120  # an id and a key, not a token or a session payload


def test_the_cards_smart_link_launches_the_app(app_server: LiveApp, ehr: TestEhr) -> None:
    """The hook's card carries a ``type: smart`` link to /smart/launch when SMART_LAUNCH_URL is
    configured; the EHR opens it with ``iss`` and ``launch``."""
    from datetime import UTC, datetime

    from cds_service.hooks.cards import CardContext, screening_card

    card = screening_card(
        {"status": "candidate", "asOf": "2026-11-24", "criteria": [], "igg4": {}},
        CardContext(
            card_uuid="c",
            suggestion_uuid="s",
            patient_id=CANDIDATE,
            fhir_server=ehr.fhir_base,
            user_id=None,
            worklist_base_url=app_server.url,
            smart_launch_url=app_server.launch_url,
            trial_url="https://clinicaltrials.gov/study/NCT05974683",
            study_team=None,
            now=datetime.now(UTC),
        ),
    )
    (link,) = [x for x in card["links"] if x["type"] == "smart"]
    assert link["url"] == app_server.launch_url
    flow = begin_at(link["url"], ehr, CANDIDATE)
    page = flow.decide()
    assert page.status_code == 200 and "elig-candidate" in page.text


def test_confidential_client_authenticates_at_the_token_endpoint(
    make_live_app: Callable[..., LiveApp], ehr: TestEhr
) -> None:
    ehr.client_secret = "s3cret-of-the-app"
    public = make_live_app()
    refused = launch(public, ehr, CANDIDATE)  # no secret sent: the EHR refuses the client
    assert refused.status_code == 502 and error_kind(refused) == "token-refused"
    confidential = make_live_app(SMART_CLIENT_SECRET="s3cret-of-the-app")
    page = launch(confidential, ehr, CANDIDATE)
    assert page.status_code == 200 and "elig-candidate" in page.text


def test_ineligible_patient_has_no_referral_button(app_server: LiveApp, ehr: TestEhr) -> None:
    page = launch(app_server, ehr, "fx24")  # 24-ineligible-age-17
    assert page.status_code == 200 and "elig-ineligible" in page.text
    assert criterion_rows(page.text)["I2"] == "not-met"
    assert 'id="refer"' not in page.text


def test_the_referral_names_the_clinician_when_the_ehr_says_who(
    make_live_app: Callable[..., LiveApp], ehr: TestEhr
) -> None:
    """With OpenID Connect (sso-openid-connect) the app asks for openid fhirUser and the worklist
    names the clinician who referred; without it, "a clinician"."""
    from cds_service.worklist import store
    from cds_service.worklist.db import session_factory

    for capable, who in ((True, "Dr Test Clinician"), (False, "a clinician")):
        if not capable:
            ehr.capabilities = [c for c in ehr.capabilities if c != "sso-openid-connect"]
        live = make_live_app()
        flow = begin(live, ehr, NEEDS_REVIEW)
        assert ("openid" in flow.form["scopes"]) is capable
        page = flow.decide()
        form = re.search(r'action="([^"]+/refer)"', page.text)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
        assert form and token
        flow.browser.post(live.url + form.group(1), data={"csrf_token": token.group(1)})
        with session_factory(live.app)() as s:
            row = store.find_patient_row(s, ehr.fhir_base, NEEDS_REVIEW)
            assert row is not None and (row.referred_by, row.referred_via) == (who, "smart-app")
        live.server.shutdown()
