"""Schemathesis against the served OpenAPI document, strictly: on SQLite and PostgreSQL, requests
that follow the document and requests that break it (negative mode) never get a 5xx; every answer
has a documented status code, content type, headers and body schema; a request the document forbids
is refused. Bounded (a few examples per operation and mode) so that it finishes in seconds.

One check is left out: ``positive_data_acceptance`` (a schema-valid request must succeed). The API
also refuses, with a documented 4xx, what a schema cannot say: a Bundle without a Patient, a user
name that does not exist, a NUL character in a string.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import load_all_checks
from schemathesis.specs.openapi.checks import positive_data_acceptance

from cds_service.worklist import accounts, store
from cds_service.worklist.db import session_factory
from tests.postgres import fresh_database

from .conftest import PASSWORD, SERVER, assessment, make_app

load_all_checks()
# IGG4_FUZZ_EXAMPLES / IGG4_FUZZ_RANDOM explore further, as for tests/hardening (see fuzz.py there)
_SCALE = int(os.environ.get("IGG4_FUZZ_EXAMPLES", "200")) / 200
_RANDOM = os.environ.get("IGG4_FUZZ_RANDOM", "") not in ("", "0")
EXAMPLES = {
    GenerationMode.POSITIVE: int(20 * _SCALE) or 1,
    GenerationMode.NEGATIVE: int(12 * _SCALE) or 1,
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("schemathesis") / "api.db"
        yield f"sqlite:///{path}"
        return
    with fresh_database("igg4_schemathesis") as url:
        yield url


@pytest.fixture(scope="module")
def api(database_url: str) -> tuple[Flask, str]:
    app = make_app(database_url)
    with session_factory(app)() as s:
        u = accounts.create_user(s, "fuzzer", "investigator", PASSWORD)
        accounts.create_user(s, "ivan", "recruiter", PASSWORD)
        token = accounts.create_api_token(s, u, "schemathesis")
        s.commit()
        for i, status in enumerate(("candidate", "needs-review", "ineligible")):
            store.record_assessment(
                s,
                fhir_server=SERVER,
                assessment=assessment(f"s{i}", status),
                source="screen",
                display_name=f"Fuzz {i}",
            )
    return app, token


@pytest.mark.parametrize("mode", list(EXAMPLES), ids=lambda m: m.value)
def test_api_conforms_to_its_openapi_document(api: tuple[Flask, str], mode: GenerationMode) -> None:
    app, token = api
    headers = {"Authorization": f"Bearer {token}"}
    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app, headers=headers)
    calls: dict[str, int] = {}
    for result in schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES[mode],
            deadline=None,
            database=None,
            derandomize=not _RANDOM,  # the same examples every run: CI never turns red by chance
            suppress_health_check=list(HealthCheck),
        )
        def run(case: schemathesis.Case) -> None:
            response = case.call(headers=headers)
            assert response.status_code < 500, (case.operation.label, response.status_code)
            case.validate_response(
                response, headers=headers, excluded_checks=[positive_data_acceptance]
            )
            calls[case.operation.label] = calls.get(case.operation.label, 0) + 1

        run()
    assert len(calls) == 13  # every documented operation was exercised
