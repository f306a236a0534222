"""The same generated population through the three paths gives identical assessments.

FHIR server on loopback (the fixture server), bulk NDJSON (DuckDB + process pool) and Spark local
mode. Each result is also checked against the status the synthetic patient was built for.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.screening import ScreenConfig, run_screen
from cds_service.screening.auth import StaticToken

from .conftest import AS_OF, Population, read_ndjson


def _screen(tmp_path: Path, name: str, **kwargs: Any) -> tuple[list[dict[str, Any]], Any]:
    out = tmp_path / f"{name}.ndjson"
    outcome = run_screen(ScreenConfig(as_of=AS_OF, out=out, workers=2, **kwargs))
    assert outcome.error is None
    return read_ndjson(out), outcome


@pytest.fixture(scope="module")
def bulk_results(
    population: Population, tmp_path_factory: pytest.TempPathFactory
) -> list[dict[str, Any]]:
    results, outcome = _screen(tmp_path_factory.mktemp("bulk"), "bulk", bulk_dir=population.root)
    assert outcome.stats.patients == population.patients
    return results


def test_bulk_results_match_the_profiles(
    bulk_results: list[dict[str, Any]], population: Population
) -> None:
    selected = {p for p, (_, intended) in population.truth.items() if intended != "not-screened"}
    assert {a["patient"] for a in bulk_results} == selected
    wrong = [
        (a["patient"], population.truth[a["patient"]], a["status"])
        for a in bulk_results
        if a["status"] != population.truth[a["patient"]][1]
    ]
    assert wrong == []
    statuses = {a["status"] for a in bulk_results}
    assert statuses == {"candidate", "needs-review", "ineligible"}
    assert [a["patient"] for a in bulk_results] == sorted(a["patient"] for a in bulk_results)


def test_fhir_server_path_is_identical(
    bulk_results: list[dict[str, Any]], population: Population, tmp_path: Path
) -> None:
    with FixtureFhirServer(population.resources(), token="s3cret", page_size=40) as server:
        results, outcome = _screen(
            tmp_path,
            "server",
            fhir_server=server.base_url,
            auth=StaticToken("s3cret"),
            concurrency=4,
        )
    assert outcome.stats.selected == len(bulk_results)
    assert results == bulk_results


@pytest.mark.spark
@pytest.mark.slow
def test_spark_path_is_identical(
    bulk_results: list[dict[str, Any]], population: Population, tmp_path: Path
) -> None:
    pytest.importorskip(
        "pyspark", reason="the Spark path needs the optional extra: pip install '.[spark]'"
    )
    results, outcome = _screen(
        tmp_path, "spark", bulk_dir=population.root, engine="spark", spark_master="local[2]"
    )
    assert outcome.stats.patients == population.patients
    assert results == bulk_results
