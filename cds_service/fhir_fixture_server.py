"""A read-only FHIR R4 server over fixture Bundles: real HTTP on loopback, in a background thread.

For the demo, end-to-end tests and benchmarks (of this and other parts of the project)::

    with FixtureFhirServer.from_directory("fixtures/patients", token="t") as server:
        base = server.base_url          # http://127.0.0.1:PORT/fhir
        requests.get(f"{base}/Observation?patient=p1&code=http://loinc.org|2469-5",
                     headers={"Authorization": "Bearer t"})

Supports ``GET /metadata``, ``GET /{type}/{id}``, ``GET /{type}?...`` and ``POST /{type}/_search``
(form-encoded body, as browser CDS clients send) with ``patient`` /
``subject`` / ``individual`` (with or without "Patient/"), ``code`` and ``category`` (token,
comma-separated OR, ``system|code``, ``code`` or ``system|``), ``_id``, ``status``, ``_include``
(``Type:param``, e.g. ``MedicationRequest:medication``), ``date`` on ``effective[x]`` (prefixes ``eq``,
``ge``, ``gt``, ``le``, ``lt``; day precision) and ``date:missing``, ``_count`` and paging by ``Bundle.link``
"next" (``page_size`` is the default and the largest page: real servers cap ``_count`` too).
``urn:uuid:`` references of transaction Bundles are rewritten to ``Type/id`` on loading, as a server
does when it stores a transaction. With a ``token``, every
request but ``/metadata`` (and CORS preflights) needs ``Authorization: Bearer <token>`` (else 401);
without one the server is open, as a browser EHR client such as the CDS Hooks sandbox needs.

For browser clients: CORS headers on every response and ``OPTIONS`` preflights; every request body
is read (bounded) before answering, so a keep-alive connection stays in step after a ``POST``. With
a ``launch_authority`` (the test EHR), ``POST /_services/smart/Launch`` registers a SMART launch
context (body ``{"launchUrl", "parameters": {"patient"}}``, answer ``{"launch_id"}``, the sandbox's
protocol) and ``/.well-known/smart-configuration`` names the authority's endpoints, so a card's SMART
link launches the app with the patient in context. ``page_delay_s`` slows every search page (for
measuring slow servers). Nothing is logged.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from cds_service.loopback import ThreadedHttpServer

_PATIENT_PARAMS = ("patient", "subject", "individual", "beneficiary")
_PATIENT_FIELDS = ("subject", "patient", "individual", "beneficiary")
_CODE_FIELDS = ("code", "medicationCodeableConcept", "vaccineCode")
FHIR_JSON = "application/fhir+json; charset=utf-8"
MAX_BODY_BYTES = 1024 * 1024  # a search form or a launch request is small; more is refused (413)
LAUNCH_PATH = "_services/smart/Launch"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",  # no cookies are used: a bearer token, if any, is explicit
    "Access-Control-Expose-Headers": "Location, Content-Location, ETag, Last-Modified",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Authorization, Content-Type, Accept, Prefer, If-None-Exist",
    "Access-Control-Max-Age": "600",
}


class LaunchAuthority(Protocol):
    """What serves SMART launches for this FHIR server (the test EHR's authorization server)."""

    def new_launch(self, patient_id: str) -> str: ...

    def smart_configuration(self) -> dict[str, Any]: ...


def _rewrite_refs(node: Any, mapping: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str) and value in mapping:
                out[key] = mapping[value]
            else:
                out[key] = _rewrite_refs(value, mapping)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, mapping) for v in node]
    return node


