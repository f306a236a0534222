"""Issue 10 row 2: a 50-200 MB request body was parsed (the worker grew to 782 MB), because
``MAX_CONTENT_LENGTH`` was set with ``setdefault`` on a key Flask already defines.

Every place input arrives has a limit that is a setting, and a request over it is a 413 whose
message names the limit and the setting: the hook body, feedback (bytes and items), the worklist
upload (page and ``/api/assess``, with or without Content-Length), and resource counts (prefetch,
fetched, uploaded Bundle).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import responses
from flask import Flask
from flask.testing import FlaskClient

from cds_service.config import build_config
from cds_service.fhir_client import Allowlist, FhirClient, FhirError, FhirLimits

from .helpers import (
    FEEDBACK_PATH,
    HOOK_PATH,
    api_token,
    csrf_from,
    fixture_bundle,
    login,
    prefetch_hook_body,
)

MiB = 1 << 20


def _chunked(client: FlaskClient, path: str, data: bytes, **headers: str) -> Any:
    """A POST without Content-Length (Transfer-Encoding: chunked, as gunicorn passes it on)."""
    return client.post(
        path,
        input_stream=io.BytesIO(data),
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked", **headers},
        environ_overrides={"wsgi.input_terminated": True},
    )


def _padded_hook_body(size: int) -> bytes:
    body = prefetch_hook_body()
    body["padding"] = "x" * size
    return orjson.dumps(body)


def test_a_hook_body_over_the_default_limit_is_refused_unread(
    make_app: Callable[..., Flask],
) -> None:
    app = make_app()
    client = app.test_client()
    big = _padded_hook_body(50 * MiB)
    response = client.post(HOOK_PATH, data=big, content_type="application/json")
    assert response.status_code == 413
    message = response.get_json()["message"]
    assert "16 MiB" in message and "MAX_REQUEST_BYTES" in message
    response = _chunked(client, HOOK_PATH, big)
    assert response.status_code == 413
    assert "MAX_REQUEST_BYTES" in response.get_json()["message"]
    # Under the limit, the same request is served.
    assert (
        client.post(
            HOOK_PATH, data=_padded_hook_body(1000), content_type="application/json"
        ).status_code
        == 200
    )


def test_hook_limits_are_settings(make_app: Callable[..., Flask]) -> None:
    app = make_app(MAX_REQUEST_BYTES=256 * 1024, MAX_RESOURCES_PER_PATIENT=10)
    client = app.test_client()
    response = client.post(
        HOOK_PATH, data=_padded_hook_body(300 * 1024), content_type="application/json"
    )
    assert response.status_code == 413 and "256 KiB" in response.get_json()["message"]
    response = client.post(HOOK_PATH, json=prefetch_hook_body())  # the fixture has > 10 resources
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "more than 10 resources in the prefetch (setting MAX_RESOURCES_PER_PATIENT)"
    )


def test_feedback_limits(make_app: Callable[..., Flask]) -> None:
    app = make_app()
    client = app.test_client()
    item = {"card": "c", "outcome": "accepted", "outcomeTimestamp": "2026-11-24T10:00:00Z"}
    response = client.post(FEEDBACK_PATH, json={"feedback": [item] * 101})
    assert response.status_code == 413
    assert "FEEDBACK_MAX_ITEMS" in response.get_json()["message"]
    big = {"feedback": [{**item, "overrideReason": {"userComment": "x" * 300_000}}]}
    response = client.post(FEEDBACK_PATH, json=big)
    assert response.status_code == 413
    assert "256 KiB" in response.get_json()["message"]
    assert "FEEDBACK_MAX_BYTES" in response.get_json()["message"]
    assert client.post(FEEDBACK_PATH, json={"feedback": [item] * 100}).status_code == 200


def test_fetched_resources_are_counted_against_the_limit() -> None:
    base = "https://ehr.example.org/fhir"
    page = {
        "resourceType": "Bundle",
        "type": "searchset",
        "entry": [{"resource": {"resourceType": "Observation", "id": f"o{i}"}} for i in range(30)],
    }
    with responses.RequestsMock() as mock:
        mock.get(f"{base}/Observation?patient=p1", json=page)
        client = FhirClient(
            base, allowlist=Allowlist([base]), limits=FhirLimits(page_size=None, max_resources=20)
        )
        with pytest.raises(FhirError) as err:
            client.search("Observation?patient=p1")
    assert err.value.kind == "too-large"
    assert "MAX_RESOURCES_PER_PATIENT" in err.value.detail


def test_api_upload_limits(make_app: Callable[..., Flask]) -> None:
    app = make_app(WORKLIST_MAX_UPLOAD_BYTES=512 * 1024, MAX_RESOURCES_PER_PATIENT=10)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {api_token(app)}"}
    bundle = fixture_bundle()
    big = orjson.dumps({**bundle, "padding": "x" * MiB})
    response = _chunked(client, "/api/assess", big, **auth)  # no Content-Length to check first
    assert response.status_code == 413
    assert "WORKLIST_MAX_UPLOAD_BYTES" in response.get_json()["message"]
    response = client.post("/api/assess", json=bundle, headers=auth)
    assert response.status_code == 413
    assert response.get_json()["message"] == (
        "more than 10 entries in the Bundle (setting MAX_RESOURCES_PER_PATIENT)"
    )


def test_the_worklist_page_takes_a_bundle_up_to_its_upload_limit(
    make_app: Callable[..., Flask],
) -> None:
    """The "add to the worklist" form posts the Bundle URL-encoded: a 600 KB Bundle was refused by
    Flask's 500 KB form default; the documented WORKLIST_MAX_UPLOAD_BYTES is what counts."""
    app = make_app()
    api_token(app)  # creates the investigator
    client = app.test_client()
    assert login(client, "ivan").status_code == 302
    bundle = fixture_bundle()
    bundle["entry"][0]["resource"]["text"] = {
        "status": "generated",
        "div": "<div>" + "y" * 600_000 + "</div>",
    }
    csrf = csrf_from(client.get("/worklist/assess").get_data(as_text=True))
    response = client.post(
        "/worklist/assess/add",
        data={"bundle_json": orjson.dumps(bundle).decode(), "csrf_token": csrf},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    over = {"bundle_json": "x" * (31 * MiB), "csrf_token": csrf}
    response = client.post("/worklist/assess/add", data=over)
    assert response.status_code == 413
    assert "WORKLIST_MAX_UPLOAD_BYTES" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "key",
    ["MAX_REQUEST_BYTES", "FEEDBACK_MAX_BYTES", "FEEDBACK_MAX_ITEMS", "MAX_RESOURCES_PER_PATIENT"],
)
def test_limits_are_validated_settings(key: str) -> None:
    assert build_config({}, environ={f"IGG4_CDS_{key}": "1234"})[key] == 1234
    with pytest.raises(ValueError, match=key):
        build_config({key: 0}, environ={})
