"""What a browser CDS client (the CDS Hooks sandbox) does, through real HTTP on loopback.

The sandbox reads the FHIR server from the browser (CORS, preflights, no token), builds prefetch with
``POST [type]/_search`` then ``GET`` on a reused connection, signs ES384 JWTs naming a ``jku`` it
cannot be fetched from offline, registers SMART launches at ``{fhirServer}/_services/smart/Launch``
and sends feedback for the clinician whose card it was.
"""

from __future__ import annotations

import http.client
import re
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import orjson
import pytest
import requests
from flask import Flask
from joserfc import jwt
from joserfc.jwk import ECKey

from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.hooks.cards import EXTENSION_KEY
from cds_service.security import SANDBOX_ISSUER_FILE, load_issuers
from cds_service.smart_testing import TestEhr

from .conftest import AS_OF, FIXTURES, HOOK_PATH, LiveServer, hook_body

SANDBOX_ISS = "https://sandbox.cds-hooks.org"
SANDBOX_JKU = "https://sandbox.cds-hooks.org/.well-known/jwks.json"
KEY = ECKey.generate_key("P-384", parameters={"kid": "pinned-1"})
ORIGIN = "http://127.0.0.1:9"  # where the sandbox page would be served from


@pytest.fixture(scope="module")
def open_fhir() -> Iterator[FixtureFhirServer]:
    with FixtureFhirServer.from_directory(FIXTURES, page_size=5) as server:
        yield server


def _conn(server: FixtureFhirServer) -> http.client.HTTPConnection:
    parts = urlsplit(server.base_url)
    return http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)


