"""The synthetic population generator: deterministic, realistic mix, Bulk Data layout."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import orjson
from click.testing import CliRunner

from cds_service.cli import cli
from cds_service.synth import PROFILES, generate_patient, generate_population, write_bulk

from .conftest import AS_OF


def test_same_seed_same_population_and_patients_independent_of_size() -> None:
    a = [orjson.dumps(p.resources) for p in generate_population(30, seed=3, as_of=AS_OF)]
    b = [orjson.dumps(p.resources) for p in generate_population(60, seed=3, as_of=AS_OF)]
    assert a == b[:30]
    c = [orjson.dumps(p.resources) for p in generate_population(30, seed=4, as_of=AS_OF)]
    assert a != c


def test_mix_is_mostly_without_igg4rd_and_covers_every_profile() -> None:
    profiles = Counter(p.profile.name for p in generate_population(1000, seed=1, as_of=AS_OF))
    assert set(profiles) == {p.name for p in PROFILES}
    assert profiles["general"] > 800
    igg4rd = sum(
        n for name, n in profiles.items() if next(p for p in PROFILES if p.name == name).igg4rd
    )
    assert 80 <= igg4rd <= 140


def test_igg4rd_patients_have_years_of_igg4_results() -> None:
    patient = next(
        p
        for p in (generate_patient(i, seed=1, as_of=AS_OF) for i in range(200))
        if p.profile.name == "candidate"
    )
    igg4 = [
        o
        for o in patient.resources["Observation"]
        if any(c["code"] == "2469-5" for c in o["code"]["coding"])
    ]
    dates = sorted(o["effectiveDateTime"][:10] for o in igg4)
    assert len(igg4) >= 6
    assert int(dates[-1][:4]) - int(dates[0][:4]) >= 2
    assert patient.count > 60


def test_bulk_layout_split_and_gzip(tmp_path: Path) -> None:
    summary = write_bulk(
        generate_population(50, seed=2, as_of=AS_OF), tmp_path, files_per_type=3, gzip_files=True
    )
    assert "Observation.002.ndjson.gz" in summary.files
    assert summary.patients == 50
    lines = 0
    patients = set()
    for name in summary.files:
        with gzip.open(tmp_path / name, "rb") as fh:
            for line in fh:
                r = orjson.loads(line)
                lines += 1
                if r["resourceType"] == "Patient":
                    patients.add(r["id"])
    assert lines == summary.total_resources
    assert len(patients) == 50
    assert (tmp_path / "truth.csv").read_text().count("\n") == 51
    manifest = orjson.loads((tmp_path / "manifest.json").read_bytes())
    assert manifest["totalResources"] == summary.total_resources


def test_synth_command(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli,
        [
            "synth",
            "--patients",
            "40",
            "--out",
            str(tmp_path / "x"),
            "--seed",
            "9",
            "--history-years",
            "1",
            "2",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "40 patients" in result.output
    assert (tmp_path / "x" / "Patient.ndjson").read_text().count("\n") == 40
