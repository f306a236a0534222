"""Authorization code with PKCE (S256) and ``state``, through ``fhirclient``.

``fhirclient`` builds the authorize URL (``state``, PKCE S256 challenge, ``aud``, ``launch``) and
exchanges the code (``code_verifier``, ``redirect_uri``); its state dict is kept in the server-side
session between the two. It does not read ``.well-known/smart-configuration`` (see discovery).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import requests
from fhirclient.auth import FHIROAuth2Auth
from fhirclient.client import FHIRClient
from fhirclient.server import (
    FHIRNotFoundException,
    FHIRPermissionDeniedException,
    FHIRUnauthorizedException,
)
from flask_babel import lazy_gettext as _l

from cds_service.smart.discovery import Endpoints
from cds_service.smart.errors import SmartError, launch_again

# fhirclient raises these (not requests.HTTPError) for 401, 403 and 404 answers
_FHIRCLIENT_HTTP_ERRORS = (
    FHIRUnauthorizedException,
    FHIRPermissionDeniedException,
    FHIRNotFoundException,
)

# OAuth 2.0 error codes (RFC 6749 4.1.2.1) in words for the clinician.
_AUTH_ERRORS = {
    "access_denied": _l("Access was declined, so the app cannot show this patient."),
    "invalid_scope": _l("The EHR did not accept the access this app asks for."),
    "unauthorized_client": _l("The EHR does not allow this app to sign in this way."),
    "temporarily_unavailable": _l("The EHR's sign-in service is busy. Try again in a moment."),
    "server_error": _l("The EHR's sign-in service failed."),
}


@dataclass(frozen=True, slots=True)
class Authorization:
    url: str
    state: str
    client_state: dict[str, Any]  # fhirclient's, kept server-side until the callback


@dataclass(frozen=True, slots=True)
class TokenGrant:
    access_token: str
    token_type: str
    scope: str
    patient: str | None
    expires_in: float | None  # seconds left when the token was received
    context: dict[str, Any]  # other launch context: encounter, need_patient_banner, ...
    clinician: str | None = None  # who signed in: the id_token's name, else its fhirUser


def start(
    endpoints: Endpoints,
    *,
    iss: str,
    client_id: str,
    client_secret: str | None,
    redirect_uri: str,
    scope: str,
    launch: str | None,
    http: requests.Session,
) -> Authorization:
    """The authorize URL for an EHR launch (``launch`` given: scope ``launch``) or a standalone
    launch (scope ``launch/patient``: the EHR asks the clinician to pick a patient)."""
    client = FHIRClient(
        settings={
            "app_id": client_id,
            "app_secret": client_secret,
            "api_base": iss,
            "redirect_uri": redirect_uri,
            "scope": scope,
            "launch_token": launch,
        },
        save_func=lambda _: None,
    )
    assert client.server is not None
    client.server.session = http
    client.server.auth = FHIROAuth2Auth(
        state={
            "app_id": client_id,
            "app_secret": client_secret,
            "aud": iss,  # SMART: the FHIR base URL exactly as the EHR gave it
            "redirect_uri": redirect_uri,
            "authorize_uri": endpoints.authorize,
            "token_uri": endpoints.token,
        }
    )
    url = client.authorize_url
    auth = client.server.auth
    sent = dict(parse_qsl(urlsplit(url).query)) if isinstance(url, str) else {}
    if not auth.auth_state or sent.get("code_challenge_method") != "S256":
        # never start without PKCE (an fhirclient without it would silently leave it out)
        raise SmartError(
            "launch-failed", 500, _l("The app could not start"), _l("No PKCE challenge.")
        )
    return Authorization(url=str(url), state=auth.auth_state, client_state=client.state)


def authorization_error(args: dict[str, str]) -> SmartError | None:
    """The authorization server's refusal (consent denied, ...) as a page, or None."""
    code = args.get("error")
    if not code:
        return None
    text = _AUTH_ERRORS.get(code, _l("The EHR's sign-in service refused the request."))
    if code == "access_denied":
        return SmartError("access-denied", 403, _l("Access declined"), launch_again(text))
    return SmartError(f"authorization-{code}"[:60], 400, _l("Sign-in did not complete"), text)


