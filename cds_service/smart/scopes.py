"""SMART App Launch scopes (v1 and v2), parsed into what they permit. Pure.

v1: ``patient/Observation.read``, ``patient/*.write``, ``user/*.*``.
v2: ``patient/Observation.rs``, ``patient/Task.c``, ``patient/*.cruds`` and granular scopes with a
query, ``patient/Observation.rs?category=laboratory`` (the permission covers only matching data).
A v1 ``read`` is ``rs`` in v2 terms, ``write`` is ``cud``, ``*`` is ``cruds``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qsl

Perm = Literal["c", "r", "u", "d", "s"]
_V1 = {"read": "rs", "write": "cud", "*": "cruds"}
_SCOPE = re.compile(
    r"^(?P<ctx>patient|user|system)/(?P<type>\*|[A-Z][A-Za-z]+)\.(?P<perm>read|write|\*|c?r?u?d?s?)"
    r"(?:\?(?P<query>.+))?$"
)
Restriction = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Grant:
    context: str  # patient | user | system
    rtype: str  # a resource type or "*"
    perms: frozenset[str]
    query: Restriction = ()  # v2 granular scope: only resources matching these search params
    v2: bool = False

    def covers(self, rtype: str, perm: str) -> bool:
        return self.rtype in ("*", rtype) and perm in self.perms


def parse_scope(token: str) -> Grant | None:
    """One scope; None for anything that is not a resource scope (launch, openid, fhirUser...)."""
    match = _SCOPE.match(token)
    if not match or not match["perm"]:
        return None
    raw = match["perm"]
    v2 = raw not in _V1
    perms = frozenset(_V1.get(raw, raw))
    query: Restriction = ()
    if match["query"]:
        if not v2:
            return None  # v1 has no granular scopes: an unknown scope grants nothing
        query = tuple(sorted(parse_qsl(match["query"], keep_blank_values=True)))
    return Grant(match["ctx"], match["type"], perms, query, v2)


@dataclass(frozen=True, slots=True)
class Grants:
    """What a token's ``scope`` string permits the app to do for the patient in context."""

    grants: tuple[Grant, ...]
    raw: tuple[str, ...]

    @classmethod
    def parse(cls, scope: str | None) -> Grants:
        tokens = tuple(t for t in (scope or "").split() if t)
        parsed = (parse_scope(t) for t in tokens)
        return cls(tuple(g for g in parsed if g is not None and g.context != "system"), tokens)

    def permits(self, rtype: str, perm: str) -> bool:
        """Unrestricted permission (no granular query) for ``rtype``."""
        return any(g.covers(rtype, perm) and not g.query for g in self.grants)

    def restrictions(self, rtype: str, perm: str) -> list[Restriction] | None:
        """None when ``perm`` on ``rtype`` is unrestricted; else the granular queries that permit
        part of it (an empty list: not permitted at all)."""
        if self.permits(rtype, perm):
            return None
        return sorted({g.query for g in self.grants if g.covers(rtype, perm)})

    def allows_request(self, rtype: str, perm: str, params: list[tuple[str, str]]) -> bool:
        """Whether a request with these search params is within some grant (for a server)."""
        found = self.restrictions(rtype, perm)
        if found is None:
            return True
        have = set(params)
        return any(all(p in have for p in query) for query in found)

    @property
    def has_launch_patient(self) -> bool:
        return any(t in ("launch", "launch/patient") for t in self.raw)


def describe(query: Restriction) -> str:
    return "&".join(f"{k}={v}" for k, v in query)
