"""Where the bulk screen's time goes, per resource, beside orjson parsing (one process, CPU time).

    python benchmarks/bulk_profile.py --data pop/          # an export (e.g. from `igg4-cds synth`)
    python benchmarks/bulk_profile.py --patients 5000      # generated here

Two parts, each measured in rounds interleaved with its floor (medians of CPU time):

- the scan, per line of the export: reading and splitting lines, parsing them (orjson), deciding
  each one's patient and selection, holding lines by patient, writing sorted runs and the plan;
- the engine phase, per resource of the selected patients: reading them back and parsing them,
  building the clinical record (``build_record``), the criteria (``assess_record``), the
  worklist's summary (``handoff``), the rest of ``assess_group``.

Then the arithmetic: the whole screen per line of the export is about scan + (share of resources
selected) × engine, so the ratio to the parse floor that the screen can reach on this export, and
what the engine's cost per resource would have to be for the screen to reach half the floor.
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Any

import orjson

from cds_service.eligibility import api
from cds_service.screening import runner
from cds_service.screening.bulk import BulkExport, StoredGroup
from cds_service.screening.ndjson import LineReader, find_export_files, open_text, segments
from cds_service.screening.records import PATIENT_REFERENCE, Selection, patient_key


def cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def median_cpu(fn: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        c = cpu()
        fn()
        times.append(cpu() - c)
    return statistics.median(times)


def scan_parts(files: list[Path], selection: Selection, rounds: int) -> list[tuple[str, float]]:
    def floor() -> None:
        for f in files:
            with open_text(f) as fh:
                for line in fh:
                    if line.strip():
                        orjson.loads(line)

    def split() -> None:
        for s in segments(files, 1 << 60):
            for batch in LineReader(s, 1 << 30).batches():
                for _ in batch:
                    pass

    def parse() -> None:
        loads = orjson.loads
        for s in segments(files, 1 << 60):
            for batch in LineReader(s, 1 << 30).batches():
                for line in batch:
                    assert line is not None
                    loads(line)

    def classify(hold: bool = False) -> None:
        loads, fields, memo = orjson.loads, PATIENT_REFERENCE, {}
        held: defaultdict[str | None, list[bytes]] = defaultdict(list)
        for s in segments(files, 1 << 60):
            for batch in LineReader(s, 1 << 30).batches():
                for line in batch:
                    assert line is not None
                    r = loads(line)
                    field = fields.get(r.get("resourceType"))
                    if field:
                        ref = r.get(field)
                        reference = ref.get("reference") if type(ref) is dict else None
                        key = memo.get(reference)
                        if key is None:
                            key = memo[reference] = patient_key(reference)
                        if hold:
                            held[key].append(line)
                            if len(held) > 50_000:  # as a run flush would, roughly
                                held.clear()

    def full() -> None:
        with BulkExport(files[0].parent, selection) as export:
            export.scan()

    steps: list[tuple[str, Callable[[], object]]] = [
        ("floor: read lines + orjson.loads", floor),
        ("read + split into lines", split),
        ("  + orjson.loads", parse),
        ("  + patient of each line", classify),
        ("  + held by patient", lambda: classify(hold=True)),
        ("whole scan (+ selection, counts, runs written, plan)", full),
    ]
    results: dict[str, list[float]] = {name: [] for name, _ in steps}
    for _ in range(rounds):  # interleaved
        for name, fn in steps:
            results[name].append(median_cpu(fn, 1))
    return [(name, statistics.median(v)) for name, v in results.items()]


def engine_parts(
    root: Path, selection: Selection, rounds: int
) -> tuple[int, int, float, list[tuple[str, float]]]:
    spent: defaultdict[str, float] = defaultdict(float)

    def timed(owner: Any, name: str, label: str) -> None:
        fn = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            t = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[label] += time.process_time() - t

        setattr(owner, name, wrapper)

    timed(StoredGroup, "load", "read back + parse (+ shared resources)")
    timed(api, "build_record", "build_record: FHIR -> clinical facts")
    timed(api, "assess_record", "assess_record: the 18 criteria")
    timed(runner, "handoff", "handoff: the worklist's summary")
    timed(runner, "assess_group", "assess_group (all of the engine)")
    with BulkExport(root, selection) as export:
        export.scan()
        groups = list(export.stored_groups())
        if not groups:
            return 0, 0, 0.0, []
        runner._init_worker(None, date(2026, 11, 24))
        runner.assess_batch(groups[:3])  # warm-up
        lines = [line for g in groups for line in g.raw().resources]

        def parse_all() -> None:
            for x in lines:
                orjson.loads(x)

        parse = median_cpu(parse_all, rounds)
        totals = []
        per: defaultdict[str, list[float]] = defaultdict(list)
        for _ in range(rounds):
            spent.clear()
            c = cpu()
            for i in range(0, len(groups), 50):
                runner.assess_batch(groups[i : i + 50])  # type: ignore[arg-type]
            totals.append(cpu() - c)
            for k, v in spent.items():
                per[k].append(v)
    parts = [("engine phase (read back + engine)", statistics.median(totals))]
    parts += [(k, statistics.median(v)) for k, v in per.items()]
    return len(groups), len(lines), parse, parts


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--data", type=Path, help="export directory")
    ap.add_argument("--patients", type=int, default=5000, help="generated when --data is not given")
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    tmp = tempfile.TemporaryDirectory(prefix="igg4-bulk-profile-")
    root = args.data
    if root is None:
        root = Path(tmp.name) / "pop"
        subprocess.run(
            [sys.executable, "-c", "from cds_service.cli import main; main()", "synth",
             "--patients", str(args.patients), "--out", str(root)],
            check=True, capture_output=True,
        )  # fmt: skip
    files = find_export_files(root)
    selection = Selection.from_valuesets()
    lines = sum(1 for f in files for line in open_text(f) if line.strip())

    scan = scan_parts(files, selection, args.rounds)
    floor = scan[0][1]
    print(f"export {root}: {lines:,} lines in {len(files)} files\n\nscan, per line of the export:")
    for name, s in scan:
        print(f"  {name:<56} {s / lines * 1e6:6.2f} µs  {s / floor:5.2f}× floor")
    scan_cost = scan[-1][1] / lines

    patients, resources, parse, parts = engine_parts(root, selection, args.rounds)
    if not patients:
        print("\nno patient selected: the screen is the scan")
        return
    share = resources / lines
    print(
        f"\nengine phase, per resource of the {patients:,} selected patients ({resources:,} "
        f"resources, {share:.1%} of the lines); orjson.loads of them {parse / resources * 1e6:.2f} µs:"
    )
    for name, s in parts:
        print(f"  {name:<56} {s / resources * 1e6:6.2f} µs  {s / parse:5.1f}× their parse")
    engine = parts[0][1] / resources
    per_line = scan_cost + share * engine
    print(
        f"\nwhole screen ≈ scan + {share:.1%} × engine phase = {per_line * 1e6:.2f} µs per line "
        f"→ {floor / lines / per_line:.2f}× the floor (one process)."
    )
    need = (2 * floor / lines - scan_cost) / share
    if need > 0:
        print(
            f"Half the floor needs the engine phase at ≤ {need * 1e6:.2f} µs per selected resource "
            f"({engine / need:.1f}× faster than now) with this scan."
        )
    else:
        print("Half the floor is out of reach with this scan alone.")


if __name__ == "__main__":
    main()
