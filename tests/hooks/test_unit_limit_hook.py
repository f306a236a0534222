"""The hook refuses hostile unit strings without parsing them (issue 10, row 1), and the
MAX_UNIT_LENGTH setting reaches the engine."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from flask import Flask

from cds_service.config import build_config
from cds_service.hooks.cards import EXTENSION_KEY
from fhir_mappings import units

from .conftest import HOOK_PATH, hook_body
from .synthetic import full_prefetch, long_record

PROBE = "(" * 2000 + "g" + ")" * 2000


@pytest.fixture
def grammar_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    from ucumvert import PintUcumRegistry

    calls: list[int] = []

    def counted(self: Any, ucum: str) -> Any:
        calls.append(len(ucum))
        raise ValueError("refused by the test")

    monkeypatch.setattr(PintUcumRegistry, "from_ucum", counted)
    for name in dir(units):
        cache_clear = getattr(getattr(units, name), "cache_clear", None)
        if callable(cache_clear):
            cache_clear()
    return calls


def test_hook_with_probe_units_parses_nothing(
    make_app: Callable[..., Flask], grammar_calls: list[int]
) -> None:
    record = long_record("u1", observations=20)
    for res in record:
        if res["resourceType"] == "Observation" and "valueQuantity" in res:
            res["valueQuantity"] = {
                "value": 1200,
                "system": "http://unitsofmeasure.org",
                "code": PROBE,
            }
    body = hook_body("u1", prefetch=full_prefetch(record))
    response = make_app(SHOW_INELIGIBLE_CARD=True).test_client().post(HOOK_PATH, json=body)
    assert response.status_code == 200
    assert grammar_calls == []
    (card,) = response.json["cards"]
    issues = card["extension"][EXTENSION_KEY]["dataIssues"]
    assert any("longer than the limit of 64" in i for i in issues)


def test_max_unit_length_setting_reaches_the_engine(make_app: Callable[..., Flask]) -> None:
    try:
        make_app(MAX_UNIT_LENGTH=16)
        assert units.max_unit_length() == 16
    finally:
        units.configure(max_unit_length=None)


@pytest.mark.parametrize("value", [0, 257, "64", True])
def test_bad_max_unit_length_fails_at_start(value: object) -> None:
    with pytest.raises(ValueError, match="MAX_UNIT_LENGTH"):
        build_config({"MAX_UNIT_LENGTH": value}, environ={})
