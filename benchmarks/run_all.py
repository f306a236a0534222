"""Every speed figure of the project beside its floor, measured in the same run (the README's table).

    python benchmarks/run_all.py            # everything (~10 minutes on 2 cores)
    python benchmarks/run_all.py --quick    # smaller populations and fewer rounds

Each line gives what was measured, the project's figure, the floor (the least the same work can
cost on this machine, measured in the same run, interleaved where it can be), their ratio, and
the goal of issue 13. Absolute figures move with the machine's load; the ratios move less.
Prints the date, the CPU and the load average first.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "benchmarks"
FIXTURE = REPO / "fixtures" / "patients" / "01-candidate-mgl-male.json"
IGG4_CDS = str(Path(sys.executable).with_name("igg4-cds"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"{cpu}, {os.cpu_count()} CPUs, Python {platform.python_version()}, load average {load}"


def wall(cmd: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - started


def json_tail(cmd: list[str]) -> dict[str, Any]:
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
    sys.stderr.write(proc.stdout)
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


Row = tuple[str, str, str, str, str, str]


def row(what: str, project: float, floor: float, unit: str, goal: str, met: bool) -> Row:
    fmt = (lambda v: f"{v:,.0f} {unit}") if project >= 100 else (lambda v: f"{v:.1f} {unit}")
    ratio = project / floor if floor else float("nan")
    verdict = "—" if goal == "—" else ("yes" if met else "no")
    return (what, fmt(project), fmt(floor), f"{ratio:.2f}×", goal, verdict)


def cli(rounds: int) -> list[Row]:
    assess = [IGG4_CDS, "assess", "--as-of", "2026-11-24", str(FIXTURE)]
    floor = [sys.executable, "-c", f"import json; json.load(open({str(FIXTURE)!r}))"]
    runs: dict[str, list[float]] = {"assess": [], "floor": []}
    for _ in range(rounds):  # interleaved
        runs["assess"].append(wall(assess))
        runs["floor"].append(wall(floor))
    a, f = (statistics.median(runs[k]) * 1000 for k in ("assess", "floor"))
    return [row("`igg4-cds assess` of one small fixture, wall", a, f, "ms", "≤ 300 ms", a <= 300)]


def hook(args: argparse.Namespace) -> list[Row]:
    r = json_tail(
        [sys.executable, str(BENCH / "hook_load.py"), "--json", "--no-fetch",
         "--rounds", str(args.rounds), "--requests", str(args.hook_requests),
         "--concurrency", "1,8"]
    )  # fmt: skip
    seq, par = r["full prefetch, 1 client"], r["full prefetch, 8 clients"]
    rows = [
        row("hook, full prefetch, 1 client, p50", seq["service"]["p50_ms"],
            seq["floor"]["p50_ms"], "ms", "—", True),
        row("hook, full prefetch, 1 client, p99", seq["service"]["p99_ms"],
            seq["floor"]["p99_ms"], "ms", "≤ 50 ms", seq["service"]["p99_ms"] <= 50),
        row("hook, 8 clients, p99", par["service"]["p99_ms"], par["floor"]["p99_ms"], "ms",
            "≤ 150 ms", par["service"]["p99_ms"] <= 150),
        row("hook, 8 clients, throughput", par["service"]["throughput_rps"],
            par["floor"]["throughput_rps"], "req/s", "≥ 100 req/s",
            par["service"]["throughput_rps"] >= 100),
    ]  # fmt: skip
    return rows


def bulk(args: argparse.Namespace, tmp: Path) -> list[Row]:
    cores = os.cpu_count() or 1
    workers = sorted({1, cores})
    r = json_tail(
        [sys.executable, str(BENCH / "screen_bulk.py"), "--json", "--patients",
         str(args.patients), "--workers", ",".join(map(str, workers)), "--rounds",
         str(args.bulk_rounds), "--data", str(tmp / "pop")]
    )  # fmt: skip
    res = float(r["resources"])
    rows: list[Row] = []
    for w in workers:
        screen = r[f"screen_{w}"]
        floor = res / float(r[f"parse_orjson_{w}"])
        label = f"{w} worker{'s' if w > 1 else ''}"
        rows.append(
            row(f"bulk screen, {label}, resources/s", res / float(screen["seconds"]), floor,
                "res/s", "≥ 50% of the floor", res / float(screen["seconds"]) >= floor / 2)
        )  # fmt: skip
        rows.append(
            row(f"bulk scan alone (parse, select, group by patient), {label}",
                res / float(screen["scan"]), floor, "res/s", "—", True)
        )  # fmt: skip
        assessed = float(screen["assessed_resources"])
        rows.append(
            row(f"bulk engine phase, {label}: resources of the selected patients/s",
                assessed / float(screen["engine"]), floor, "res/s", "—", True)
        )  # fmt: skip
    if not args.no_memory:
        peaks = {}
        for n in args.memory:
            m = json_tail(
                [sys.executable, str(BENCH / "screen_bulk.py"), "--json", "--no-parse",
                 "--patients", str(n), "--workers", "2", "--data", str(tmp / f"pop{n}")]
            )  # fmt: skip
            peaks[n] = float(m["screen_2"]["peak_mb"])
        small, large = min(peaks), max(peaks)
        ratio = peaks[large] / peaks[small]
        rows.append(
            (f"bulk peak memory (process tree, 2 workers), {' → '.join(f'{n:,}' for n in peaks)} "
             "patients", " → ".join(f"{peaks[n]:,.0f}" for n in peaks) + " MiB",
             f"{peaks[small]:,.0f} MiB", f"{ratio:.2f}×", "≤ 1.25×",
             "yes" if ratio <= 1.25 else "no")
        )  # fmt: skip
    return rows


def worklist(args: argparse.Namespace) -> list[Row]:
    r = json_tail(
        [sys.executable, str(BENCH / "worklist_bench.py"), "--json", "--patients",
         str(args.worklist)]
    )  # fmt: skip
    csv_ms, floor_ms, fhir_ms = (r[k] * 1000 for k in ("csv", "csv_floor", "fhir"))
    n = args.worklist
    return [
        row(f"worklist CSV export of {n:,} rows", csv_ms, floor_ms, "ms", "≤ 3× the floor",
            csv_ms <= 3 * floor_ms),
        (f"worklist FHIR export of {n:,} rows", f"{fhir_ms:,.0f} ms", "—", "—", "≤ 500 ms",
         "yes" if fhir_ms <= 500 else "no"),
    ]  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="cli,hook,bulk,worklist")
    ap.add_argument("--no-memory", action="store_true", help="skip the 1k/5k/20k memory screens")
    args = ap.parse_args()
    args.rounds = 3 if args.quick else 5
    args.hook_requests = 100 if args.quick else 200
    args.patients = 2_000 if args.quick else 10_000
    args.memory = (1_000, 5_000) if args.quick else (1_000, 5_000, 20_000)
    args.bulk_rounds = 1 if args.quick else 3
    args.worklist = 5_000
    parts = args.only.split(",")
    print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; {machine()}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="igg4-run-all-") as tmp:
        if "cli" in parts:
            rows += cli(args.rounds * 3)
        if "hook" in parts:
            rows += hook(args)
        if "bulk" in parts:
            rows += bulk(args, Path(tmp))
        if "worklist" in parts:
            rows += worklist(args)
    header = ("what", "project", "floor", "ratio", "goal", "met")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    print()
    print("| " + " | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) + " |")
    print(f"\nfinished {datetime.now(UTC):%Y-%m-%d %H:%M} UTC; load average now "
          f"{', '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
