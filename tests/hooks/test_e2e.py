"""End to end: the service and the fixture FHIR server on loopback, every fixture patient, three ways.

- full prefetch: every template satisfied (built from the fixture Bundle, as an EHR would), and no
  fhirServer at all, so nothing could have been fetched;
- no prefetch: everything fetched with the bearer token, in pages of 5 (several pages per search);
- partial prefetch: some keys given, one as an OperationOutcome, one as null, one as a first page
  with a "next" link, the rest missing: the service must fetch what is not whole.

The card's assessment status must equal the fixture's expected status.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests

from cds_service.fhir_fixture_server import FixtureFhirServer, bundle_resources
from cds_service.hooks.cards import EXTENSION_KEY

from .conftest import FIXTURES, HOOK_PATH, LiveServer, fhir_auth, hook_body
from .schema import assert_valid_response
from .synthetic import full_prefetch, searchset

CASES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


def _load(path: Path) -> tuple[str, list[dict[str, Any]], str]:
    resources = bundle_resources(orjson.loads(path.read_bytes()))
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    expected = orjson.loads(path.with_name(path.stem + ".expected.json").read_bytes())
    return patient["id"], resources, expected["status"]


@pytest.fixture(scope="module")
def e2e_fhir() -> Iterator[FixtureFhirServer]:
    """Pages of at most 5 entries: every search of a real record spans several pages."""
    with FixtureFhirServer.from_directory(FIXTURES, token="e2e-token", page_size=5) as fhir:
        yield fhir


@pytest.fixture
def fhir_counter(e2e_fhir: FixtureFhirServer) -> Any:
    return lambda: e2e_fhir.requests_served


@pytest.fixture(scope="module")
def live(
    tmp_path_factory: pytest.TempPathFactory, e2e_fhir: FixtureFhirServer
) -> Iterator[tuple[str, str]]:
    from cds_service.app import create_app

    db = tmp_path_factory.mktemp("e2e") / "e2e.db"
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{db}",
            "JWT_VERIFY": False,
            "IGG4_AS_OF": "2026-11-24",
            "SHOW_INELIGIBLE_CARD": True,
            "OVERRIDE_SUPPRESS_DAYS": 0,
            "FHIR_SERVER_ALLOWLIST": [e2e_fhir.base_url],
            # pages of 5 are artificial: a long record (600+ Observations) needs 100+ of them
            "FHIR_MAX_PAGES": 1000,
            "FHIR_TIME_BUDGET_S": 60.0,
        }
    )
    with LiveServer(app) as server:
        yield server.url + HOOK_PATH, e2e_fhir.base_url


def _status(response: requests.Response) -> str:
    assert response.status_code == 200, response.text[:300]
    body = response.json()
    assert_valid_response(body)
    (card,) = body["cards"]
    assessment = card["extension"][EXTENSION_KEY]
    assert len(assessment["criteria"]) == 18
    return str(assessment["status"])


def test_there_are_fixtures_of_every_status() -> None:
    statuses = {_load(p)[2] for p in CASES}
    assert statuses == {"candidate", "needs-review", "ineligible"}


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_full_prefetch_without_fhir_server(live: tuple[str, str], path: Path) -> None:
    url, _ = live
    patient_id, resources, expected = _load(path)
    body = hook_body(patient_id, prefetch=full_prefetch(resources))
    assert _status(requests.post(url, json=body, timeout=30)) == expected


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_no_prefetch_everything_fetched(live: tuple[str, str], path: Path) -> None:
    url, fhir_base = live
    patient_id, _, expected = _load(path)
    body = hook_body(patient_id, fhirServer=fhir_base, fhirAuthorization=fhir_auth("e2e-token"))
    assert _status(requests.post(url, json=body, timeout=30)) == expected


def test_no_prefetch_follows_next_pages(live: tuple[str, str], fhir_counter: Any) -> None:
    """fx01 has more Observations than a page (5): the fetch must walk several pages."""
    url, fhir_base = live
    observations = [r for r in _load(FIXTURES / "01-candidate-mgl-male.json")[1]
                    if r["resourceType"] == "Observation"]  # fmt: skip
    assert len(observations) > 5
    before = fhir_counter()
    body = hook_body("fx01", fhirServer=fhir_base, fhirAuthorization=fhir_auth("e2e-token"))
    assert _status(requests.post(url, json=body, timeout=30)) == "candidate"
    served = fhir_counter() - before
    assert served >= 7 + (len(observations) - 1) // 5  # 7 queries + the extra Observation pages


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_partial_prefetch(live: tuple[str, str], path: Path) -> None:
    url, fhir_base = live
    patient_id, resources, expected = _load(path)
    full = full_prefetch(resources)
    observations = full["observations"]["entry"]
    prefetch = {
        "patient": full["patient"],
        "conditions": full["conditions"],
        # only the first page, with its next link: must not be taken for the whole
        "observations": {
            **searchset(
                [e["resource"] for e in observations[:2]],
                next_url=f"{fhir_base}/Observation?patient={patient_id}",
            )
        },
        # a failed prefetch (CDS Hooks 2.0 allows an OperationOutcome in its place)
        "medicationRequests": {
            "resourceType": "OperationOutcome",
            "issue": [{"severity": "error", "code": "timeout"}],
        },
        "researchSubjects": None,  # "no data" in the client's words: checked on the server
    }
    body = hook_body(
        patient_id,
        prefetch=prefetch,
        fhirServer=fhir_base,
        fhirAuthorization=fhir_auth("e2e-token"),
    )
    assert _status(requests.post(url, json=body, timeout=30)) == expected
