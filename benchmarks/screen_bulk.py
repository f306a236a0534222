"""Benchmark: the bulk screen on a generated population, beside the floor of merely parsing it.

    python benchmarks/screen_bulk.py                   # 10,000 patients (~1M resources)
    python benchmarks/screen_bulk.py --patients 2000 --workers 1,2 --rounds 5
    python benchmarks/screen_bulk.py --data /work/synthea/r4-bulk --all-patients

The floor is orjson parsing every line of the same files, on 1 core and on as many cores as the most
workers measured (a process per file). Each round runs, in fresh subprocesses and interleaved, the
floor on 1 core, then for each worker count the bulk screen and (for more than one worker) the floor
on that many cores; medians over the rounds are printed with each screen's ratio to its floor
(resources/s of the screen / resources/s of the floor: 1.0 would be a screen as fast as parsing).

For each screen: wall time; the scan (one pass over the files: parse, classify, select, set aside
by patient; then the plan) and the engine phase (the selected patients read back and assessed,
results written) apart; and peak memory, the RSS of the whole process tree (the screen and its
workers) sampled every 20 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

PARSE_CHILD = r"""
import gzip, json, os, sys, time
from concurrent.futures import ProcessPoolExecutor
import orjson

def parse(path):
    opener = gzip.open if path.endswith(".gz") else open
    n = 0
    with opener(path, "rb") as fh:
        for line in fh:
            if line.strip():
                try:
                    orjson.loads(line)
                except orjson.JSONDecodeError:
                    pass
                n += 1
    return n

if __name__ == "__main__":
    workers, files = int(sys.argv[1]), sys.argv[2:]
    t = time.perf_counter()
    if workers == 1:
        n = sum(parse(f) for f in files)
    else:
        with ProcessPoolExecutor(workers) as pool:
            n = sum(pool.map(parse, sorted(files, key=lambda f: -os.path.getsize(f))))
    print(json.dumps({"seconds": time.perf_counter() - t, "lines": n}))
"""

SCREEN_CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from datetime import date
from cds_service.screening import ScreenConfig, bulk, run_screen

def tree_rss_kb(pid):
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as fh:
                    stack.extend(int(c) for c in fh.read().split())
        except (FileNotFoundError, ProcessLookupError, ValueError):
            pass
    return total

peak = [0]
done = threading.Event()
def sample():
    while not done.is_set():
        peak[0] = max(peak[0], tree_rss_kb(os.getpid()))
        time.sleep(0.02)

phase = {}
scan = bulk.BulkExport.scan
def timed_scan(self, pool=None):
    t = time.perf_counter()
    try:
        return scan(self, pool)
    finally:
        phase["scan"] = time.perf_counter() - t
bulk.BulkExport.scan = timed_scan
stored = bulk.BulkExport.stored_groups
def counted_groups(self):
    phase["assessed_resources"] = 0
    for g in stored(self):
        phase["assessed_resources"] += g.size
        yield g
bulk.BulkExport.stored_groups = counted_groups

if __name__ == "__main__":
    root, workers, out, all_patients = (
        Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1")
    temp_dir = Path(sys.argv[5]) if len(sys.argv) > 5 else None
    threading.Thread(target=sample, daemon=True).start()
    t = time.perf_counter()
    o = run_screen(ScreenConfig(bulk_dir=root, as_of=date(2026, 11, 24), workers=workers, out=out,
                                all_patients=all_patients, temp_dir=temp_dir))
    seconds = time.perf_counter() - t
    done.set()
    print(json.dumps({"seconds": seconds, "scan": phase.get("scan", 0.0),
                      "engine": seconds - phase.get("scan", 0.0), "peak_mb": peak[0] / 1024,
                      "lines": o.stats.lines, "patients": o.stats.patients,
                      "assessed": o.summary.assessed,
                      "assessed_resources": phase.get("assessed_resources", 0),
                      "status": dict(o.summary.status)}))
"""


