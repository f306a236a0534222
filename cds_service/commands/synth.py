"""``igg4-cds synth``: a synthetic population as FHIR Bulk Data NDJSON, for tests and benchmarks."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from cds_service.commands.options import iso_date
from cds_service.synth import generate_population, shared_resources, write_bulk


@click.command()
@click.option("--patients", type=click.IntRange(1), required=True, help="Population size.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    required=True,
    help="Directory for the NDJSON files (created).",
)
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same population.")
@click.option(
    "--as-of",
    default="2026-11-24",
    show_default=True,
    callback=iso_date,
    help="The date the population's histories lead up to (screen with the same).",
)
@click.option(
    "--files-per-type",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Split each resource type over this many files.",
)
@click.option("--gzip", "gzip_files", is_flag=True, help="Write .ndjson.gz files.")
@click.option(
    "--history-years",
    type=(int, int),
    default=(3, 8),
    show_default=True,
    help="Years of routine panels per patient (min max): lower for lean populations.",
)
@click.option(
    "--broken-lines",
    type=click.IntRange(0),
    default=0,
    help="Insert this many malformed lines (to exercise error reporting).",
)
def synth(
    patients: int,
    out: Path,
    seed: int,
    as_of: date,
    files_per_type: int,
    gzip_files: bool,
    history_years: tuple[int, int],
    broken_lines: int,
) -> None:
    """Generate a synthetic clinic: most patients without IgG4-RD, some with years of labs.

    Writes Patient, Observation, Condition, MedicationRequest, MedicationStatement and
    ResearchSubject NDJSON, plus truth.csv (each patient's profile and intended status) and
    manifest.json. Nothing in it is real data.
    """
    lo, hi = history_years
    if not 1 <= lo <= hi:
        raise click.BadParameter("needs 1 <= min <= max", param_hint="--history-years")
    summary = write_bulk(
        generate_population(patients, seed=seed, as_of=as_of, history_years=(lo, hi)),
        out,
        files_per_type=files_per_type,
        gzip_files=gzip_files,
        broken_lines=broken_lines,
        shared=shared_resources(seed),
    )
    click.echo(
        f"{summary.patients} patients, {summary.total_resources} resources, "
        f"{summary.bytes_written / 1e6:.1f} MB of NDJSON in {len(summary.files)} file(s) under {out}"
    )
    for name, n in sorted(summary.profiles.items()):
        click.echo(f"  {name:<24}{n:>8}")
