"""Benchmark: the bulk screen on a generated population, beside the physical floor of parsing it.

    python benchmarks/screen_bulk.py                   # 10,000 patients (~1M resources)
    python benchmarks/screen_bulk.py --patients 2000 --data /tmp/pop2k --all-patients

Prints, on 1 core and on all cores: the bulk screen's wall time, throughput (resources/s and
patients/s of the export; assessed patients/s) and peak memory (RSS of the whole process tree,
sampled every 20 ms: the screen, DuckDB and the engine workers), and the time to merely parse the same
files with orjson and with the standard library's json (1 core) and with orjson on all cores.
Each measurement runs in a fresh subprocess.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PARSE_CHILD = r"""
import gzip, json, sys, time
from concurrent.futures import ProcessPoolExecutor
import orjson

def parse(path, loads):
    opener = gzip.open if path.endswith(".gz") else open
    n = 0
    with opener(path, "rb") as fh:
        for line in fh:
            if line.strip():
                loads(line)
                n += 1
    return n

def parse_orjson(path):
    return parse(path, orjson.loads)

if __name__ == "__main__":
    mode, workers, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
    t = time.perf_counter()
    if workers == 1:
        n = sum(parse(f, orjson.loads if mode == "orjson" else json.loads) for f in files)
    else:
        with ProcessPoolExecutor(workers) as pool:
            import os
            n = sum(pool.map(parse_orjson, sorted(files, key=lambda f: -os.path.getsize(f))))
    print(json.dumps({"seconds": time.perf_counter() - t, "lines": n}))
"""

SCREEN_CHILD = r"""
import json, os, sys, threading, time
from pathlib import Path
from datetime import date
from cds_service.screening import ScreenConfig, run_screen

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

root, workers, out, all_patients = Path(sys.argv[1]), int(sys.argv[2]), Path(sys.argv[3]), sys.argv[4] == "1"
threading.Thread(target=sample, daemon=True).start()
t = time.perf_counter()
o = run_screen(ScreenConfig(bulk_dir=root, as_of=date(2026, 11, 24), workers=workers, out=out,
                            all_patients=all_patients))
seconds = time.perf_counter() - t
done.set()
print(json.dumps({"seconds": seconds, "peak_mb": peak[0] / 1024, "lines": o.stats.lines,
                  "patients": o.stats.patients, "assessed": o.summary.assessed,
                  "status": dict(o.summary.status)}))
"""


def _child(code: str, *args: str) -> dict[str, object]:
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)
    if proc.returncode != 0:
        sys.exit(f"benchmark step failed:\n{proc.stderr[-2000:]}")
    result: dict[str, object] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--patients", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--data", type=Path, help="population directory (generated if empty)")
    ap.add_argument("--files-per-type", type=int, default=0, help="default: number of cores")
    ap.add_argument(
        "--all-patients",
        action="store_true",
        help="assess every patient, not only those with IgG4-RD codes or IgG4 results",
    )
    ap.add_argument("--workers", default="", help="comma-separated (default: 1 and all cores)")
    ap.add_argument("--no-parse", action="store_true", help="skip the parsing floors")
    ap.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = ap.parse_args()
    cores = os.cpu_count() or 1
    tmp = tempfile.TemporaryDirectory(prefix="igg4-bench-")
    data = args.data or Path(tmp.name) / "population"
    if not (data / "manifest.json").exists():
        t = time.perf_counter()
        subprocess.run(
            [
                sys.executable,
                "-c",
                "from cds_service.cli import main; main()",
                "synth",
                "--patients",
                str(args.patients),
                "--out",
                str(data),
                "--seed",
                str(args.seed),
                "--files-per-type",
                str(args.files_per_type or cores),
            ],
            check=True,
            capture_output=True,
        )
        print(f"generated {args.patients} patients in {time.perf_counter() - t:.1f} s")
    manifest = json.loads((data / "manifest.json").read_text())
    files = [str(data / f) for f in manifest["files"]]
    size_mb = sum(Path(f).stat().st_size for f in files) / 2**20
    n_res, n_pat = manifest["totalResources"], manifest["patients"]
    print(
        f"population: {n_pat} patients, {n_res} resources, {size_mb:.0f} MB NDJSON in "
        f"{len(files)} files; {cores} cores; all patients assessed: {args.all_patients}\n"
    )

    rows: list[tuple[str, float, str]] = []
    figures: dict[str, object] = {"patients": n_pat, "resources": n_res, "mb": size_mb}
    floors = (
        ()
        if args.no_parse
        else (
            ("parse orjson, 1 core", "orjson", 1),
            ("parse json (stdlib), 1 core", "json", 1),
            (f"parse orjson, {cores} cores", "orjson", cores),
        )
    )
    for label, mode, workers in floors:
        r = _child(PARSE_CHILD, mode, str(workers), *files)
        s = float(r["seconds"])  # type: ignore[arg-type]
        figures[f"parse_{mode}_{workers}"] = s
        rows.append((label, s, f"{n_res / s:>12,.0f} resources/s  {size_mb / s:>7.0f} MB/s"))
    counts = [int(w) for w in args.workers.split(",")] if args.workers else sorted({1, cores})
    for workers in counts:
        out = Path(tmp.name) / f"out-{workers}.ndjson"
        r = _child(
            SCREEN_CHILD, str(data), str(workers), str(out), "1" if args.all_patients else "0"
        )
        s = float(r["seconds"])  # type: ignore[arg-type]
        figures[f"screen_{workers}"] = {"seconds": s, "peak_mb": r["peak_mb"]}
        assessed = int(r["assessed"])  # type: ignore[call-overload]
        rows.append(
            (
                f"bulk screen, {workers} core{'s' if workers > 1 else ''}",
                s,
                f"{n_res / s:>12,.0f} resources/s  {n_pat / s:>8,.0f} patients/s  "
                f"{assessed} assessed ({assessed / s:,.0f}/s)  peak {float(r['peak_mb']):.0f} MB"  # type: ignore[arg-type]
                f"  {r['status']}",
            )
        )
    width = max(len(r[0]) for r in rows)
    for label, seconds, detail in rows:
        print(f"{label:<{width}}  {seconds:>7.2f} s  {detail}")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
