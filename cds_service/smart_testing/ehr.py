"""A test EHR on loopback for the SMART app: real HTTP, real redirects. Not for production.

One ``ThreadingHTTPServer`` serves:

- ``/auth/authorize``: checks ``client_id``, ``redirect_uri``, ``aud``, ``launch`` and PKCE
  (S256 only), then shows a consent page (scopes as checkboxes, a patient picker for standalone
  launches) whose Approve/Deny buttons redirect to the app with ``code``/``state`` or
  ``error=access_denied``;
- ``/auth/token``: authorization code grant; the code is single-use, bound to the client, the
  redirect URI and the PKCE challenge (the verifier is checked);
- ``/fhir/...``: a gateway onto a ``FixtureFhirServer`` that enforces the token: unknown or expired
  tokens get 401, requests outside the token's scopes or patient get 403; plus
  ``.well-known/smart-configuration`` (or only the CapabilityStatement's oauth-uris extension),
  and ``POST /fhir/Task`` (conditional create by identifier) for the referral.

Every request is recorded in ``events`` (kind, method, resource type, status; no payloads) so
that tests can assert what the app asked for.
"""

from __future__ import annotations

import html
import secrets
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import orjson

from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.loopback import ThreadedHttpServer
from cds_service.smart.scopes import Grants
from cds_service.smart_testing import pkce

OAUTH_URIS = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
CAPABILITIES = (
    "launch-ehr",
    "launch-standalone",
    "client-public",
    "client-confidential-symmetric",
    "context-ehr-patient",
    "context-standalone-patient",
    "permission-patient",
    "permission-v1",
    "permission-v2",
    "sso-openid-connect",
)
# Who signs in to the test EHR (the id_token's claims when openid and fhirUser are granted).
CLINICIAN = {"fhirUser": "Practitioner/test-clinician", "name": "Dr Test Clinician"}
_PATIENT_PARAMS = ("patient", "subject", "individual")
_NON_COMPARTMENT = ("Medication",)


class TestEhr:
    __test__ = False  # not a pytest test class

    def __init__(
        self,
        upstream: FixtureFhirServer,
        *,
        client_id: str = "igg4-cds",
        client_secret: str | None = None,
        redirect_uris: Iterable[str] = (),
        discovery: str = "smart-configuration",  # or "capability" (SMART 1.0 servers)
        capabilities: Iterable[str] = CAPABILITIES,
        pkce_methods: Iterable[str] = ("S256",),
        token_lifetime_s: int = 300,
        grant_filter: Callable[[list[str]], list[str]] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        audiences: Iterable[str] = (),
    ) -> None:
        self.upstream = upstream
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = set(redirect_uris)
        self.discovery = discovery
        self.capabilities = list(capabilities)
        self.pkce_methods = list(pkce_methods)
        self.token_lifetime_s = token_lifetime_s
        self.grant_filter = grant_filter
        # Other FHIR bases this EHR authorizes for (``aud``), e.g. an open fixture server whose
        # ``_services/smart/Launch`` registers launches here (the CDS Hooks sandbox demo).
        self.audiences = {a.rstrip("/") for a in audiences}
        self.host, self.port = host, port
        self.events: list[dict[str, Any]] = []
        self.launches: dict[str, str] = {}  # launch token -> patient id
        self.transactions: dict[str, dict[str, Any]] = {}
        self.codes: dict[str, dict[str, Any]] = {}
        self.tokens: dict[str, dict[str, Any]] = {}
        self.tasks: dict[str, dict[str, Any]] = {}
        self.clinician: dict[str, str] = dict(CLINICIAN)
        self.lock = threading.Lock()
        self._server = ThreadedHttpServer(host, port, "test-ehr")

    # ---- lifecycle ------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self._server.server_port}"

    @property
    def fhir_base(self) -> str:
        return f"{self.base_url}/fhir"

    def start(self) -> TestEhr:
        self._server.start(type("Handler", (_Handler,), {"ehr": self}))
        return self

    def stop(self) -> None:
        self._server.stop()

    def __enter__(self) -> TestEhr:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- what tests do --------------------------------------------------------------------------

    def new_launch(self, patient_id: str) -> str:
        """The opaque ``launch`` value of an EHR launch for this patient."""
        launch = secrets.token_urlsafe(16)
        with self.lock:
            self.launches[launch] = patient_id
        return launch

    def launch_url(self, app_launch_url: str, patient_id: str) -> str:
        """What the EHR opens when the clinician clicks the app (or the card's smart link)."""
        query = urlencode({"iss": self.fhir_base, "launch": self.new_launch(patient_id)})
        return f"{app_launch_url}?{query}"

    def expire_tokens(self) -> None:
        with self.lock:
            for token in self.tokens.values():
                token["expires_at"] = 0.0

    def record(self, **event: Any) -> None:
        with self.lock:
            self.events.append(event)

    def fhir_events(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["kind"] == "fhir"]

    def smart_configuration(self) -> dict[str, Any]:
        return {
            "issuer": self.base_url,
            "authorization_endpoint": f"{self.base_url}/auth/authorize",
            "token_endpoint": f"{self.base_url}/auth/token",
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "none"],
            "grant_types_supported": ["authorization_code"],
            "scopes_supported": ["launch", "launch/patient", "patient/*.read", "patient/*.rs"],
            "response_types_supported": ["code"],
            "capabilities": self.capabilities,
            "code_challenge_methods_supported": self.pkce_methods,
        }

    def patients(self) -> list[tuple[str, str]]:
        out = []
        for pid, patient in sorted(self.upstream.index.by_type.get("Patient", {}).items()):
            names = patient.get("name") or [{}]
            name = " ".join([*names[0].get("given", []), names[0].get("family", "")]).strip()
            out.append((pid, name or pid))
        return out


