"""One spelling per FHIR server, and URLs that provably stay under it.

``fhirServer`` in a hook request is untrusted input. Before it keys anything (card suppression,
the worklist, the allow-list check) it is normalised: ``scheme://host[:port]/path`` with a
lower-case scheme and host, no default port, no credentials, no query, no fragment, no trailing
slash, percent-escapes of unreserved characters decoded and dot segments resolved. Surrounding
whitespace is dropped; whitespace or control characters inside are refused. So
``"https://EHR.example.org:443/fhir/ "``, ``"https://ehr.example.org/fhir#"`` and
``"https://ehr.example.org/./fhir"`` are one server.

Every URL the FHIR client fetches (a search, a read, a ``Bundle.link`` "next" page) is put in the
same canonical form and must lie under the normalised base: ``{base}/../../admin/x`` resolves to
``/admin/x`` and is refused, as are encoded slashes and dots that a server could resolve later.
"""

from __future__ import annotations

import re
import string
from urllib.parse import urlsplit, urlunsplit

__all__ = [
    "FhirUrlError",
    "canonical_url",
    "is_under",
    "normalize_fhir_server",
    "remove_dot_segments",
    "server_key",
]

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_BAD_CHARS = re.compile(r"[\x00-\x20\x7f\\]")  # controls, whitespace, backslash
_DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_CHARS = 8192  # a URL to fetch ("next" links carry long queries)
MAX_SERVER_CHARS = 500  # a FHIR server key (the database columns hold 500)


class FhirUrlError(ValueError):
    """Not a usable FHIR URL; the message says why and never repeats the URL."""


def remove_dot_segments(path: str) -> str:
    """RFC 3986 section 5.2.4: ``/a/b/../c/./d`` -> ``/a/c/d``; never climbs above the root."""
    out: list[str] = []
    segments = path.split("/")
    for i, segment in enumerate(segments):
        last = i == len(segments) - 1
        if segment == ".":
            if last:
                out.append("")
        elif segment == "..":
            if len(out) > 1:
                out.pop()
            if last:
                out.append("")
        else:
            out.append(segment)
    result = "/".join(out)
    if path.startswith("/") and not result.startswith("/"):
        result = "/" + result
    return result


def _normalize_escapes(path: str) -> str:
    """Decode escapes of unreserved characters (``%2E`` is ``.``), upper-case the others, and
    refuse encoded ``/`` and ``\\`` (a server could decode them into new path segments)."""
    if "%" in _ESCAPE.sub("", path):
        raise FhirUrlError("malformed percent-escape in URL path")

    def fix(match: re.Match[str]) -> str:
        char = chr(int(match.group(1), 16))
        if char in _UNRESERVED:
            return char
        if char in "/\\":
            raise FhirUrlError("encoded slash in URL path")
        return "%" + match.group(1).upper()

    return _ESCAPE.sub(fix, path)


def _split(url: str, max_chars: int = MAX_URL_CHARS) -> tuple[str, str, str, str, str]:
    """The canonical (scheme, netloc, path, query, fragment) of an http(s) URL, or FhirUrlError."""
    if not isinstance(url, str):
        raise FhirUrlError("URL must be a string")
    url = url.strip(" \t\r\n")
    if not url or len(url) > max_chars:
        raise FhirUrlError("URL is empty or too long")
    if _BAD_CHARS.search(url):
        raise FhirUrlError("URL contains whitespace, control characters or a backslash")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise FhirUrlError("URL cannot be parsed (bad host or port)") from exc
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise FhirUrlError("not an http(s) URL with a host")
    if "@" in parts.netloc:
        raise FhirUrlError("credentials in URL")
    host = parts.hostname.lower().rstrip(".")
    if not host:
        raise FhirUrlError("not an http(s) URL with a host")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, _DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # "//" collapsed first: a server that merges slashes would otherwise resolve "/a//../b"
    # differently ("/b") from RFC 3986 ("/a/b").
    path = remove_dot_segments(re.sub("/{2,}", "/", _normalize_escapes(parts.path)))
    return scheme, netloc, path, parts.query, parts.fragment


def normalize_fhir_server(url: str) -> str:
    """The one spelling of a FHIR base URL (see the module docstring); FhirUrlError if unusable."""
    scheme, netloc, path, query, _fragment = _split(url, MAX_SERVER_CHARS)
    if query:
        raise FhirUrlError("a FHIR base URL has no query")
    return urlunsplit((scheme, netloc, path.rstrip("/"), "", ""))


def canonical_url(url: str) -> str:
    """An absolute http(s) URL to fetch, canonical like a base (dot segments resolved), with its
    query kept as sent and its fragment dropped."""
    scheme, netloc, path, query, _fragment = _split(url)
    return urlunsplit((scheme, netloc, path or "/", query, ""))


def is_under(url: str, base: str) -> bool:
    """True when canonical ``url`` is the normalised ``base`` or below it (path segments, not
    string prefixes: ``/fhir2`` is not under ``/fhir``)."""
    target = urlsplit(url)
    root = urlsplit(base)
    if (target.scheme, target.netloc) != (root.scheme, root.netloc):
        return False
    path = target.path.rstrip("/")
    return path == root.path or path.startswith(root.path + "/")


def server_key(value: str) -> str:
    """The key a FHIR server is stored under (worklist, suppression): an http(s) URL normalised,
    another URI (``urn:`` of manual uploads, ``file:`` of bulk exports) stripped, ``""`` for none.
    FhirUrlError for anything else."""
    if not isinstance(value, str):
        raise FhirUrlError("FHIR server must be a string")
    text = value.strip(" \t\r\n")
    if not text:
        return ""
    scheme = text.split(":", 1)[0].lower() if ":" in text else ""
    if scheme in _DEFAULT_PORTS:
        return normalize_fhir_server(text)
    if scheme in ("urn", "file") and len(text) <= MAX_SERVER_CHARS and not _BAD_CHARS.search(text):
        return text.rstrip("/")
    raise FhirUrlError("FHIR server must be an http(s) URL")