def bundle_resources(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    """The resources of any Bundle, with ``urn:uuid`` references resolved to ``Type/id``."""
    entries = [e for e in bundle.get("entry") or [] if isinstance(e.get("resource"), dict)]
    mapping = {
        e["fullUrl"]: f"{e['resource']['resourceType']}/{e['resource']['id']}"
        for e in entries
        if isinstance(e.get("fullUrl"), str) and e["resource"].get("id")
    }
    return [_rewrite_refs(e["resource"], mapping) for e in entries]


def _ref_id(reference: str) -> str:
    return reference.rstrip("/").split("/")[-1]


def _tokens(value: str) -> list[tuple[str | None, str | None]]:
    out: list[tuple[str | None, str | None]] = []
    for part in value.split(","):
        if "|" in part:
            system, code = part.split("|", 1)
            out.append((system or None, code or None))
        else:
            out.append((None, part))
    return out


def _codings(concept: Any) -> list[dict[str, Any]]:
    concepts = concept if isinstance(concept, list) else [concept]
    found: list[dict[str, Any]] = []
    for c in concepts:
        if isinstance(c, dict):
            found.extend(x for x in c.get("coding") or [] if isinstance(x, dict))
    return found


def _token_match(
    codings: list[dict[str, Any]], wanted: list[tuple[str | None, str | None]]
) -> bool:
    for coding in codings:
        for system, code in wanted:
            if (system is None or coding.get("system") == system) and (
                code is None or coding.get("code") == code
            ):
                return True
    return False


_DATE_PREFIXES = ("eq", "ge", "gt", "le", "lt")


def _effective_range(resource: dict[str, Any]) -> tuple[str, str] | None:
    """(first day, last day) of ``effective[x]`` as ISO dates; None when it is absent."""
    for key in ("effectiveDateTime", "effectiveInstant"):
        value = resource.get(key)
        if isinstance(value, str) and value:
            day = value[:10]
            return day, day
    period = resource.get("effectivePeriod")
    if isinstance(period, dict) and (period.get("start") or period.get("end")):
        start, end = (
            str(period.get("start") or "0001-01-01"),
            str(period.get("end") or "9999-12-31"),
        )
        return start[:10], end[:10]
    if isinstance(resource.get("effectiveTiming"), dict):
        return "0001-01-01", "9999-12-31"  # outer limits unknown here: matches any range
    return None


def _date_match(resource: dict[str, Any], name: str, value: str) -> bool:
    span = _effective_range(resource)
    if name.endswith(":missing"):
        return (span is None) == (value == "true")
    if span is None:
        return False
    prefix, day = (value[:2], value[2:]) if value[:2] in _DATE_PREFIXES else ("eq", value)
    first, last = span
    return {
        "eq": first <= day <= last,
        "ge": last >= day,
        "gt": last > day,
        "le": first <= day,
        "lt": first < day,
    }[prefix]


class _Index:
    def __init__(self, resources: Iterable[dict[str, Any]]) -> None:
        self.by_type: dict[str, dict[str, dict[str, Any]]] = {}
        for resource in resources:
            rtype, rid = resource.get("resourceType"), resource.get("id")
            if isinstance(rtype, str) and isinstance(rid, str):
                self.by_type.setdefault(rtype, {})[rid] = resource

    def search(self, rtype: str, params: list[tuple[str, str]]) -> list[dict[str, Any]]:
        found = list(self.by_type.get(rtype, {}).values())
        for name, value in params:
            base = name.split(":", 1)[0]
            if base in _PATIENT_PARAMS:
                pid = _ref_id(value)
                found = [r for r in found if self._patient_of(r) == pid]
            elif base == "_id":
                ids = set(value.split(","))
                found = [r for r in found if r.get("id") in ids]
            elif base == "status":
                statuses = set(value.split(","))
                found = [r for r in found if r.get("status") in statuses]
            elif base == "date":
                found = [r for r in found if _date_match(r, name, value)]
            elif base in ("code", "category"):
                wanted = _tokens(value)
                fields = _CODE_FIELDS if base == "code" else ("category",)
                found = [
                    r
                    for r in found
                    if any(_token_match(_codings(r.get(f)), wanted) for f in fields)
                ]
        return found

    def included(
        self, page: list[dict[str, Any]], rtype: str, includes: list[str]
    ) -> list[dict[str, Any]]:
        """``_include=Type:param``: what the page's references (``param`` or ``paramReference``)
        point to, each once."""
        found: dict[tuple[str, str], dict[str, Any]] = {}
        for spec in includes:
            source, _, param = spec.partition(":")
            if source not in (rtype, "*") or not param:
                continue
            for resource in page:
                for field in (param, f"{param}Reference"):
                    refs = resource.get(field)
                    for ref in refs if isinstance(refs, list) else [refs]:
                        target = ref.get("reference") if isinstance(ref, dict) else None
                        if not isinstance(target, str) or target.count("/") != 1:
                            continue
                        ttype, tid = target.split("/")
                        hit = self.by_type.get(ttype, {}).get(tid)
                        if hit is not None:
                            found[(ttype, tid)] = hit
        return list(found.values())

    @staticmethod
    def _patient_of(resource: dict[str, Any]) -> str | None:
        if resource.get("resourceType") == "Patient":
            rid = resource.get("id")
            return rid if isinstance(rid, str) else None
        for name in _PATIENT_FIELDS:
            ref = resource.get(name)
            if isinstance(ref, dict) and isinstance(ref.get("reference"), str):
                return _ref_id(ref["reference"])
        return None


class FixtureFhirServer:
    BASE_PATH = "/fhir"

    def __init__(
        self,
        resources: Iterable[dict[str, Any]],
        *,
        token: str | None = None,
        page_size: int = 50,
        host: str = "127.0.0.1",
        port: int = 0,
        launch_authority: LaunchAuthority | None = None,
        page_delay_s: float = 0.0,
    ) -> None:
        self.index = _Index(resources)
        self.token = token
        self.page_size = page_size
        self.launch_authority = launch_authority
        self.page_delay_s = page_delay_s
        self.launches: list[dict[str, Any]] = []  # for tests: the launch requests registered
        self.host = host
        self.port = port
        self.requests_served = 0  # for tests: how often the server was asked
        self._lock = threading.Lock()
        self._server = ThreadedHttpServer(host, port, "fixture-fhir")

    @classmethod
    def from_directory(cls, path: str | Path, **kwargs: Any) -> FixtureFhirServer:
        resources: list[dict[str, Any]] = []
        for file in sorted(Path(path).glob("*.json")):
            if file.name.endswith(".expected.json"):
                continue
            data = orjson.loads(file.read_bytes())
            if isinstance(data, dict) and data.get("resourceType") == "Bundle":
                resources.extend(bundle_resources(data))
        return cls(resources, **kwargs)

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._server.server_port}{self.BASE_PATH}"

    def start(self) -> str:
        self._server.start(type("Handler", (_Handler,), {"fixture": self}))
        return self.base_url

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> FixtureFhirServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _count(self) -> None:
        with self._lock:
            self.requests_served += 1