def _id_token(issuer: str, audience: str, claims: dict[str, str]) -> str:
    """An OpenID Connect id_token (HS256 with a throwaway key: a test double; the app reads the
    claims of a token it received from the token endpoint itself and verifies nothing with it)."""
    import base64
    import hashlib
    import hmac

    def part(data: Any) -> str:
        return base64.urlsafe_b64encode(_json(data)).rstrip(b"=").decode()

    now = int(time.time())
    payload = {
        "iss": issuer,
        "aud": audience,
        "sub": claims.get("fhirUser", "user"),
        "iat": now,
        "exp": now + 300,
        **claims,
    }
    head = f"{part({'alg': 'HS256', 'typ': 'JWT'})}.{part(payload)}"
    mac = hmac.new(secrets.token_bytes(32), head.encode(), hashlib.sha256).digest()
    return f"{head}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def _json(data: Any) -> bytes:
    return orjson.dumps(data)


class _Handler(BaseHTTPRequestHandler):
    ehr: TestEhr
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # never logged: URLs name patients
        return

    # ---- plumbing ---------------------------------------------------------------------------------

    def _send(
        self, status: int, body: bytes, ctype: str, extra: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def _redirect(self, url: str) -> None:
        self._send(302, b"", "text/plain", {"Location": url})

    def _fhir(self, status: int, data: Any, extra: dict[str, str] | None = None) -> None:
        self._send(status, _json(data), "application/fhir+json", extra)

    def _outcome(self, status: int, code: str, text: str, rtype: str | None = None) -> None:
        self.ehr.record(kind="fhir", method=self.command, type=rtype, status=status)
        extra = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
        self._fhir(
            status,
            {
                "resourceType": "OperationOutcome",
                "issue": [{"severity": "error", "code": code, "diagnostics": text}],
            },
            extra,
        )

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _form(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for key, value in parse_qsl(self._body().decode(), keep_blank_values=True):
            out.setdefault(key, []).append(value)
        return out

    # ---- routing ----------------------------------------------------------------------------------

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        params = parse_qsl(parts.query, keep_blank_values=True)
        if parts.path == "/auth/authorize":
            self._authorize(dict(params))
        elif parts.path == "/fhir/.well-known/smart-configuration":
            if self.ehr.discovery == "smart-configuration":
                self._send(200, _json(self.ehr.smart_configuration()), "application/json")
            else:
                self._send(404, b"{}", "application/json")
        elif parts.path == "/fhir/metadata":
            self._metadata()
        elif parts.path.startswith("/fhir/"):
            self._fhir_get(parts.path, parts.query, params)
        else:
            self._send(404, b"not found", "text/plain")

    def do_POST(self) -> None:
        path = urlsplit(self.path).path
        if path == "/auth/decide":
            self._decide(self._form())
        elif path == "/auth/token":
            self._token(self._form())
        elif path == "/fhir/Task":
            self._create_task()
        elif path.startswith("/fhir/"):
            self._outcome(405, "not-supported", "read-only except Task")
        else:
            self._send(404, b"not found", "text/plain")

    # ---- authorization server ---------------------------------------------------------------------

    def _auth_error(self, status: int, text: str) -> None:
        self.ehr.record(kind="authorize", status=status, error=text)
        page = (
            '<!doctype html><html lang="en"><title>Authorization error</title>'
            f"<h1>{html.escape(text)}</h1></html>"
        )
        self._send(status, page.encode(), "text/html; charset=utf-8")

    def _authorize(self, q: dict[str, str]) -> None:
        ehr = self.ehr
        if q.get("client_id") != ehr.client_id:
            return self._auth_error(400, "unknown client_id")
        if q.get("redirect_uri") not in ehr.redirect_uris:
            return self._auth_error(400, "redirect_uri not registered")  # never redirect there
        redirect = q["redirect_uri"]
        state = q.get("state") or ""

        def fail(error: str) -> None:
            ehr.record(kind="authorize", status=302, error=error)
            self._redirect(f"{redirect}?{urlencode({'error': error, 'state': state})}")

        if q.get("response_type") != "code" or not state:
            return fail("invalid_request")
        if q.get("aud", "").rstrip("/") not in {ehr.fhir_base, *ehr.audiences}:
            return fail("invalid_request")  # SMART: aud must be this FHIR server
        if q.get("code_challenge_method") not in ehr.pkce_methods or not q.get("code_challenge"):
            return fail("invalid_request")
        scopes = q.get("scope", "").split()
        patient = None
        if "launch" in scopes:
            patient = ehr.launches.get(q.get("launch") or "")
            if patient is None:
                return fail("invalid_request")
        txn = secrets.token_urlsafe(16)
        with ehr.lock:
            ehr.transactions[txn] = {**q, "patient": patient, "scopes": scopes}
        ehr.record(kind="authorize", status=200, launch="ehr" if patient else "standalone")
        self._send(
            200, self._consent_page(txn, scopes, patient).encode(), "text/html; charset=utf-8"
        )

    def _consent_page(self, txn: str, scopes: list[str], patient: str | None) -> str:
        boxes = "".join(
            f'<li><label><input type="checkbox" name="scope" value="{html.escape(s)}" checked>'
            f" <code>{html.escape(s)}</code></label></li>"
            for s in scopes
        )
        if patient is None:
            options = "".join(
                f'<option value="{html.escape(pid)}">{html.escape(name)} ({html.escape(pid)})</option>'
                for pid, name in self.ehr.patients()
            )
            picker = f'<p><label>Patient <select id="patient" name="patient">{options}</select></label></p>'
        else:
            picker = f"<p>Patient in context: <code>{html.escape(patient)}</code></p>"
        return (
            '<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width,'
            ' initial-scale=1"><title>Test EHR: authorize app</title></head><body><main>'
            "<h1>Test EHR</h1><p>The app <strong>igg4-cds</strong> asks for access:</p>"
            f'<form method="post" action="/auth/decide"><input type="hidden" name="txn" value="{txn}">'
            f"{picker}<ul>{boxes}</ul>"
            '<button id="approve" name="decision" value="approve">Approve</button> '
            '<button id="deny" name="decision" value="deny">Deny</button></form></main></body></html>'
        )

    def _decide(self, form: dict[str, list[str]]) -> None:
        ehr = self.ehr
        with ehr.lock:
            txn = ehr.transactions.pop((form.get("txn") or [""])[0], None)
        if txn is None:
            return self._auth_error(400, "unknown or used transaction")
        redirect, state = txn["redirect_uri"], txn["state"]
        if (form.get("decision") or [""])[0] != "approve":
            ehr.record(kind="decide", decision="deny")
            return self._redirect(
                f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}"
            )
        ticked = set(form.get("scope") or [])
        granted = [s for s in txn["scopes"] if s in ticked or s.startswith(("launch", "openid"))]
        if ehr.grant_filter is not None:
            granted = ehr.grant_filter(granted)
        patient = txn["patient"] or (form.get("patient") or [""])[0] or None
        code = secrets.token_urlsafe(24)
        with ehr.lock:
            ehr.codes[code] = {
                "client_id": txn["client_id"],
                "redirect_uri": redirect,
                "challenge": txn["code_challenge"],
                "scope": " ".join(granted),
                "patient": patient,
                "expires_at": time.time() + 60,
            }
        ehr.record(kind="decide", decision="approve")
        self._redirect(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    def _token_error(self, error: str, status: int = 400) -> None:
        self.ehr.record(kind="token", status=status, error=error)
        self._send(status, _json({"error": error}), "application/json")

    def _token(self, form: dict[str, list[str]]) -> None:
        ehr = self.ehr
        f = {k: v[0] for k, v in form.items()}
        client_id = f.get("client_id")
        auth = self.headers.get("Authorization") or ""
        if auth.startswith("Basic "):
            import base64

            user, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            if user != ehr.client_id or secret != ehr.client_secret:
                return self._token_error("invalid_client", 401)
            client_id = user
        elif ehr.client_secret is not None:
            return self._token_error("invalid_client", 401)
        if f.get("grant_type") != "authorization_code":
            return self._token_error("unsupported_grant_type")
        with ehr.lock:
            code = ehr.codes.pop(f.get("code") or "", None)  # single use
        if code is None or code["expires_at"] < time.time():
            return self._token_error("invalid_grant")
        if client_id != code["client_id"] or f.get("redirect_uri") != code["redirect_uri"]:
            return self._token_error("invalid_grant")
        if not pkce.verify(f.get("code_verifier"), code["challenge"]):
            ehr.record(kind="pkce", ok=False)
            return self._token_error("invalid_grant")
        ehr.record(kind="pkce", ok=True)
        token = secrets.token_urlsafe(32)
        with ehr.lock:
            ehr.tokens[token] = {
                "scope": code["scope"],
                "patient": code["patient"],
                "expires_at": time.time() + ehr.token_lifetime_s,
            }
        body: dict[str, Any] = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": ehr.token_lifetime_s,
            "scope": code["scope"],
            "need_patient_banner": True,
        }
        if code["patient"]:
            body["patient"] = code["patient"]
        granted = code["scope"].split()
        if "openid" in granted and "fhirUser" in granted:
            body["id_token"] = _id_token(ehr.base_url, code["client_id"], dict(ehr.clinician))
        ehr.record(kind="token", status=200)
        self._send(200, _json(body), "application/json", {"Pragma": "no-cache"})

    # ---- FHIR gateway -----------------------------------------------------------------------------

    def _metadata(self) -> None:
        status, body = self._upstream("/metadata")
        data = orjson.loads(body)
        base = self.ehr.base_url
        data["rest"][0]["security"] = {
            "service": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                            "code": "SMART-on-FHIR",
                        }
                    ]
                }
            ],
            "extension": [
                {
                    "url": OAUTH_URIS,
                    "extension": [
                        {"url": "authorize", "valueUri": f"{base}/auth/authorize"},
                        {"url": "token", "valueUri": f"{base}/auth/token"},
                    ],
                }
            ],
        }
        self._fhir(status, data)

    def _token_info(self, rtype: str | None) -> dict[str, Any] | None:
        header = self.headers.get("Authorization") or ""
        token = self.ehr.tokens.get(header[7:]) if header.startswith("Bearer ") else None
        if token is None or token["expires_at"] <= time.time():
            self._outcome(401, "login", "missing, unknown or expired token", rtype)
            return None
        return token

    def _fhir_get(self, path: str, query: str, params: list[tuple[str, str]]) -> None:
        segments = [s for s in path[len("/fhir/") :].split("/") if s]
        rtype = segments[0] if segments else None
        token = self._token_info(rtype)
        if token is None or rtype is None:
            return
        grants = Grants.parse(token["scope"])
        patient = token["patient"]
        if len(segments) == 2:
            if not grants.allows_request(rtype, "r", []):
                return self._outcome(403, "forbidden", "no read scope", rtype)
            if rtype == "Patient" and segments[1] != patient:
                return self._outcome(403, "forbidden", "another patient", rtype)
            if rtype == "Task":
                task = self.ehr.tasks.get(segments[1])
                if task is None or task["for"]["reference"] != f"Patient/{patient}":
                    return self._outcome(404, "not-found", "no such Task", rtype)
                self.ehr.record(kind="fhir", method="GET", type=rtype, status=200)
                return self._fhir(200, task)
        elif len(segments) == 1:
            if not grants.allows_request(rtype, "s", params):
                return self._outcome(403, "forbidden", "no search scope", rtype)
            if rtype not in _NON_COMPARTMENT:
                named = {v.removeprefix("Patient/") for k, v in params if k in _PATIENT_PARAMS}
                if rtype == "Patient":
                    named |= {v for k, v in params if k == "_id"}
                if named != {patient}:
                    return self._outcome(403, "forbidden", "search outside the patient", rtype)
            for key, value in params:
                medication = key == "_include" and value.endswith(":medication")
                if medication and not grants.allows_request("Medication", "s", []):
                    return self._outcome(403, "forbidden", "no Medication scope", rtype)
        else:
            return self._outcome(404, "not-found", "unknown path", rtype)
        status, body = self._upstream(path[len("/fhir") :] + (f"?{query}" if query else ""))
        self.ehr.record(kind="fhir", method="GET", type=rtype, status=status)
        self._send(status, body, "application/fhir+json")

    def _upstream(self, rest: str) -> tuple[int, bytes]:
        upstream = self.ehr.upstream.base_url
        try:
            with urllib.request.urlopen(f"{upstream}{rest}", timeout=10) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read()
        return status, body.replace(upstream.encode(), self.ehr.fhir_base.encode())

    def _create_task(self) -> None:
        token = self._token_info("Task")
        if token is None:
            return
        grants = Grants.parse(token["scope"])
        if not grants.allows_request("Task", "c", []):
            return self._outcome(403, "forbidden", "no Task create scope", "Task")
        try:
            task = orjson.loads(self._body())
        except orjson.JSONDecodeError:
            return self._outcome(400, "invalid", "not JSON", "Task")
        if not isinstance(task, dict) or task.get("resourceType") != "Task":
            return self._outcome(400, "invalid", "not a Task", "Task")
        if (task.get("for") or {}).get("reference") != f"Patient/{token['patient']}":
            return self._outcome(403, "forbidden", "Task for another patient", "Task")
        wanted = (self.headers.get("If-None-Exist") or "").removeprefix("identifier=")
        with self.ehr.lock:
            for tid, existing in self.ehr.tasks.items():
                ids = {
                    f"{i.get('system')}|{i.get('value')}" for i in existing.get("identifier", [])
                }
                if wanted and wanted in ids:
                    location = f"{self.ehr.fhir_base}/Task/{tid}/_history/1"
                    self.ehr.events.append(
                        {"kind": "fhir", "method": "POST", "type": "Task", "status": 200}
                    )
                    return self._send(200, b"", "application/fhir+json", {"Location": location})
            tid = f"task-{len(self.ehr.tasks) + 1}"
            self.ehr.tasks[tid] = {**task, "id": tid}
        self.ehr.record(kind="fhir", method="POST", type="Task", status=201)
        location = f"{self.ehr.fhir_base}/Task/{tid}/_history/1"
        self._send(201, b"", "application/fhir+json", {"Location": location})
