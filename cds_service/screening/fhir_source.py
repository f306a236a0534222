"""The FHIR-server source: find the patients worth assessing by search, then fetch each one.

1. *Discover*: ``Condition?code=<IgG4-RD codes>`` and ``Observation?code=<IgG4 codes>`` (the same
   ``Selection`` tokens the bulk path filters on), every page; their subjects are the patients.
2. *Fetch*: each patient's data with the CDS service's own client (``fhir_client``, allow-listed to
   the one configured server) and its patient queries, unnarrowed so the engine sees what a bulk
   export would hold; ``concurrency`` patients at a time, handed on in patient order.

Retries: a 429, a 5xx, a timeout or a refused connection is retried with exponential back-off and
jitter (``RetryPolicy``). When the server stays unreachable, ``ServerUnreachable`` ends the run; the
caller keeps what was done (the output and the journal are written batch by batch).
"""

from __future__ import annotations

import random
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cds_service.fhir_client import (
    Allowlist,
    FhirClient,
    FhirError,
    FhirLimits,
    fetch_patient_resources,
)
from cds_service.hooks.templates import patient_queries
from cds_service.screening.auth import StaticToken, TokenProvider
from cds_service.screening.model import PatientGroup, SourceIssue, SourceStats
from cds_service.screening.records import Selection, patient_key

RETRYABLE_STATUS = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


class ServerUnreachable(Exception):
    """The FHIR server kept failing after every retry. The message names no patient."""


def screen_queries(pid: str) -> dict[str, str]:
    """The CDS service's patient queries, unnarrowed (all Observations, as a bulk export holds
    them), with the ResearchStudy of each ResearchSubject included, as the bulk path attaches it."""
    queries = patient_queries(pid, observations_by_code=False)
    return {
        key: f"{q}&_include=ResearchSubject:study" if q.startswith("ResearchSubject?") else q
        for key, q in queries.items()
    }


def retryable(exc: FhirError) -> bool:
    if exc.kind in ("unreachable", "timeout"):
        return True
    return exc.kind == "http-error" and exc.status in RETRYABLE_STATUS


@dataclass(slots=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    rng: random.Random = field(default_factory=random.Random)
    retries_done: int = 0

    def delay(self, attempt: int) -> float:
        """Exponential back-off with full jitter: 0.5, 1, 2, 4 ... seconds, capped."""
        return float(min(self.max_delay, self.base_delay * 2**attempt)) * (
            0.5 + self.rng.random() / 2
        )

    def call(self, what: str, fn: Callable[[], T], auth: TokenProvider | None = None) -> T:
        renewed = False
        for attempt in range(self.attempts):
            try:
                return fn()
            except FhirError as exc:
                if exc.kind == "unauthorized" and auth is not None and not renewed:
                    auth.invalidate()  # an expired token: renew once, at once
                    renewed = True
                    continue
                if not retryable(exc):
                    raise
                if attempt == self.attempts - 1:
                    raise ServerUnreachable(
                        f"FHIR server failed {self.attempts} times on {what} "
                        f"({exc.kind}{f' HTTP {exc.status}' if exc.status else ''})"
                    ) from exc
                self.retries_done += 1
                wait = self.delay(attempt)
                if exc.retry_after_s is not None:  # the server said how long: honour it (capped)
                    wait = min(self.max_delay, max(wait, exc.retry_after_s))
                self.sleep(wait)
        raise ServerUnreachable(f"FHIR server refused {what} after renewing the token")


class FhirServerSource:
    def __init__(
        self,
        base_url: str,
        selection: Selection,
        *,
        auth: TokenProvider | None = None,
        concurrency: int = 4,
        retry: RetryPolicy | None = None,
        page_size: int = 200,
        request_budget_s: float = 120.0,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.allowlist = Allowlist([self.base_url])
        self.selection = selection
        self.auth = auth or StaticToken(None)
        self.concurrency = max(1, concurrency)
        self.retry = retry or RetryPolicy()
        self.limits = FhirLimits(
            time_budget_s=request_budget_s,
            max_pages=1_000_000,
            max_workers=8,
            page_size=page_size,
            max_response_bytes=256 * 1024 * 1024,
        )
        self.stats = SourceStats()
        self.issues: list[SourceIssue] = []
        self._ids: list[str] = []

    # ----- discovery ---------------------------------------------------------------------------
    def _search(self, query: str) -> list[dict[str, Any]]:
        def once() -> list[dict[str, Any]]:
            with FhirClient(
                self.base_url, allowlist=self.allowlist, token=self.auth.token(), limits=self.limits
            ) as client:
                return client.search(query)

        return self.retry.call(query.split("?", 1)[0] + " search", once, self.auth)

    def discover(self, done: set[str] | None = None) -> SourceStats:
        keys: set[str] = set()
        for rtype in ("Condition", "Observation"):
            param = self.selection.search_param(rtype)
            if not param:
                continue
            for resource in self._search(f"{rtype}?code={param}"):
                ref = resource.get("subject")
                key = patient_key(ref.get("reference") if isinstance(ref, dict) else None)
                if key is None:
                    self.stats.unlinked += 1
                else:
                    keys.add(key)
        self.stats.patients = self.stats.selected = len(keys)
        todo = sorted(keys - (done or set()))
        self.stats.already_done = len(keys) - len(todo)
        self._ids = [k.removeprefix("Patient/") for k in todo]
        return self.stats

    # ----- per patient -------------------------------------------------------------------------
    def _fetch(self, pid: str) -> PatientGroup | None:
        def once() -> list[dict[str, Any]]:
            return fetch_patient_resources(
                self.base_url,
                pid,
                allowlist=self.allowlist,
                token=self.auth.token(),
                limits=self.limits,
                queries=screen_queries(pid),
            )

        try:
            resources = self.retry.call("a patient's data", once, self.auth)
        except FhirError as exc:
            if exc.kind in ("unauthorized", "not-allowed"):  # every patient would fail alike
                raise ServerUnreachable(f"FHIR server refused access ({exc.kind})") from exc
            # not retryable (404, malformed, too large): this patient only
            self.issues.append(
                SourceIssue("FHIR server", None, f"a patient not fetched: {exc.kind}")
            )
            return None
        return PatientGroup(f"Patient/{pid}", tuple(resources))

    def groups(self) -> Iterator[PatientGroup]:
        """Each discovered patient's resources, ``concurrency`` fetches in flight, in order."""
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="screen-fetch") as pool:
            window: deque[Future[PatientGroup | None]] = deque()
            try:
                for pid in self._ids:
                    window.append(pool.submit(self._fetch, pid))
                    while len(window) >= self.concurrency * 2:
                        yield from self._take(window.popleft())
                while window:
                    yield from self._take(window.popleft())
            finally:
                for f in window:
                    f.cancel()

    def _take(self, future: Future[PatientGroup | None]) -> Iterable[PatientGroup]:
        group = future.result()  # ServerUnreachable propagates: the run stops here
        if group is None:
            return ()
        for r in group.resources:
            if isinstance(r, dict):
                rtype = str(r.get("resourceType"))
                self.stats.resources[rtype] = self.stats.resources.get(rtype, 0) + 1
        return (group,)
