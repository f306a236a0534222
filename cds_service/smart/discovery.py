"""Where the EHR's authorization server is: the FHIR server's ``.well-known/smart-configuration``
(SMART App Launch 2.0), else the CapabilityStatement's ``oauth-uris`` extension (SMART 1.0).

The smart-configuration is read with ``requests`` (``fhirclient`` does not read it); the
CapabilityStatement fallback is ``fhirclient``'s own discovery (``FHIRServer.get_capability``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson
import requests
from fhirclient.auth import FHIROAuth2Auth
from fhirclient.client import FHIRClient
from flask_babel import lazy_gettext as _l

from cds_service.smart.errors import SmartError
from cds_service.smart.http import read_limited

MAX_DOCUMENT_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorize: str
    token: str
    source: str  # "smart-configuration" | "capability-statement"
    capabilities: frozenset[str] = field(default_factory=frozenset)
    scopes_supported: tuple[str, ...] = ()

    @property
    def supports_v2(self) -> bool:
        return "permission-v2" in self.capabilities


def _http_url(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    parts = urlsplit(value)
    return value if parts.scheme in ("http", "https") and parts.hostname else None


def _unreachable(what: Any) -> SmartError:
    return SmartError(
        "discovery-failed",
        502,
        _l("The EHR's sign-in service could not be found"),
        _l("%(what)s Try again in a moment; if it persists, tell the study team.", what=what),
    )


def from_smart_configuration(doc: Any) -> Endpoints | None:
    """The endpoints of a smart-configuration document, None if it names none."""
    if not isinstance(doc, dict):
        return None
    authorize, token = (
        _http_url(doc.get("authorization_endpoint")),
        _http_url(doc.get("token_endpoint")),
    )
    if not authorize or not token:
        return None
    methods = doc.get("code_challenge_methods_supported")
    if isinstance(methods, list) and "S256" not in methods:
        # SMART 2.0 requires PKCE S256; a server offering only "plain" is not used.
        raise SmartError(
            "pkce-unsupported",
            502,
            _l("The EHR's sign-in service is not supported"),
            _l("It does not offer PKCE with S256, which this app requires."),
        )
    caps = doc.get("capabilities")
    scopes = doc.get("scopes_supported")
    return Endpoints(
        authorize=authorize,
        token=token,
        source="smart-configuration",
        capabilities=frozenset(c for c in caps if isinstance(c, str))
        if isinstance(caps, list)
        else frozenset(),
        scopes_supported=tuple(s for s in scopes if isinstance(s, str))
        if isinstance(scopes, list)
        else (),
    )


def _well_known(iss: str, http: requests.Session) -> Endpoints | None:
    url = iss.rstrip("/") + "/.well-known/smart-configuration"
    try:
        response = http.get(url, headers={"Accept": "application/json"}, stream=True)
    except requests.RequestException:
        return None
    with response:
        if response.status_code != 200:
            return None
        try:
            body = read_limited(response, MAX_DOCUMENT_BYTES)
        except requests.RequestException:
            return None
    if body is None:
        return None
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    return from_smart_configuration(doc)


def _capability(iss: str, http: requests.Session) -> Endpoints:
    client = FHIRClient(settings={"app_id": "discovery", "api_base": iss}, save_func=lambda _: None)
    assert client.server is not None
    client.server.session = http
    try:
        client.server.get_capability()
    except Exception as exc:  # fhirclient raises bare Exceptions and requests errors alike
        raise _unreachable(
            _l("Neither its SMART configuration nor its capability statement could be read.")
        ) from exc
    auth = client.server.auth
    if not isinstance(auth, FHIROAuth2Auth) or not auth._authorize_uri or not auth._token_uri:
        raise SmartError(
            "not-smart",
            502,
            _l("The EHR does not offer SMART sign-in"),
            _l("Its FHIR server names no authorization service, so this app cannot be launched."),
        )
    authorize, token = _http_url(auth._authorize_uri), _http_url(auth._token_uri)
    if not authorize or not token:
        raise _unreachable(_l("Its capability statement names invalid sign-in addresses."))
    return Endpoints(authorize=authorize, token=token, source="capability-statement")


def discover(iss: str, http: requests.Session) -> Endpoints:
    return _well_known(iss, http) or _capability(iss, http)
