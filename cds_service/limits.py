"""Input limits of the web service: one place that says how much a request may carry.

Every limit is a setting (``cds_service.config.DEFAULTS``, the worklist's settings) and every
refusal says which limit and which setting, with HTTP 413:

- ``MAX_REQUEST_BYTES``: the body of a CDS hook call (and of any request without a smaller limit);
- ``FEEDBACK_MAX_BYTES`` and ``FEEDBACK_MAX_ITEMS``: a CDS feedback call;
- ``WORKLIST_MAX_UPLOAD_BYTES``: a patient Bundle uploaded to the worklist (page or ``/api/assess``);
- ``MAX_RESOURCES_PER_PATIENT``: resources in a hook's prefetch, fetched from the FHIR server for
  one hook, or in an uploaded Bundle (bounded CPU per request: the engine's cost grows with it).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# Form posts of the worklist carry the Bundle URL-encoded (up to 3 bytes per byte) beside a few
# small fields; the decoded Bundle itself is held to WORKLIST_MAX_UPLOAD_BYTES.
FORM_ENCODING_FACTOR = 3
FORM_OVERHEAD_BYTES = 64 * 1024


def size_text(n: int) -> str:
    for unit, scale in (("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


def too_large(what: str, limit: int, setting: str) -> str:
    """The message of a 413 for a size: what was too large, the limit, and its setting."""
    return f"{what} is over the limit of {size_text(limit)} (setting {setting})"


def too_many(what: str, limit: int, setting: str) -> str:
    """The message of a 413 for a count: ``"more than 100 feedback items (setting ...)"``."""
    return f"more than {limit} {what} (setting {setting})"


def prefetch_resource_count(prefetch: Mapping[str, Any]) -> int:
    """Resources a hook's prefetch holds: each Bundle's entries, each other resource as one."""
    n = 0
    for value in prefetch.values():
        if isinstance(value, Mapping):
            entries = value.get("entry") if value.get("resourceType") == "Bundle" else None
            n += len(entries) if isinstance(entries, list) else 1
    return n


NUL_MESSAGE = "input holds a NUL character (\\u0000), which is never valid here"


def has_nul(value: Any) -> bool:
    """True when a string anywhere in ``value`` (JSON data, or a multi-dict of request fields,
    keys included) holds a NUL character. Iterative: JSON nests up to 1024 levels."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, Mapping):
            getlist = getattr(item, "getlist", None)
            for key in item:
                stack.append(key)
                stack.extend(getlist(key) if callable(getlist) else [item[key]])
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def bundle_entry_count(bundle: Mapping[str, Any]) -> int:
    entries = bundle.get("entry")
    return len(entries) if isinstance(entries, list) else 0
