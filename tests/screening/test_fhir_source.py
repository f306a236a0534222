"""The FHIR-server source against mocked servers: retries with back-off, a server that stays down,
token renewal, and SMART Backend Services tokens."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
import responses
from click.testing import CliRunner
from joserfc import jwk, jwt

from cds_service.cli import cli
from cds_service.screening import ScreenConfig, run_screen
from cds_service.screening.auth import SmartBackendAuth, StaticToken, discover_token_url
from cds_service.screening.fhir_source import RetryPolicy
from cds_service.synth import generate_patient

from .conftest import AS_OF, read_ndjson

BASE = "https://fhir.example.org/r4"
# Patients 2 and 3 of seed 11 are IgG4-RD profiles (see the profile sequence); 0 is not.
SEED = 11


def _patients(n: int = 12) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        for rs in generate_patient(i, seed=SEED, as_of=AS_OF).resources.values():
            out.extend(rs)
    return out


class MockServer:
    """Enough FHIR for the screen: reads, and searches by patient/subject/individual or code.
    ``fail(predicate, status, times)`` makes matching requests fail first."""

    def __init__(self, resources: list[dict[str, Any]]) -> None:
        self.resources = resources
        self.failures: list[list[Any]] = []
        self.auth_seen: list[str | None] = []

    def fail(
        self,
        when: Callable[[str], bool],
        status: int,
        times: int,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.failures.append([when, status, times, headers or {}])

    def __call__(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        self.auth_seen.append(request.headers.get("Authorization"))
        url = request.url
        for f in self.failures:
            if f[2] > 0 and f[0](url):
                f[2] -= 1
                return f[1], f[3], b'{"resourceType":"OperationOutcome"}'
        parts = urlsplit(url)
        path = parts.path.removeprefix(urlsplit(BASE).path).strip("/").split("/")
        if len(path) == 2:
            for r in self.resources:
                if r["resourceType"] == path[0] and r["id"] == path[1]:
                    return 200, {}, orjson.dumps(r)
            return 404, {}, b'{"resourceType":"OperationOutcome"}'
        query = parse_qs(parts.query)
        found = [r for r in self.resources if r["resourceType"] == path[0]]
        for name in ("patient", "subject", "individual"):
            if name in query:
                pid = query[name][0].split("/")[-1]
                found = [
                    r
                    for r in found
                    if (r.get("subject") or r.get("individual") or {}).get("reference")
                    == f"Patient/{pid}"
                ]
        if "code" in query:
            tokens = {tuple(t.split("|", 1)) for t in query["code"][0].split(",")}
            found = [
                r
                for r in found
                if any(
                    (c.get("system"), c.get("code")) in tokens
                    for c in r.get("code", {}).get("coding", [])
                )
            ]
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "entry": [{"resource": r, "search": {"mode": "match"}} for r in found],
        }
        return 200, {}, orjson.dumps(bundle)


@pytest.fixture()
def server() -> MockServer:
    mock = MockServer(_patients())
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        rsps.add_callback(responses.GET, re.compile(re.escape(BASE) + r"/.*"), callback=mock)
        yield mock


def test_retries_429_and_503_with_backoff(server: MockServer, tmp_path: Path) -> None:
    server.fail(lambda u: "Condition?code=" in u, 429, 2)
    server.fail(lambda u: "Observation?patient=" in u, 503, 1)
    slept: list[float] = []
    out = tmp_path / "r.ndjson"
    outcome = run_screen(
        ScreenConfig(
            fhir_server=BASE,
            as_of=AS_OF,
            workers=1,
            out=out,
            concurrency=2,
            retry=RetryPolicy(attempts=4, base_delay=0.5, sleep=slept.append),
        )
    )
    assert outcome.error is None
    assert len(slept) == 3
    assert 0.25 <= slept[0] <= 0.5 and 0.5 <= slept[1] <= 1.0  # exponential, jittered
    assert outcome.summary.assessed == outcome.stats.selected > 0
    assert {a["patient"] for a in read_ndjson(out)} == {
        f"Patient/s{SEED}-p{i:06d}"
        for i in range(12)
        if generate_patient(i, seed=SEED, as_of=AS_OF).profile.intended != "not-screened"
    }


def test_retry_after_is_honoured(server: MockServer, tmp_path: Path) -> None:
    server.fail(lambda u: "Condition?code=" in u, 429, 1, {"Retry-After": "7"})
    slept: list[float] = []
    outcome = run_screen(
        ScreenConfig(
            fhir_server=BASE,
            as_of=AS_OF,
            workers=1,
            out=tmp_path / "r.ndjson",
            retry=RetryPolicy(attempts=3, base_delay=0.5, sleep=slept.append),
        )
    )
    assert outcome.error is None
    assert slept == [7.0]  # the server's word, not the 0.25-0.5 s back-off


def test_server_down_stops_with_message_and_keeps_work(server: MockServer, tmp_path: Path) -> None:
    # Whichever patient comes second in order: its Observations never come back.
    selected = sorted(
        f"s{SEED}-p{i:06d}"
        for i in range(12)
        if generate_patient(i, seed=SEED, as_of=AS_OF).profile.intended != "not-screened"
    )
    assert len(selected) >= 2
    second = selected[1]
    server.fail(lambda u: f"Observation?patient={second}" in u, 503, 10**6)
    out = tmp_path / "r.ndjson"
    result = CliRunner().invoke(
        cli,
        [
            "screen",
            "--fhir-server",
            BASE,
            "--as-of",
            AS_OF.isoformat(),
            "--out",
            str(out),
            "--workers",
            "1",
            "--concurrency",
            "1",
            "--retries",
            "2",
            "--no-progress",
        ],
    )
    assert result.exit_code == 3, result.output
    assert (
        "stopped early: FHIR server failed 2 times on a patient's data (http-error HTTP 503)"
        in result.output
    )
    assert "--resume" in result.output
    assert second not in result.output  # no patient data in the message
    kept = read_ndjson(out)
    assert [a["patient"] for a in kept] == [f"Patient/{selected[0]}"]
    # The server is back: --resume finishes the run without repeating the first patient.
    server.failures.clear()
    again = CliRunner().invoke(
        cli,
        [
            "screen",
            "--fhir-server",
            BASE,
            "--as-of",
            AS_OF.isoformat(),
            "--out",
            str(out),
            "--workers",
            "1",
            "--resume",
            "--no-progress",
        ],
    )
    assert again.exit_code == 0, again.output
    assert [a["patient"] for a in read_ndjson(out)] == [f"Patient/{p}" for p in selected]


def test_expired_token_is_renewed_once(server: MockServer, tmp_path: Path) -> None:
    server.fail(lambda u: "Condition?code=" in u, 401, 1)

    class Renewing(StaticToken):
        renewed = 0

        def invalidate(self) -> None:
            self.renewed += 1

    auth = Renewing("tok-123")
    outcome = run_screen(
        ScreenConfig(
            fhir_server=BASE,
            as_of=AS_OF,
            workers=1,
            auth=auth,
            out=tmp_path / "r.csv",
            retry=RetryPolicy(sleep=lambda s: None),
        )
    )
    assert outcome.error is None and auth.renewed == 1
    assert set(server.auth_seen) == {"Bearer tok-123"}


# ----- SMART Backend Services -------------------------------------------------------------------
TOKEN_URL = "https://auth.example.org/token"


def test_smart_backend_services_token(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    key = jwk.RSAKey.generate_key(2048)
    now = [1_800_000_000.0]
    posts: list[dict[str, list[str]]] = []

    def token_endpoint(request: Any) -> tuple[int, dict[str, str], bytes]:
        posts.append(parse_qs(request.body))
        return (
            200,
            {},
            orjson.dumps(
                {"access_token": f"at-{len(posts)}", "token_type": "bearer", "expires_in": 300}
            ),
        )

    with responses.RequestsMock() as rsps:
        rsps.add_callback(responses.POST, TOKEN_URL, callback=token_endpoint)
        rsps.add(
            responses.GET,
            f"{BASE}/.well-known/smart-configuration",
            json={"token_endpoint": TOKEN_URL},
        )
        url = discover_token_url(BASE)
        auth = SmartBackendAuth(
            token_url=url,
            client_id="screen-client",
            kid="k1",
            private_key_pem=key.as_pem(private=True),
            clock=lambda: now[0],
        )
        assert auth.token() == "at-1"
        assert auth.token() == "at-1"  # cached
        now[0] += 250  # within 60 s of expiry: renewed
        assert auth.token() == "at-2"
        auth.invalidate()
        assert auth.token() == "at-3"
    form = posts[0]
    assert form["grant_type"] == ["client_credentials"]
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    assert "system/Observation.rs" in form["scope"][0]
    token = jwt.decode(form["client_assertion"][0], key, algorithms=["RS384"])
    assert token.header["alg"] == "RS384" and token.header["kid"] == "k1"
    claims = token.claims
    assert claims["iss"] == claims["sub"] == "screen-client"
    assert claims["aud"] == TOKEN_URL
    assert claims["exp"] - 1_800_000_000 == 300
    jtis = {
        jwt.decode(p["client_assertion"][0], key, algorithms=["RS384"]).claims["jti"] for p in posts
    }
    assert len(jtis) == 3  # a fresh jti each time
    assert not any("at-" in r.getMessage() for r in caplog.records)


def test_smart_backend_es384_and_refusal() -> None:
    key = jwk.ECKey.generate_key("P-384")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, TOKEN_URL, status=401, json={"error": "invalid_client"})
        auth = SmartBackendAuth(
            token_url=TOKEN_URL,
            client_id="c",
            alg="ES384",
            private_key_pem=key.as_pem(private=True),
        )
        assertion = auth.assertion()
        assert jwt.decode(assertion, key, algorithms=["ES384"]).claims["iss"] == "c"
        from cds_service.screening.auth import AuthError

        with pytest.raises(AuthError, match="HTTP 401"):
            auth.token()


def test_refused_search_and_bad_url_end_cleanly(server: MockServer, tmp_path: Path) -> None:
    server.fail(lambda u: "Condition?code=" in u, 400, 1)
    result = CliRunner().invoke(
        cli,
        [
            "screen",
            "--fhir-server",
            BASE,
            "--out",
            str(tmp_path / "r.csv"),
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 1
    assert "FHIR server: http-error: HTTP 400" in result.output
    bad = CliRunner().invoke(
        cli, ["screen", "--fhir-server", "ftp://x", "--out", str(tmp_path / "r.csv")]
    )
    assert bad.exit_code == 2 and "--fhir-server" in bad.output


def test_a_token_refused_for_every_patient_stops_the_run(
    server: MockServer, tmp_path: Path
) -> None:
    server.fail(lambda u: "Observation?patient=" in u, 403, 10**6)
    outcome = run_screen(
        ScreenConfig(
            fhir_server=BASE,
            as_of=AS_OF,
            workers=1,
            out=tmp_path / "r.csv",
            retry=RetryPolicy(sleep=lambda s: None),
        )
    )
    assert outcome.error == "FHIR server refused access (unauthorized)"
    assert outcome.summary.assessed == 0
