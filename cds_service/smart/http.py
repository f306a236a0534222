"""The HTTP session for discovery, the token exchange and the Task write: a timeout on every
request, no redirects (they could leave the allow-listed server), no proxy or netrc from the
environment, and nothing logged."""

from __future__ import annotations

from typing import Any

import requests


class SafeSession(requests.Session):
    def __init__(self, timeout_s: float) -> None:
        super().__init__()
        self.trust_env = False
        self.timeout_s = timeout_s

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout_s)
        kwargs["allow_redirects"] = False
        return super().request(method, url, *args, **kwargs)


def read_limited(response: requests.Response, limit: int) -> bytes | None:
    """The body, or None when it is larger than ``limit`` bytes."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=65536):
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
