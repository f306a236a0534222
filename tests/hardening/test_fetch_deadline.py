"""Issue 10 row 4: a FHIR server that sends headers, then one byte every 0.5 s.

One wall-clock deadline covers every FHIR request of a hook, slow bodies and slow headers
included: when it passes, the sockets still in use are shut, so the fetching threads end and the
connections close, instead of living as long as the server keeps trickling.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from cds_service.fhir_client import Allowlist, FhirClient, FhirError, FhirLimits, new_session

from .helpers import HOOK_PATH, hook_body
from .servers import TricklingServer, wait_until

QUERIES = {
    "patient": "Patient/p1",
    "observations": "Observation?patient=p1",
    "conditions": "Condition?patient=p1",
    "procedures": "Procedure?patient=p1",
}


def _fetch_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("fhir_")]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("slow_headers", [False, True], ids=["slow-body", "slow-headers"])
def test_no_thread_or_socket_outlives_the_deadline(slow_headers: bool) -> None:
    with TricklingServer(slow_headers=slow_headers) as server:
        client = FhirClient(
            server.base,
            allowlist=Allowlist([server.base]),
            limits=FhirLimits(time_budget_s=1.0),
            session=new_session(8),
        )
        results = client.fetch_many(QUERIES)
        assert {k: getattr(r, "kind", r) for k, r in results.items()} == dict.fromkeys(
            QUERIES, "timeout"
        )
        assert server.accepted == len(QUERIES)
        # The trickle would go on for days; the client must hang up and its threads end.
        assert wait_until(lambda: server.open_connections == 0, 2.0), server.open_connections
        assert wait_until(lambda: not _fetch_threads(), 2.0), _fetch_threads()


@pytest.mark.timeout(60)
def test_a_single_search_in_the_callers_thread_ends_at_the_deadline() -> None:
    """The screen's path (no thread pool): the call itself returns at the deadline."""
    outcome: dict[str, Any] = {}

    def run(base: str) -> None:
        client = FhirClient(base, allowlist=Allowlist([base]), limits=FhirLimits(time_budget_s=1.0))
        try:
            client.search("Observation?patient=p1")
        except FhirError as exc:
            outcome["kind"] = exc.kind

    with TricklingServer() as server:
        caller = threading.Thread(target=run, args=(server.base,), daemon=True)
        caller.start()
        caller.join(timeout=5.0)
        assert not caller.is_alive(), "the search outlived its deadline"
        assert outcome == {"kind": "timeout"}
        assert wait_until(lambda: server.open_connections == 0, 2.0)


@pytest.mark.timeout(60)
def test_the_hook_answers_and_leaves_nothing_running(make_app: Callable[..., Flask]) -> None:
    with TricklingServer() as server:
        app = make_app(FHIR_SERVER_ALLOWLIST=[server.base], FHIR_TIME_BUDGET_S=1.0)
        body = hook_body("p1", fhirServer=server.base)
        with app.test_client() as client:
            response = client.post(HOOK_PATH, json=body)
        assert response.status_code == 200
        card = response.get_json()["cards"][0]
        assert "could not be completed" in card["summary"].lower() or "could not" in card["detail"]
        assert wait_until(lambda: server.open_connections == 0, 2.0), server.open_connections
        assert wait_until(lambda: not _fetch_threads(), 2.0)


@pytest.mark.timeout(60)
def test_after_a_quick_fetch_nothing_waits_for_the_deadline() -> None:
    """The watchdog thread lives only while a request is in flight, not until the budget ends."""
    from cds_service.fhir_fixture_server import FixtureFhirServer

    patient = {"resourceType": "Patient", "id": "p1"}
    with FixtureFhirServer([patient], token="t", page_size=5) as fhir:
        client = FhirClient(
            fhir.base_url,
            allowlist=Allowlist([fhir.base_url]),
            token="t",
            limits=FhirLimits(time_budget_s=30.0),
            session=new_session(4),
        )
        results = client.fetch_many({"patient": "Patient/p1", "conditions": "Condition?patient=p1"})
        assert not any(isinstance(r, FhirError) for r in results.values())

        def busy() -> list[str]:
            return [
                t.name
                for t in threading.enumerate()
                if t.name.startswith("fhir_") or t.name == "deadline-watchdog"
            ]

        assert wait_until(lambda: not busy(), 2.0), busy()  # long before the 30 s budget
