"""SMART v1 and v2 scopes: what each permits. Pure."""

from __future__ import annotations

import pytest

from cds_service.smart.scopes import Grants, parse_scope


@pytest.mark.parametrize(
    ("scope", "rtype", "perm", "allowed"),
    [
        ("patient/*.read", "Observation", "r", True),
        ("patient/*.read", "Observation", "s", True),
        ("patient/*.read", "Task", "c", False),
        ("patient/Task.write", "Task", "c", True),
        ("patient/Task.write", "Task", "r", False),
        ("patient/*.*", "Task", "c", True),
        ("user/Observation.read", "Observation", "s", True),
        ("patient/*.rs", "Condition", "s", True),
        ("patient/*.rs", "Task", "c", False),
        ("patient/Observation.r", "Observation", "s", False),  # read by id only
        ("patient/Task.c", "Task", "c", True),
        ("patient/*.cruds", "Task", "c", True),
        ("patient/Observation.rs", "Condition", "s", False),
        ("system/*.read", "Observation", "s", False),  # backend scopes do not apply here
        ("launch openid fhirUser", "Patient", "r", False),
    ],
)
def test_permits(scope: str, rtype: str, perm: str, allowed: bool) -> None:
    assert Grants.parse(scope).permits(rtype, perm) is allowed


def test_malformed_or_out_of_order_scopes_grant_nothing() -> None:
    for token in (
        "patient/Observation.sr",
        "patient/Observation.reads",
        "patient/.read",
        "patient/observation.read",
        "patient/Observation.read?category=x",
        "patient/*.",
    ):
        assert parse_scope(token) is None, token


def test_granular_v2_scope_is_a_restriction() -> None:
    grants = Grants.parse(
        "patient/Observation.rs?category=laboratory patient/Observation.rs?category=vital-signs"
    )
    assert not grants.permits("Observation", "s")
    assert grants.restrictions("Observation", "s") == [
        (("category", "laboratory"),),
        (("category", "vital-signs"),),
    ]
    assert grants.restrictions("Condition", "s") == []
    assert grants.allows_request("Observation", "s", [("patient", "p"), ("category", "laboratory")])
    assert not grants.allows_request("Observation", "s", [("patient", "p")])


def test_unrestricted_beats_granular() -> None:
    grants = Grants.parse("patient/Observation.rs?category=laboratory patient/*.rs")
    assert grants.restrictions("Observation", "s") is None


def test_launch_scopes_are_kept_raw() -> None:
    grants = Grants.parse("launch/patient patient/*.rs")
    assert grants.has_launch_patient and grants.raw == ("launch/patient", "patient/*.rs")