def exchange(
    client_state: dict[str, Any], callback_args: dict[str, str], http: requests.Session
) -> TokenGrant:
    """Exchange the code for a token (fhirclient sends the PKCE verifier and checks ``state``)."""
    client = FHIRClient(state=client_state, save_func=lambda _: None)
    assert client.server is not None
    client.server.session = http
    query = urlencode(callback_args)
    try:
        client.handle_callback(f"{client.redirect}?{query}")
    except (requests.HTTPError, *_FHIRCLIENT_HTTP_ERRORS) as exc:
        response = getattr(exc, "response", None)
        status = response.status_code if response is not None else 0
        raise SmartError(
            "token-refused",
            502,
            _l("Sign-in could not be completed"),
            launch_again(
                _l("The EHR's sign-in service refused the code (HTTP %(status)s).", status=status)
            ),
        ) from exc
    except requests.RequestException as exc:
        raise SmartError(
            "token-unreachable",
            502,
            _l("Sign-in could not be completed"),
            _l("The EHR's sign-in service could not be reached. Try again in a moment."),
        ) from exc
    except Exception as exc:  # fhirclient: bare Exception for a bad state, no code, no token
        raise SmartError(
            "token-invalid",
            502,
            _l("Sign-in could not be completed"),
            launch_again(_l("The EHR's sign-in service gave no usable access token.")),
        ) from exc
    auth = client.server.auth
    assert isinstance(auth, FHIROAuth2Auth)
    context = dict(client.launch_context or {})
    token = auth.access_token
    token_type = str(context.pop("token_type", "") or "")
    if not token or token_type.lower() != "bearer":
        raise SmartError(
            "token-invalid",
            502,
            _l("Sign-in could not be completed"),
            launch_again(_l("The EHR's sign-in service gave no bearer token.")),
        )
    expires_in = auth.expires_at.timestamp() - time.time() if auth.expires_at is not None else None
    clinician = clinician_of(context.pop("id_token", None))
    context.pop("refresh_token", None)  # never kept: the session ends with the access token
    scope = context.pop("scope", None)
    patient = context.pop("patient", None)
    return TokenGrant(
        access_token=str(token),
        token_type="Bearer",
        # RFC 6749 5.1: scope may be omitted when it is what was asked for
        scope=str(scope) if isinstance(scope, str) else str(client.desired_scope),
        patient=str(patient) if isinstance(patient, str) and patient else None,
        expires_in=expires_in,
        context={k: v for k, v in context.items() if isinstance(v, str | bool | int)},
        clinician=clinician,
    )


def clinician_of(id_token: Any) -> str | None:
    """The signed-in clinician as a referral names them: the OpenID Connect id_token's ``name``,
    else its ``fhirUser`` (e.g. "Practitioner/123"). Used only to say who referred, never to
    grant anything, so the claims are read without checking the signature: the token came
    straight from the EHR's token endpoint, over the connection the app opened (OpenID Connect
    Core 3.1.3.7 allows TLS to stand for it there)."""
    if not isinstance(id_token, str) or id_token.count(".") != 2 or len(id_token) > 20_000:
        return None
    payload = id_token.split(".")[1]
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, TypeError):
        return None
    if not isinstance(claims, dict):
        return None
    for key in ("name", "fhirUser"):
        value = claims.get(key)
        if isinstance(value, str) and value.strip():
            text = " ".join(value.split())[:200]
            if key == "fhirUser":  # an absolute URL: its "Type/id" tail
                parts = text.rstrip("/").split("/")
                text = "/".join(parts[-2:]) if len(parts) >= 2 else text
            return text
    return None


def token_expiry(grant: TokenGrant, *, now: float, default_s: int, max_s: int) -> float:
    """When the app's session for this grant ends: with the token, and never after ``max_s``."""
    left = grant.expires_in if grant.expires_in is not None else float(default_s)
    return now + min(left, float(max_s))