def _child(code: str, *args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed:\n{proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def population(args: argparse.Namespace, tmp: Path, cores: int) -> Path:
    data: Path = args.data or tmp / "population"
    if (data / "manifest.json").exists() or (data.is_dir() and any(data.iterdir())):
        return data
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "from cds_service.cli import main; main()", "synth",
         "--patients", str(args.patients), "--out", str(data), "--seed", str(args.seed),
         "--files-per-type", str(args.files_per_type or cores)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f} s")
    return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument(
        "--data", type=Path, help="export directory (a population is generated if empty)"
    )
    ap.add_argument("--files-per-type", type=int, default=0, help="default: number of cores")
    ap.add_argument(
        "--all-patients",
        action="store_true",
        help="assess every patient, not only those with IgG4-RD codes or IgG4 results",
    )
    ap.add_argument("--workers", default="", help="comma-separated (default: 1 and all cores)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (medians printed)")
    ap.add_argument("--no-parse", action="store_true", help="skip the parsing floors")
    ap.add_argument("--temp-dir", type=Path, help="the screen's --temp-dir")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    counts = [int(w) for w in args.workers.split(",")] if args.workers else sorted({1, cores})
    tmp = tempfile.TemporaryDirectory(prefix="igg4-bench-")
    data = population(args, Path(tmp.name), cores)
    files = sorted(
        str(p) for p in data.rglob("*") if p.name.endswith((".ndjson", ".ndjson.gz", ".jsonl"))
    )
    size_mb = sum(Path(f).stat().st_size for f in files) / 2**20
    print(
        f"export: {data}, {size_mb:.0f} MB in {len(files)} files; {cores} cores; "
        f"all patients assessed: {args.all_patients}; {args.rounds} round(s)\n"
    )

    floors: dict[int, list[float]] = {}
    screens: dict[int, list[dict[str, Any]]] = {w: [] for w in counts}
    lines = 0
    for _ in range(args.rounds):
        if not args.no_parse:
            r = _child(PARSE_CHILD, "1", *files)
            floors.setdefault(1, []).append(float(r["seconds"]))
            lines = int(r["lines"])
        for workers in counts:
            out = Path(tmp.name) / f"out-{workers}.ndjson"
            extra = [str(args.temp_dir)] if args.temp_dir else []
            r = _child(
                SCREEN_CHILD,
                str(data),
                str(workers),
                str(out),
                "1" if args.all_patients else "0",
                *extra,
            )
            screens[workers].append(r)
            if workers > 1 and not args.no_parse:
                f = _child(PARSE_CHILD, str(workers), *files)
                floors.setdefault(workers, []).append(float(f["seconds"]))

    first = screens[counts[0]][0]
    resources = lines or int(first["lines"])
    print(
        f"{first['lines']:,} lines, {first['patients']:,} patients, {first['assessed']:,} assessed "
        f"({first['assessed_resources']:,} of the resources): {first['status']}\n"
    )
    rows: list[tuple[str, float, str]] = []
    figures: dict[str, Any] = {"resources": resources, "mb": size_mb, "rounds": args.rounds}
    for workers, runs in sorted(floors.items()):
        s = statistics.median(runs)
        figures[f"parse_orjson_{workers}"] = s
        rows.append(
            (f"floor: orjson parse, {workers} core(s)", s, f"{resources / s:>10,.0f} res/s")
        )
    for workers in counts:
        runs = screens[workers]
        s = statistics.median(float(r["seconds"]) for r in runs)
        scan = statistics.median(float(r["scan"]) for r in runs)
        engine = statistics.median(float(r["engine"]) for r in runs)
        peak = statistics.median(float(r["peak_mb"]) for r in runs)
        assessed = int(runs[0]["assessed_resources"])
        figures[f"screen_{workers}"] = {
            "seconds": s,
            "scan": scan,
            "engine": engine,
            "peak_mb": peak,
            "assessed_resources": assessed,
        }
        floor = statistics.median(floors[workers]) if workers in floors else None
        ratio = f"  {floor / s:.2f}× floor" if floor else ""
        scan_ratio = f" ({floor / scan:.2f}× floor)" if floor else ""
        rows.append(
            (
                f"bulk screen, {workers} worker{'s' if workers > 1 else ''}",
                s,
                f"{resources / s:>10,.0f} res/s{ratio}; scan {scan:.2f} s{scan_ratio}, "
                f"engine phase {engine:.2f} s ({assessed / engine:,.0f} assessed res/s); "
                f"peak {peak:.0f} MiB",
            )
        )
    width = max(len(r[0]) for r in rows)
    for label, seconds, detail in rows:
        print(f"{label:<{width}}  {seconds:>7.2f} s  {detail}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