def _exchange(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn.request(method, path, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, data


# ---- the fixture FHIR server as a browser needs it -------------------------------------------


def test_keep_alive_post_search_then_get_on_one_connection(open_fhir: FixtureFhirServer) -> None:
    conn = _conn(open_fhir)
    form = urlencode({"patient": "fx01", "code": "http://loinc.org|2469-5", "_count": "50"})
    status, headers, data = _exchange(
        conn,
        "POST",
        "/fhir/Observation/_search",
        form.encode(),
        {"Content-Type": "application/x-www-form-urlencoded", "Origin": ORIGIN},
    )
    assert status == 200 and headers["access-control-allow-origin"] == "*"
    posted = orjson.loads(data)
    sock = conn.sock
    status, _, data = _exchange(
        conn, "GET", "/fhir/Observation?patient=fx01&code=http://loinc.org|2469-5&_count=50"
    )
    assert status == 200 and conn.sock is sock  # the same connection, still in step
    got = orjson.loads(data)
    assert [e["resource"]["id"] for e in posted["entry"]] == [
        e["resource"]["id"] for e in got["entry"]
    ]
    assert posted["total"] == got["total"] > 0
    conn.close()


def test_a_refused_post_with_a_body_leaves_the_connection_in_step(
    open_fhir: FixtureFhirServer,
) -> None:
    """The bug the sandbox hit: a POST's body left in the socket made the next request a 501."""
    conn = _conn(open_fhir)
    status, _, _ = _exchange(conn, "POST", "/fhir/Patient", b'{"resourceType": "Patient"}')
    assert status == 405
    status, _, data = _exchange(conn, "GET", "/fhir/Patient/fx01")
    assert status == 200 and orjson.loads(data)["id"] == "fx01"
    conn.close()


def test_cors_preflight_and_headers_on_every_answer(open_fhir: FixtureFhirServer) -> None:
    conn = _conn(open_fhir)
    status, headers, body = _exchange(
        conn,
        "OPTIONS",
        "/fhir/_services/smart/Launch",
        headers={
            "Origin": ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )
    assert status == 204 and body == b""
    assert headers["access-control-allow-origin"] == "*"
    assert "POST" in headers["access-control-allow-methods"]
    allowed = headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "content-type" in allowed
    for path in ("/fhir/metadata", "/fhir/Patient", "/fhir/Patient/nobody", "/nowhere"):
        status, headers, _ = _exchange(conn, "GET", path, headers={"Origin": ORIGIN})
        assert headers["access-control-allow-origin"] == "*", (path, status)
    conn.close()


def test_post_search_is_form_encoded_and_obeys_the_token() -> None:
    with FixtureFhirServer.from_directory(FIXTURES, token="t0k") as server:
        url = f"{server.base_url}/Condition/_search"
        form = {"patient": "fx01"}
        assert requests.post(url, data=form, timeout=10).status_code == 401
        ok = requests.post(url, data=form, headers={"Authorization": "Bearer t0k"}, timeout=10)
        assert ok.status_code == 200 and ok.json()["total"] >= 1
        as_json = requests.post(url, json=form, headers={"Authorization": "Bearer t0k"}, timeout=10)
        assert as_json.status_code == 415
        # preflights carry no token and still pass
        assert requests.options(url, timeout=10).status_code == 204


def test_oversized_body_is_refused_and_the_connection_closed(open_fhir: FixtureFhirServer) -> None:
    conn = _conn(open_fhir)
    conn.putrequest("POST", "/fhir/Observation/_search")
    conn.putheader("Content-Type", "application/x-www-form-urlencoded")
    conn.putheader("Content-Length", str(50 * 1024 * 1024))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413
    assert response.getheader("Connection", "").lower() == "close"
    conn.close()


# ---- SMART launch from a card's link -----------------------------------------------------------


@pytest.fixture
def launch_stack(tmp_path: Path) -> Iterator[tuple[FixtureFhirServer, TestEhr, LiveServer]]:
    """The open fixture server whose launches the test EHR authorizes, and the service with the
    SMART app (as ``igg4-cds demo`` wires them)."""
    upstream = FixtureFhirServer.from_directory(FIXTURES)
    ehr = TestEhr(upstream)
    upstream.start()
    ehr.start()
    fhir = FixtureFhirServer.from_directory(FIXTURES, launch_authority=ehr)
    fhir.start()
    ehr.audiences.add(fhir.base_url)
    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/launch.db",
            "JWT_VERIFY": False,
            "FHIR_SERVER_ALLOWLIST": [fhir.base_url],
            "IGG4_AS_OF": AS_OF,
            "SECRET_KEY": "launch-tests-" + "k" * 32,
            "SMART_COOKIE_SECURE": False,
            "WORKLIST_SECURE_COOKIES": False,
        }
    )
    with LiveServer(app) as live:
        ehr.redirect_uris.add(f"{live.url}/smart/callback")
        app.config["SMART_LAUNCH_URL"] = f"{live.url}/smart/launch"
        try:
            yield fhir, ehr, live
        finally:
            fhir.stop()
            ehr.stop()
            upstream.stop()


def test_launch_registration_then_the_smart_app_opens_on_the_patient(
    launch_stack: tuple[FixtureFhirServer, TestEhr, LiveServer],
) -> None:
    fhir, ehr, live = launch_stack
    # The card names the SMART link; the sandbox registers a launch for the patient in context.
    card = requests.post(
        f"{live.url}{HOOK_PATH}", json=hook_body("fx01", fhirServer=fhir.base_url), timeout=30
    ).json()["cards"][0]
    (link,) = [lk for lk in card["links"] if lk["type"] == "smart"]
    registered = requests.post(
        f"{fhir.base_url}/_services/smart/Launch",
        json={
            "launchUrl": link["url"],
            "parameters": {"patient": "fx01", "appContext": link["appContext"]},
        },
        headers={"Origin": ORIGIN},
        timeout=10,
    )
    assert registered.status_code == 200
    assert registered.headers["Access-Control-Allow-Origin"] == "*"
    launch_id = registered.json()["launch_id"]
    assert ehr.launches[launch_id] == "fx01"
    assert fhir.launches[-1]["launchUrl"] == link["url"]
    # ... and opens launchUrl?launch=...&iss=... (the sandbox does not encode iss)
    browser = requests.Session()
    browser.trust_env = False
    consent = browser.get(f"{link['url']}?launch={launch_id}&iss={fhir.base_url}", timeout=30)
    assert consent.status_code == 200
    assert "Patient in context: <code>fx01</code>" in consent.text
    txn = re.search(r'name="txn" value="([^"]+)"', consent.text)
    assert txn is not None
    scopes = re.findall(r'name="scope" value="([^"]+)"', consent.text)
    data = [("txn", txn.group(1)), ("decision", "approve"), *(("scope", s) for s in scopes)]
    page = browser.post(f"{ehr.base_url}/auth/decide", data=data, timeout=30)
    assert page.status_code == 200
    assert 'class="badge elig-candidate"' in page.text


def test_launch_registration_is_checked(
    launch_stack: tuple[FixtureFhirServer, TestEhr, LiveServer], open_fhir: FixtureFhirServer
) -> None:
    fhir, _, _ = launch_stack
    url = f"{fhir.base_url}/_services/smart/Launch"
    assert requests.post(url, json={"launchUrl": "x"}, timeout=10).status_code == 400
    unknown = {"launchUrl": "x", "parameters": {"patient": "nobody"}}
    assert requests.post(url, json=unknown, timeout=10).status_code == 404
    config = requests.get(f"{fhir.base_url}/.well-known/smart-configuration", timeout=10).json()
    assert config["authorization_endpoint"].endswith("/auth/authorize")
    # a server without a launch authority has no launch endpoint
    plain = requests.post(
        f"{open_fhir.base_url}/_services/smart/Launch",
        json={"launchUrl": "x", "parameters": {"patient": "fx01"}},
        timeout=10,
    )
    assert plain.status_code == 404


# ---- JWT with a jku and a pinned key; two clinicians, one dismissal ----------------------------


def _sandbox_like_token(aud: str, key: ECKey = KEY) -> str:
    """What the sandbox's jwt-generator.js signs, with a test key standing for its own."""
    now = int(time.time())
    claims = {
        "iss": SANDBOX_ISS,
        "aud": aud,
        "exp": now + 300,
        "iat": now,
        "jti": str(uuid.uuid4()),
    }
    header = {"alg": "ES384", "typ": "JWT", "kid": key.kid, "jku": SANDBOX_JKU}
    return jwt.encode(header, claims, key, algorithms=["ES384"])


@pytest.fixture
def secured_service(tmp_path: Path, open_fhir: FixtureFhirServer) -> Iterator[LiveServer]:
    issuers = {SANDBOX_ISS: {"jwks": {"keys": [KEY.as_dict(private=False)]}, "jku": [SANDBOX_JKU]}}
    app: Flask = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path}/secured.db",
            "JWT_VERIFY": True,
            "JWT_ISSUERS": issuers,
            "JWKS_CACHE_S": 0,
            "FHIR_SERVER_ALLOWLIST": [open_fhir.base_url],
            "IGG4_AS_OF": AS_OF,
            "PUBLIC_BASE_URL": "http://127.0.0.1",  # the port is known once the server is up
        }
    )
    with LiveServer(app) as live:
        app.config["PUBLIC_BASE_URL"] = live.url
        yield live


