"""A small, defensive FHIR R4 REST client for the hook (and the population screen).

- Only base URLs on an allow-list are ever contacted: a CDS client's ``fhirServer`` is untrusted
  input (no SSRF). Every URL fetched (reads, searches, ``Bundle.link`` "next" pages) is put in
  canonical form, dot segments resolved, and must stay under the normalised base
  (``cds_service.fhir_url``); redirects are not followed.
- One wall-clock deadline for all requests of a call, slow bodies included: when it passes, the
  sockets of the requests still running are shut down (``Deadline``), so no thread or connection
  outlives the call (a server that sends one byte every half second cannot hold a thread).
- Searches run in parallel, every page followed; response bodies over a size limit and records
  over a resource count are refused while streaming, before they are parsed.
- The bearer token is sent and never stored or logged; errors carry no patient data.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Literal
from urllib.parse import urljoin

import orjson
import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from cds_service.fhir_url import FhirUrlError, canonical_url, is_under, normalize_fhir_server

ErrorKind = Literal[
    "not-allowed", "unauthorized", "unreachable", "timeout", "http-error", "malformed", "too-large"
]

FHIR_JSON = "application/fhir+json"


class FhirError(Exception):
    """A FHIR server could not give what was asked. ``kind`` says why; no patient data inside."""

    def __init__(
        self,
        kind: ErrorKind,
        detail: str = "",
        status: int | None = None,
        retry_after_s: float | None = None,
    ) -> None:
        self.kind = kind
        self.detail = detail
        self.status = status
        self.retry_after_s = retry_after_s  # a 429/503's Retry-After, in seconds, when given
        super().__init__(f"{kind}: {detail}" if detail else kind)


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as delta-seconds (the HTTP-date form is not honoured: None)."""
    if value is None or not value.strip().isdigit():
        return None
    return float(value.strip())


@dataclass(frozen=True, slots=True)
class FhirLimits:
    time_budget_s: float = 2.0  # total, for every request of one call
    max_response_bytes: int = 20 * 1024 * 1024
    max_pages: int = 100  # per search
    max_workers: int = 6
    page_size: int | None = 200  # _count added to searches that do not set it
    max_resources: int | None = None  # for every search of one client together

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> FhirLimits:
        return cls(
            time_budget_s=float(config["FHIR_TIME_BUDGET_S"]),
            max_response_bytes=int(config["FHIR_MAX_RESPONSE_BYTES"]),
            max_pages=int(config["FHIR_MAX_PAGES"]),
            max_workers=int(config["FHIR_MAX_WORKERS"]),
            page_size=config.get("FHIR_PAGE_SIZE"),
            max_resources=config.get("MAX_RESOURCES_PER_PATIENT"),
        )


normalize_base = normalize_fhir_server  # the name the screen and older callers use


class Allowlist:
    """The FHIR base URLs this service may call, compared after normalisation (exact match)."""

    def __init__(self, urls: Iterable[str]) -> None:
        self._bases = frozenset(normalize_base(u) for u in urls)

    def allows(self, base_url: str | None) -> bool:
        if not base_url:
            return False
        try:
            return normalize_base(base_url) in self._bases
        except ValueError:
            return False

    def __bool__(self) -> bool:
        return bool(self._bases)


class Deadline:
    """One wall-clock time budget for every request of a call.

    Per-read socket timeouts cannot bound a body that trickles in one byte at a time, so the
    connections in use under a deadline are tracked (``_DeadlinePool``), and when it passes the
    watchdog thread (or ``expire()``) shuts their sockets down: every blocked read returns at once,
    and the threads doing them finish.
    """

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._open: set[Any] = set()  # urllib3 connections
        self._expired = False
        self._scheduled = False

    def remaining(self) -> float:
        return self.end - time.monotonic()

    @property
    def expired(self) -> bool:
        return self._expired

    def check(self) -> float:
        left = self.remaining()
        if left <= 0 or self._expired:
            raise FhirError("timeout", "time budget spent")
        return left

    def track(self, conn: Any) -> None:
        with self._lock:
            if not self._expired:
                self._open.add(conn)
                if not self._scheduled:
                    self._scheduled = True
                    _WATCHDOG.schedule(self)
                return
        _shut(conn)

    def untrack(self, conn: Any) -> None:
        with self._lock:  # (lock order everywhere: the deadline's, then the watchdog's)
            self._open.discard(conn)
            if not self._open and self._scheduled:  # nothing in flight: no need to watch
                self._scheduled = False
                _WATCHDOG.cancel(self)

    def expire(self) -> None:
        """The budget is spent: shut every connection still in use under it."""
        with self._lock:
            self._expired = True
            conns, self._open = list(self._open), set()
        for conn in conns:
            _shut(conn)


