"""Issue 10 rows 3 and 11: FHIR server URLs.

Row 3: an allowed server whose ``next`` link is ``{base}/../../../admin/x`` made the client fetch
``/admin/x`` with the EHR's bearer token (the base check compared strings; the HTTP library then
resolved the dot segments). Every URL fetched is now canonical and must stay under the base.

Row 11: one patient under ``fhirServer`` spelled with a trailing space, a tab or ``#`` was listed
five times in the worklist, and card suppression was keyed on the raw string. ``fhirServer`` is
normalised before it keys anything and before the allow-list check.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import responses
from flask import Flask
from sqlalchemy import func, select

from cds_service.fhir_client import Allowlist, FhirClient, FhirError, FhirLimits
from cds_service.fhir_url import (
    FhirUrlError,
    canonical_url,
    normalize_fhir_server,
    remove_dot_segments,
    server_key,
)
from cds_service.worklist.db import session_factory
from cds_service.worklist.models import FlaggedPatient

from .helpers import FEEDBACK_PATH, HOOK_PATH, prefetch_hook_body

BASE = "https://ehr.example.org/fhir"
FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures" / "patients" / "01-candidate-mgl-male.json"
)


def _bundle(next_url: str | None) -> dict:
    bundle: dict = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": "o1"}}],
    }
    if next_url:
        bundle["link"] = [{"relation": "next", "url": next_url}]
    return bundle


@pytest.mark.parametrize(
    "next_url",
    [
        f"{BASE}/../../../admin/x",
        f"{BASE}/Observation/../../admin/x",
        "../../admin/x",  # relative to the page
        f"{BASE}/%2e%2e/admin/x",  # an encoded dot is a dot (RFC 3986 2.3)
        f"{BASE}/%2E%2E/%2e%2E/admin/x",
        f"{BASE}/..%2fadmin/x",  # an encoded slash a server may decode later
        f"{BASE}//../../admin/x",
        "https://ehr.example.org/fhir2/Observation",
        "https://ehr.example.org\\@evil.example.com/fhir/x",
        "https://evil.example.com#@ehr.example.org/fhir/x",
        "https://u:p@ehr.example.org/fhir/Observation",
    ],
)
def test_next_links_off_the_normalised_base_are_never_fetched(next_url: str) -> None:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.get(f"{BASE}/Observation?patient=p1", json=_bundle(next_url))
        trap = mock.get("https://ehr.example.org/admin/x", json=_bundle(None))
        client = FhirClient(
            BASE, allowlist=Allowlist([BASE]), token="secret", limits=FhirLimits(page_size=None)
        )
        with pytest.raises(FhirError) as err:
            client.search("Observation?patient=p1")
        assert err.value.kind == "not-allowed"
        assert trap.call_count == 0
        assert len(mock.calls) == 1  # only the first page


def test_next_links_under_the_base_are_followed_in_canonical_form() -> None:
    with responses.RequestsMock() as mock:
        mock.get(
            f"{BASE}/Observation?patient=p1", json=_bundle(f"{BASE}/./x/../Observation?page=2#f")
        )
        mock.get(f"{BASE}/Observation?page=2", json=_bundle(None))
        client = FhirClient(BASE, allowlist=Allowlist([BASE]), limits=FhirLimits(page_size=None))
        assert len(client.search("Observation?patient=p1")) == 2
        assert mock.calls[1].request.url == f"{BASE}/Observation?page=2"


SPELLINGS = [
    "https://ehr.example.org/fhir",
    "https://ehr.example.org/fhir ",
    "https://ehr.example.org/fhir\t",
    "https://ehr.example.org/fhir#",
    "https://ehr.example.org/fhir/",
    "HTTPS://EHR.Example.ORG:443/fhir",
    "https://ehr.example.org./fhir",
    "https://ehr.example.org/./fhir/x/..",
    "https://ehr.example.org/%66hir",
    "https://ehr.example.org//fhir?",
    " https://ehr.example.org/fhir#frag",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_a_server_normalises_to_one(spelling: str) -> None:
    assert normalize_fhir_server(spelling) == BASE
    assert server_key(spelling) == BASE
    assert Allowlist([BASE]).allows(spelling)


@pytest.mark.parametrize(
    "bad",
    [
        "https://ehr.example.org/fh ir",
        "https://ehr.example.org/fhir\x00",
        "https://ehr.example.org/fhir\nX: y",
        "https://user:pw@ehr.example.org/fhir",
        "https://ehr.example.org/fhir?_format=json",
        "ftp://ehr.example.org/fhir",
        "https:///fhir",
        "https://ehr.example.org:99999/fhir",
        "https://ehr.example.org/a%2Fb",
        "https://ehr.example.org/a%zz",
        "https://" + "a" * 600 + ".org/fhir",
        "",
    ],
)
def test_unusable_servers_are_refused(bad: str) -> None:
    with pytest.raises(FhirUrlError):
        normalize_fhir_server(bad)
    assert not Allowlist([BASE]).allows(bad)


def test_server_keys_of_other_sources() -> None:
    assert server_key("") == ""
    assert server_key("urn:igg4-cds:manual-upload ") == "urn:igg4-cds:manual-upload"
    assert server_key("file:///data/export/") == "file:///data/export"
    with pytest.raises(FhirUrlError):
        server_key("urn:x\x00")
    with pytest.raises(FhirUrlError):
        server_key("javascript:alert(1)")


def test_dot_segments_and_canonical_urls() -> None:
    assert remove_dot_segments("/a/b/c/./../../g") == "/a/g"
    assert remove_dot_segments("/../../x") == "/x"
    assert remove_dot_segments("/a/b/..") == "/a/"
    assert canonical_url("HTTP://H:80/a/%7Eb/../c?q=%2F#f") == "http://h/a/c?q=%2F"


def _prefetch_only_body(server: str) -> dict:
    return prefetch_hook_body(fhirServer=server)


def test_one_patient_under_five_spellings_is_listed_once_and_suppressed_once(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app(FHIR_SERVER_ALLOWLIST=[BASE])
    client = app.test_client()
    cards = []
    for spelling in SPELLINGS[:5]:
        response = client.post(HOOK_PATH, json=_prefetch_only_body(spelling))
        assert response.status_code == 200, response.get_data(as_text=True)
        cards.append(response.get_json()["cards"])
    assert all(len(c) == 1 for c in cards)
    with session_factory(app)() as s:
        rows = s.execute(
            select(FlaggedPatient.fhir_server, func.count()).group_by(FlaggedPatient.fhir_server)
        ).all()
    assert rows == [(BASE, 1)]
    # Overriding the card under one spelling hides it under every other.
    card_uuid = cards[-1][0]["uuid"]
    feedback = {
        "feedback": [
            {"card": card_uuid, "outcome": "overridden", "outcomeTimestamp": "2026-11-24T10:00:00Z"}
        ]
    }
    assert client.post(FEEDBACK_PATH, json=feedback).status_code == 200
    for spelling in SPELLINGS[5:8]:
        response = client.post(HOOK_PATH, json=_prefetch_only_body(spelling))
        assert response.get_json()["cards"] == [], spelling


@pytest.mark.parametrize(
    "bad", ["https://ehr.example.org/fhir\x00", "https://u:p@ehr.example.org/fhir"]
)
def test_an_unusable_fhir_server_in_a_hook_is_a_400(
    make_app: Callable[..., Flask], bad: str
) -> None:
    app = make_app(FHIR_SERVER_ALLOWLIST=[BASE])
    response = app.test_client().post(HOOK_PATH, json=_prefetch_only_body(bad))
    assert response.status_code == 400
    assert "fhirServer" in response.get_json()["message"]
