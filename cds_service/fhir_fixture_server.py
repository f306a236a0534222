"""A read-only FHIR R4 server over fixture Bundles: real HTTP on loopback, in a background thread.

For the demo, end-to-end tests and benchmarks (of this and other parts of the project)::

    with FixtureFhirServer.from_directory("fixtures/patients", token="t") as server:
        base = server.base_url          # http://127.0.0.1:PORT/fhir
        requests.get(f"{base}/Observation?patient=p1&code=http://loinc.org|2469-5",
                     headers={"Authorization": "Bearer t"})

Supports ``GET /metadata``, ``GET /{type}/{id}`` and ``GET /{type}?...`` with ``patient`` /
``subject`` / ``individual`` (with or without "Patient/"), ``code`` and ``category`` (token,
comma-separated OR, ``system|code``, ``code`` or ``system|``), ``_id``, ``status``, ``_include``
(``Type:param``, e.g. ``MedicationRequest:medication``), ``_count`` and paging by ``Bundle.link``
"next" (``page_size`` is the default and the largest page: real servers cap ``_count`` too).
``urn:uuid:`` references of transaction Bundles are rewritten to ``Type/id`` on loading, as a server
does when it stores a transaction. With a ``token``, every
request but ``/metadata`` needs ``Authorization: Bearer <token>`` (else 401). Nothing is logged.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from cds_service.loopback import ThreadedHttpServer

_PATIENT_PARAMS = ("patient", "subject", "individual", "beneficiary")
_PATIENT_FIELDS = ("subject", "patient", "individual", "beneficiary")
_CODE_FIELDS = ("code", "medicationCodeableConcept", "vaccineCode")
FHIR_JSON = "application/fhir+json; charset=utf-8"


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
    ) -> None:
        self.index = _Index(resources)
        self.token = token
        self.page_size = page_size
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

    def _send(self, status: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        payload = orjson.dumps(body)
        self.send_response(status)
        self.send_header("Content-Type", FHIR_JSON)
        self.send_header("Content-Length", str(len(payload)))
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(payload)

    def _refuse(self) -> None:
        self._send(405, _outcome("not-supported", "read-only server"))

    do_POST = do_PUT = do_DELETE = do_PATCH = _refuse

    def do_GET(self) -> None:
        server = self.fixture
        server._count()
        parts = urlsplit(self.path)
        path = parts.path
        if not path.startswith(server.BASE_PATH + "/"):
            self._send(404, _outcome("not-found", "unknown path"))
            return
        segments = [s for s in path[len(server.BASE_PATH) + 1 :].split("/") if s]
        if segments == ["metadata"]:
            self._send(200, self._capability())
            return
        if server.token and self.headers.get("Authorization") != f"Bearer {server.token}":
            self._send(
                401,
                _outcome("login", "bearer token required"),
                {"WWW-Authenticate": 'Bearer realm="fixture-fhir"'},
            )
            return
        if len(segments) == 2:
            resource = server.index.by_type.get(segments[0], {}).get(segments[1])
            if resource is None:
                self._send(404, _outcome("not-found", "no such resource"))
            else:
                self._send(200, resource)
            return
        if len(segments) == 1 and segments[0][:1].isupper():
            self._search(segments[0], parse_qsl(parts.query, keep_blank_values=True))
            return
        self._send(404, _outcome("not-found", "unknown path"))

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