def _hook(live: LiveServer, fhir: FixtureFhirServer, user: str, bearer: str) -> Any:
    body = hook_body("fx01", fhirServer=fhir.base_url)
    body["context"]["userId"] = user
    return requests.post(
        f"{live.url}{HOOK_PATH}",
        json=body,
        headers={"Authorization": f"Bearer {bearer}", "Origin": ORIGIN},
        timeout=30,
    )


def test_token_naming_an_allowed_jku_is_verified_with_the_pinned_key_offline(
    secured_service: LiveServer, open_fhir: FixtureFhirServer
) -> None:
    aud = f"{secured_service.url}{HOOK_PATH}"
    # the jku's host does not resolve here: a fetch would fail, so 200 means no fetch happened
    answer = _hook(secured_service, open_fhir, "Practitioner/a", _sandbox_like_token(aud))
    assert answer.status_code == 200, answer.text
    assert answer.json()["cards"][0]["extension"][EXTENSION_KEY]["status"] == "candidate"
    # a kid that is not pinned is looked up at the jku: unreachable here, so refused
    stranger = ECKey.generate_key("P-384", parameters={"kid": "not-pinned"})
    refused = _hook(
        secured_service, open_fhir, "Practitioner/a", _sandbox_like_token(aud, stranger)
    )
    assert refused.status_code == 401
    assert "could not be fetched" in refused.json()["message"]


def test_two_clinicians_one_dismissal(
    secured_service: LiveServer, open_fhir: FixtureFhirServer
) -> None:
    hook_url = f"{secured_service.url}{HOOK_PATH}"

    def cards(user: str) -> list[dict[str, Any]]:
        answer = _hook(secured_service, open_fhir, user, _sandbox_like_token(hook_url))
        assert answer.status_code == 200
        found: list[dict[str, Any]] = answer.json()["cards"]
        return found

    (card_a,) = cards("Practitioner/a")
    (card_b,) = cards("Practitioner/b")
    dismissed = requests.post(
        f"{hook_url}/feedback",
        json={
            "feedback": [
                {
                    "card": card_a["uuid"],
                    "outcome": "overridden",
                    "overrideReason": {"reason": {"code": "patient-declined",
                                                  "system": card_a["overrideReasons"][0]["system"]}},
                    "outcomeTimestamp": datetime.now(UTC).isoformat(),
                }
            ]
        },
        headers={"Authorization": f"Bearer {_sandbox_like_token(f'{hook_url}/feedback')}"},
        timeout=30,
    )  # fmt: skip
    assert dismissed.status_code == 200
    assert cards("Practitioner/a") == []  # hidden from the clinician who dismissed
    assert len(cards("Practitioner/b")) == 1  # still shown to the other one
    assert card_b["uuid"] != card_a["uuid"]


def test_the_sandbox_example_issuer_is_its_published_key() -> None:
    issuers = load_issuers(SANDBOX_ISSUER_FILE)
    (entry,) = issuers.values()
    assert list(issuers) == [SANDBOX_ISS]
    assert entry["jku"] == [SANDBOX_JKU]
    (key,) = entry["jwks"]["keys"]
    assert (key["kid"], key["crv"], key["alg"]) == (
        "44823f3d-0b01-4a6c-a80e-b9d3e8a7226f",
        "P-384",
        "ES384",
    )
    assert "d" not in key  # public key material only
