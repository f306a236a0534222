"""Shared synthetic populations for the screening tests (generated once per session)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest

from cds_service.screening.bulk import find_export_files, open_text
from cds_service.synth import generate_population, shared_resources, write_bulk

AS_OF = date(2026, 11, 24)


@dataclass(frozen=True)
class Population:
    root: Path
    patients: int
    truth: dict[str, tuple[str, str]]  # "Patient/x" -> (profile, intended status)

    def resources(self) -> Iterator[dict[str, Any]]:
        for path in find_export_files(self.root):
            with open_text(path) as fh:
                for line in fh:
                    if line.strip():
                        try:
                            yield orjson.loads(line)
                        except orjson.JSONDecodeError:
                            continue


def make_population(root: Path, n: int, *, seed: int, **kwargs: Any) -> Population:
    write_bulk(
        generate_population(n, seed=seed, as_of=AS_OF),
        root,
        shared=shared_resources(seed),
        **kwargs,
    )
    with open(root / "truth.csv", encoding="utf-8") as fh:
        truth = {r["patient"]: (r["profile"], r["intended"]) for r in csv.DictReader(fh)}
    return Population(root, n, truth)


@pytest.fixture(scope="session")
def population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    """240 patients over 2 gzipped files per type: the three-paths population."""
    return make_population(
        tmp_path_factory.mktemp("pop240"), 240, seed=11, files_per_type=2, gzip_files=True
    )


@pytest.fixture(scope="session")
def broken_population(tmp_path_factory: pytest.TempPathFactory) -> Population:
    """60 patients with four malformed lines among them."""
    return make_population(
        tmp_path_factory.mktemp("broken"), 60, seed=5, broken_lines=4, files_per_type=2
    )


def read_ndjson(path: Path) -> list[dict[str, Any]]:
    with open(path, "rb") as fh:
        return [orjson.loads(line) for line in fh if line.strip()]