def _shut(conn: Any) -> None:
    sock = getattr(conn, "sock", None)
    if sock is not None:
        with contextlib.suppress(OSError):  # wakes a thread blocked in recv; urllib3 then closes
            sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """Expires deadlines that have connections in use, at their end. One thread, started when a
    deadline is scheduled and ended as soon as no request is in flight under any deadline."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Deadline]] = []
        self._order = itertools.count()
        self._running = False

    def schedule(self, deadline: Deadline) -> None:
        with self._cond:
            heapq.heappush(self._heap, (deadline.end, next(self._order), deadline))
            if not self._running:
                self._running = True
                threading.Thread(target=self._run, name="deadline-watchdog", daemon=True).start()
            self._cond.notify()

    def cancel(self, deadline: Deadline) -> None:
        with self._cond:
            kept = [entry for entry in self._heap if entry[2] is not deadline]
            if len(kept) != len(self._heap):
                heapq.heapify(kept)
                self._heap = kept
                self._cond.notify()

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._heap:
                    self._running = False
                    return
                end, _, deadline = self._heap[0]
                delay = end - time.monotonic()
                if delay > 0:
                    self._cond.wait(delay)
                    continue
                heapq.heappop(self._heap)
            deadline.expire()


_WATCHDOG = _Watchdog()
_current = threading.local()  # the deadline of the request this thread is making


def _current_deadline() -> Deadline | None:
    deadline: Deadline | None = getattr(_current, "deadline", None)
    return deadline


class _TrackedHTTPConnection(HTTPConnection):
    def connect(self) -> None:
        super().connect()
        deadline = _current_deadline()
        if deadline is not None and deadline.expired:  # connected just after the end
            _shut(self)


class _TrackedHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        deadline = _current_deadline()
        if deadline is not None and deadline.expired:
            _shut(self)


class _DeadlinePool(HTTPConnectionPool):
    """A connection taken from the pool is tracked by the deadline of the thread's request
    until it is given back (after the body is read, or on error)."""

    ConnectionCls = _TrackedHTTPConnection

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)
        deadline = _current_deadline()
        if deadline is not None:
            deadline.track(conn)
        return conn

    def _put_conn(self, conn: Any) -> None:
        deadline = _current_deadline()
        if deadline is not None and conn is not None:
            deadline.untrack(conn)
        super()._put_conn(conn)


class _DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _TrackedHTTPSConnection
    _get_conn = _DeadlinePool._get_conn
    _put_conn = _DeadlinePool._put_conn


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlinePool,
            "https": _DeadlineHTTPSPool,
        }


class FhirClient:
    """Reads and searches on one allow-listed FHIR server. Thread-safe for parallel searches."""

    def __init__(
        self,
        base_url: str,
        *,
        allowlist: Allowlist,
        token: str | None = None,
        limits: FhirLimits | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if not allowlist.allows(base_url):
            raise FhirError("not-allowed", "FHIR server is not on the allow-list")
        self.base = normalize_fhir_server(base_url)
        self.limits = limits or FhirLimits()
        self._token = token
        self._session = session or new_session(self.limits.max_workers)
        self._count_lock = threading.Lock()
        self._resources = 0  # fetched by every search of this client (MAX_RESOURCES_PER_PATIENT)

    def close(self) -> None:
        self._session.close()

    def __enter__(self) -> FhirClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- single requests -------------------------------------------------------------------------

    def url_for(self, relative: str) -> str:
        return f"{self.base}/{relative.lstrip('/')}"

    def on_base(self, url: str) -> str:
        """The canonical form of ``url`` (dot segments resolved), which must lie under the base;
        FhirError ``not-allowed`` otherwise. What is checked is what is fetched."""
        try:
            target = canonical_url(url)
        except FhirUrlError as exc:
            raise FhirError("not-allowed", f"unusable URL: {exc}") from exc
        if not is_under(target, self.base):
            raise FhirError("not-allowed", "URL off the FHIR server's base")
        return target

    def get_json(self, url: str, deadline: Deadline) -> dict[str, Any]:
        """GET one absolute URL on this server, within the deadline and the size limit."""
        target = self.on_base(url)
        left = deadline.check()
        headers = {"Accept": FHIR_JSON}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        _current.deadline = deadline
        try:
            try:
                response = self._session.get(
                    target,
                    headers=headers,
                    timeout=(min(left, 5.0), left),
                    stream=True,
                    allow_redirects=False,  # a redirect could leave the allow-listed base
                )
            except requests.RequestException as exc:
                raise _request_error(exc, deadline) from exc
            with response:
                status = response.status_code
                if status in (401, 403):
                    raise FhirError("unauthorized", f"HTTP {status}", status)
                if status != 200:
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    raise FhirError("http-error", f"HTTP {status}", status, wait)
                body = self._read_body(response, deadline)
        finally:
            _current.deadline = None
        deadline.check()  # a body cut short by the deadline must never be parsed as complete
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise FhirError("malformed", "response is not JSON") from exc
        if not isinstance(data, dict) or not isinstance(data.get("resourceType"), str):
            raise FhirError("malformed", "response is not a FHIR resource")
        return data

    def _read_body(self, response: requests.Response, deadline: Deadline) -> bytes:
        limit = self.limits.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise FhirError("too-large", "response larger than the configured limit")
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(chunk_size=65536):
                size += len(chunk)
                if size > limit:
                    raise FhirError("too-large", "response larger than the configured limit")
                chunks.append(chunk)
                deadline.check()
        except requests.RequestException as exc:
            raise _request_error(exc, deadline) from exc
        return b"".join(chunks)

    def read(self, relative: str, deadline: Deadline | None = None) -> dict[str, Any]:
        """``Type/id``: the resource, which must be that type with that id."""
        resource = self.get_json(self.url_for(relative), deadline or self.deadline())
        if resource["resourceType"] == "OperationOutcome":
            raise FhirError("malformed", "OperationOutcome instead of the resource")
        rtype, _, rid = relative.partition("?")[0].partition("/")
        if resource["resourceType"] != rtype or (rid and resource.get("id") != rid):
            raise FhirError("malformed", "the read returned another resource")
        return resource

    # -- searches --------------------------------------------------------------------------------

    def with_count(self, relative: str) -> str:
        size = self.limits.page_size
        if not size or "?" not in relative or "_count=" in relative:
            return relative
        return f"{relative}&_count={size}"

    def search(self, relative: str, deadline: Deadline | None = None) -> list[dict[str, Any]]:
        """Every resource a search returns, across all its pages (searchset entries, in order)."""
        deadline = deadline or self.deadline()
        url: str | None = self.url_for(self.with_count(relative))
        seen: set[str] = set()
        resources: list[dict[str, Any]] = []
        pages = 0
        while url:
            if url in seen:  # a "next" link that loops back: the result can never be complete
                raise FhirError("malformed", "Bundle next links loop")
            seen.add(url)
            pages += 1
            if pages > self.limits.max_pages:
                raise FhirError("too-large", "more pages than the configured limit")
            bundle = self.get_json(url, deadline)
            found = bundle_resources(bundle)
            self._count(len(found))
            resources.extend(found)
            url = next_link(bundle, url)
        return resources

    def _count(self, n: int) -> None:
        limit = self.limits.max_resources
        if limit is None:
            return
        with self._count_lock:
            self._resources += n
            over = self._resources > limit
        if over:
            raise FhirError("too-large", f"more than {limit} resources (MAX_RESOURCES_PER_PATIENT)")

    def fetch(self, relative: str, deadline: Deadline) -> list[dict[str, Any]]:
        """A search (``Type?...``) or a read (``Type/id``) as a list of resources."""
        if "?" in relative:
            return self.search(relative, deadline)
        return [self.read(relative, deadline)]

    def fetch_many(
        self, queries: Mapping[str, str], deadline: Deadline | None = None
    ) -> dict[str, list[dict[str, Any]] | FhirError]:
        """Run the queries in parallel within one time budget; each key gets resources or its error.

        Never waits past the budget: queries still running then are reported as ``timeout``.
        """
        deadline = deadline or self.deadline()
        results: dict[str, list[dict[str, Any]] | FhirError] = {}
        if not queries:
            return results
        pool = ThreadPoolExecutor(
            max_workers=min(len(queries), self.limits.max_workers),
            thread_name_prefix="fhir",
        )
        try:
            futures = {pool.submit(self.fetch, q, deadline): key for key, q in queries.items()}
            done, pending = wait(futures, timeout=max(deadline.remaining(), 0))
            if pending:
                deadline.expire()  # their sockets are shut: the threads end now, not later
            for future, key in futures.items():
                if future not in done:
                    results[key] = FhirError("timeout", "time budget spent")
                    continue
                exc = future.exception()
                if exc is None:
                    results[key] = future.result()
                elif isinstance(exc, FhirError):
                    results[key] = exc
                else:  # a bug or an unexpected library error: reported as such, never raised
                    results[key] = FhirError("malformed", type(exc).__name__)
        finally:
            pool.shutdown(wait=False, cancel_futures=True)
        return results

    def deadline(self) -> Deadline:
        """A fresh time budget (``FhirLimits.time_budget_s``) for one call's requests."""
        return Deadline(self.limits.time_budget_s)


