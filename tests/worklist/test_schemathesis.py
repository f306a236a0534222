"""Schemathesis against the served OpenAPI document: generated requests never get a 5xx.
Bounded (few examples per operation) so that it finishes in seconds."""

from __future__ import annotations

from pathlib import Path

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from cds_service.worklist import accounts, store
from cds_service.worklist.db import session_factory

from .conftest import PASSWORD, SERVER, assessment, make_app

_TOKEN: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    path: Path = tmp_path_factory.mktemp("schemathesis") / "api.db"
    app = make_app(f"sqlite:///{path}")
    with session_factory(app)() as s:
        u = accounts.create_user(s, "fuzzer", "investigator", PASSWORD)
        accounts.create_user(s, "ivan", "recruiter", PASSWORD)
        _TOKEN["value"] = accounts.create_api_token(s, u, "schemathesis")
        s.commit()
        for i, status in enumerate(("candidate", "needs-review", "ineligible")):
            store.record_assessment(
                s,
                fhir_server=SERVER,
                assessment=assessment(f"s{i}", status),
                source="screen",
                display_name=f"Fuzz {i}",
            )
    return app


@pytest.fixture(scope="module")
def api_schema(api_app: Flask) -> schemathesis.BaseSchema:
    return schemathesis.openapi.from_wsgi(
        "/api/openapi.json", api_app, headers={"Authorization": f"Bearer {_TOKEN['value']}"}
    )


def test_api_never_fails_with_a_server_error(api_schema: schemathesis.BaseSchema) -> None:
    headers = {"Authorization": f"Bearer {_TOKEN['value']}"}
    calls: dict[str, int] = {}
    for result in api_schema.get_all_operations():
        operation = result.ok()

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15, deadline=None, database=None, suppress_health_check=list(HealthCheck)
        )
        def run(case: schemathesis.Case) -> None:
            label = case.operation.label
            response = case.call(headers=headers)
            case.validate_response(response, checks=[not_a_server_error])
            assert response.status_code < 500, (label, response.status_code)
            calls[label] = calls.get(label, 0) + 1

        run()
    assert len(calls) == 13  # every documented operation was exercised