def _outcome(code: str, text: str) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": code, "diagnostics": text}],
    }


class _Handler(BaseHTTPRequestHandler):
    fixture: FixtureFhirServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers
    # Headers and body go out in two writes: without TCP_NODELAY, Nagle's algorithm and delayed
    # ACKs add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True
    server_version = "igg4-cds-fixture-fhir"

    def log_message(self, format: str, *args: Any) -> None:  # URLs name patients: never logged
        return

    def _send(
        self, status: int, body: dict[str, Any] | None, extra: dict[str, str] | None = None
    ) -> None:
        payload = orjson.dumps(body) if body is not None else b""
        try:
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", FHIR_JSON)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in {**CORS_HEADERS, **(extra or {})}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (its deadline)
            self.close_connection = True

    def _read_body(self) -> bytes | None:
        """The request body, always read whole so the next request on this connection starts
        where it should; None (and an error answered, connection closed) when it cannot be."""
        close = {"Connection": "close"}  # the body stays unread: this connection cannot go on
        if self.headers.get("Transfer-Encoding"):
            self._send(411, _outcome("not-supported", "send a Content-Length"), close)
            return None
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self._send(400, _outcome("invalid", "bad Content-Length"), close)
            return None
        length = int(declared)
        if length > MAX_BODY_BYTES:
            self._send(413, _outcome("too-costly", "request body too large"), close)
            return None
        return self.rfile.read(length) if length else b""

    def _segments(self) -> list[str] | None:
        path = urlsplit(self.path).path
        if not path.startswith(self.fixture.BASE_PATH + "/"):
            return None
        return [s for s in path[len(self.fixture.BASE_PATH) + 1 :].split("/") if s]

    def _authorized(self) -> bool:
        token = self.fixture.token
        if token and self.headers.get("Authorization") != f"Bearer {token}":
            self._send(
                401,
                _outcome("login", "bearer token required"),
                {"WWW-Authenticate": 'Bearer realm="fixture-fhir"'},
            )
            return False
        return True

    def do_OPTIONS(self) -> None:  # CORS preflight: no token, nothing but headers
        if self._read_body() is None:
            return
        self._send(204, None, PREFLIGHT_HEADERS)

    def _refuse(self) -> None:
        if self._read_body() is None:
            return
        self._send(405, _outcome("not-supported", "read-only server"))

    do_PUT = do_DELETE = do_PATCH = _refuse

    def do_POST(self) -> None:
        server = self.fixture
        body = self._read_body()
        if body is None:
            return
        server._count()
        segments = self._segments()
        if segments == LAUNCH_PATH.split("/"):
            if self._authorized():
                self._launch(body)
            return
        if segments is None or len(segments) != 2 or segments[1] != "_search":
            self._send(405, _outcome("not-supported", "read-only server"))
            return
        if not segments[0][:1].isupper():
            self._send(404, _outcome("not-found", "unknown path"))
            return
        ctype = (self.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if body and ctype != "application/x-www-form-urlencoded":
            self._send(415, _outcome("not-supported", "_search takes a form-encoded body"))
            return
        if not self._authorized():
            return
        try:
            form = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
        except UnicodeDecodeError:
            self._send(400, _outcome("invalid", "body is not UTF-8"))
            return
        query = parse_qsl(urlsplit(self.path).query, keep_blank_values=True)
        self._search(segments[0], [*query, *form])

    def do_GET(self) -> None:
        server = self.fixture
        if self._read_body() is None:
            return
        server._count()
        segments = self._segments()
        if segments is None:
            self._send(404, _outcome("not-found", "unknown path"))
            return
        if segments == ["metadata"]:
            self._send(200, self._capability())
            return
        if segments == [".well-known", "smart-configuration"]:
            authority = server.launch_authority
            if authority is None:
                self._send(404, _outcome("not-found", "no SMART authorization server"))
            else:
                self._send(200, authority.smart_configuration())
            return
        if not self._authorized():
            return
        if len(segments) == 2:
            resource = server.index.by_type.get(segments[0], {}).get(segments[1])
            if resource is None:
                self._send(404, _outcome("not-found", "no such resource"))
            else:
                self._send(200, resource)
            return
        if len(segments) == 1 and segments[0][:1].isupper():
            self._search(segments[0], parse_qsl(urlsplit(self.path).query, keep_blank_values=True))
            return
        self._send(404, _outcome("not-found", "unknown path"))

    def _launch(self, body: bytes) -> None:
        """Register a SMART launch context for a patient of this server: ``{"launch_id"}``."""
        server = self.fixture
        if server.launch_authority is None:
            self._send(404, _outcome("not-found", "SMART launch is not configured"))
            return
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict) or not isinstance(request.get("parameters"), dict):
            request = {}
        parameters: dict[str, Any] = request.get("parameters") or {}
        patient, launch_url = parameters.get("patient"), request.get("launchUrl")
        if not isinstance(patient, str) or not isinstance(launch_url, str):
            self._send(400, _outcome("invalid", "launchUrl and parameters.patient are required"))
            return
        if patient not in server.index.by_type.get("Patient", {}):
            self._send(404, _outcome("not-found", "no such patient"))
            return
        launch_id = server.launch_authority.new_launch(patient)
        with server._lock:
            server.launches.append({"launchUrl": launch_url, "parameters": dict(parameters)})
        self._send(200, {"launch_id": launch_id})

    def _search(self, rtype: str, params: list[tuple[str, str]]) -> None:
        server = self.fixture
        count, offset, filters, includes = server.page_size, 0, [], []
        try:
            for name, value in params:
                if name == "_include":
                    includes.append(value)
                elif name == "_count":
                    count = max(1, min(int(value), server.page_size))  # the server caps
                elif name == "_offset":
                    offset = max(0, int(value))
                else:
                    filters.append((name, value))
        except ValueError:
            self._send(400, _outcome("invalid", "bad _count or _offset"))
            return
        if server.page_delay_s > 0:
            time.sleep(server.page_delay_s)  # a slow server, page by page
        matches = server.index.search(rtype, filters)
        page = matches[offset : offset + count]
        included = server.index.included(page, rtype, includes)
        base = server.base_url
        kept = [*filters, *(("_include", i) for i in includes)]
        self_url = f"{base}/{rtype}?" + urlencode([*kept, ("_count", count), ("_offset", offset)])
        links = [{"relation": "self", "url": self_url}]
        if offset + count < len(matches):
            query = urlencode([*kept, ("_count", count), ("_offset", offset + count)])
            links.append({"relation": "next", "url": f"{base}/{rtype}?{query}"})
        self._send(
            200,
            {
                "resourceType": "Bundle",
                "type": "searchset",
                "total": len(matches),
                "link": links,
                "entry": [
                    {
                        "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                        "resource": r,
                        "search": {"mode": "match"},
                    }
                    for r in page
                ]
                + [
                    {
                        "fullUrl": f"{base}/{r['resourceType']}/{r['id']}",
                        "resource": r,
                        "search": {"mode": "include"},
                    }
                    for r in included
                ],
            },
        )

    def _capability(self) -> dict[str, Any]:
        types = sorted(self.fixture.index.by_type)
        return {
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-24",
            "kind": "instance",
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "software": {"name": "igg4-cds fixture FHIR server"},
            "rest": [
                {
                    "mode": "server",
                    "resource": [
                        {
                            "type": t,
                            "interaction": [{"code": "read"}, {"code": "search-type"}],
                            "searchParam": [
                                {"name": n, "type": "token" if n != "patient" else "reference"}
                                for n in ("patient", "code", "_id", "status")
                            ],
                        }
                        for t in types
                    ],
                }
            ],
        }