def new_session(pool_size: int) -> requests.Session:
    """A connection pool for FHIR calls: no proxies or netrc from the environment, no cookies
    (a shared pool must carry no state from one patient's call to the next)."""
    session = requests.Session()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    adapter = _DeadlineAdapter(pool_connections=2, pool_maxsize=max(pool_size, 2))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _request_error(exc: requests.RequestException, deadline: Deadline) -> FhirError:
    if deadline.expired or isinstance(exc, requests.Timeout):
        return FhirError("timeout", "FHIR server did not answer in time")
    return FhirError("unreachable", type(exc).__name__)


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of a searchset Bundle, without OperationOutcome entries (mode "outcome")."""
    if bundle.get("resourceType") != "Bundle":
        raise FhirError("malformed", "search did not return a Bundle")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise FhirError("malformed", "Bundle.entry is not a list")
    out: list[dict[str, Any]] = []
    for entry in entries:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
            raise FhirError("malformed", "Bundle entry without a resource")
        search = entry.get("search")
        if isinstance(search, dict) and search.get("mode") == "outcome":
            continue
        out.append(resource)
    return out


def next_link(bundle: dict[str, Any], current_url: str) -> str | None:
    links = bundle.get("link") or []
    if not isinstance(links, list):
        raise FhirError("malformed", "Bundle.link is not a list")
    for link in links:
        if isinstance(link, dict) and link.get("relation") == "next":
            url = link.get("url")
            if not isinstance(url, str) or not url:
                raise FhirError("malformed", "Bundle next link without a URL")
            return urljoin(current_url, url)
    return None


def fetch_patient_resources(
    base_url: str,
    patient_id: str,
    *,
    allowlist: Allowlist,
    token: str | None = None,
    limits: FhirLimits | None = None,
    queries: Mapping[str, str] | None = None,
    session: requests.Session | None = None,
) -> list[dict[str, Any]]:
    """Everything the eligibility engine needs about one patient, fetched in parallel.

    ``queries`` default to the CDS service's prefetch templates. Raises ``FhirError`` (the first
    failure) when any query fails: an incomplete record must never be assessed, since absence of
    a diagnosis would read as "not-met".
    """
    if queries is None:
        from cds_service.hooks.templates import patient_queries

        queries = patient_queries(patient_id)
    client = FhirClient(base_url, allowlist=allowlist, token=token, limits=limits, session=session)
    with client:
        results = client.fetch_many(queries)
    resources: list[dict[str, Any]] = []
    for key in queries:
        result = results[key]
        if isinstance(result, FhirError):
            raise result
        resources.extend(result)
    return dedupe(resources)


def dedupe(resources: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Drop repeated resources (same type and id; the last copy wins, e.g. _include overlaps)."""
    by_key: dict[tuple[str, str], dict[str, Any]] = {}
    anonymous: list[dict[str, Any]] = []
    for resource in resources:
        rid = resource.get("id")
        if isinstance(rid, str) and rid:
            by_key[(resource["resourceType"], rid)] = resource
        else:
            anonymous.append(resource)
    return [*by_key.values(), *anonymous]
