"""What speaking the reader's language costs: prints figures, asserts nothing.

    python benchmarks/locale_bench.py [--rounds N]

1. ``igg4-cds assess`` of a small fixture (a new process each time, as a user runs it): the table in
   English, in Chinese (``--lang zh_Hans``: the catalog and Babel's number and date formats are
   loaded), and ``--json``; beside the floor of starting Python (``python -c pass``). Interleaved
   rounds, medians.
2. In one process, the card of that patient (``screening_card``) in English and in Chinese, beside
   rendering the 18 English reasons only: per card, after the first (catalogs load once per locale).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "fixtures" / "patients" / "01-candidate-mgl-male.json"
IGG4_CDS = str(Path(sys.executable).with_name("igg4-cds"))
ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _run(cmd: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, env=ENV)
    return time.perf_counter() - start


def cli(rounds: int) -> None:
    base = [IGG4_CDS, "assess", "--as-of", "2026-11-24"]
    commands = {
        "python -c pass (floor)": [sys.executable, "-c", "pass"],
        "assess (English table)": [*base, str(FIXTURE)],
        "assess --lang zh_Hans": [*base, "--lang", "zh_Hans", str(FIXTURE)],
        "assess --json": [*base, "--json", str(FIXTURE)],
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(rounds):  # interleaved: the machine's load hits every command alike
        for name, cmd in commands.items():
            times[name].append(_run(cmd))
    floor = statistics.median(times["python -c pass (floor)"])
    print(f"igg4-cds assess, {rounds} interleaved rounds (median wall time):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<26} {median * 1000:7.0f} ms   {median / floor:5.1f} x floor")


def cards(rounds: int) -> None:
    from cds_service.eligibility import assess_resources
    from cds_service.fhir_fixture_server import bundle_resources
    from cds_service.hooks.cards import CardContext, screening_card
    from cds_service.i18n.message import decode_msg
    from cds_service.i18n.render import STABLE

    resources = bundle_resources(orjson.loads(FIXTURE.read_bytes()))
    assessment = assess_resources(resources, as_of=date(2026, 11, 24)).to_dict()

    def context(locale: str) -> CardContext:
        return CardContext(
            "c", "s", "fx01", "https://ehr.example.org/fhir", None, "https://cds.example.org",
            "https://cds.example.org/smart/launch", "https://clinicaltrials.gov/study/NCT05974683",
            None, datetime(2026, 11, 24, tzinfo=UTC), {}, locale,
        )  # fmt: skip

    def english_reasons() -> None:
        for c in assessment["criteria"]:
            STABLE(decode_msg(c["reasonCode"], c["reasonArgs"]))

    jobs = {
        "18 reasons, English (floor)": english_reasons,
        "card in English": lambda: screening_card(assessment, context("en")),
        "card in Chinese": lambda: screening_card(assessment, context("zh_Hans")),
    }
    for job in jobs.values():
        job()  # catalogs and Babel's locale data load here, once
    times: dict[str, list[float]] = {name: [] for name in jobs}
    for _ in range(rounds):
        for name, job in jobs.items():
            start = time.perf_counter()
            for _ in range(20):
                job()
            times[name].append((time.perf_counter() - start) / 20)
    floor = statistics.median(times["18 reasons, English (floor)"])
    print(f"\nOne card, in one process ({rounds} interleaved rounds of 20, median per card):")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"  {name:<28} {median * 1e6:7.0f} µs   {median / floor:5.1f} x floor")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    cli(args.rounds)
    cards(args.rounds)


if __name__ == "__main__":
    main()
