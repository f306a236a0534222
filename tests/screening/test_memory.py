"""Peak memory of the bulk screen does not grow with the population (2k vs 20k patients).

Each screen runs in a fresh subprocess and its peak RSS (``VmHWM``) is compared. The screen's
memory is Python and the engine, DuckDB (capped by ``memory_limit``, spilling beyond) and one
grouping partition: the 2k export does not fill DuckDB's cap and the 20k export does, so the peak
rises by part of that cap and then stops, while the export grows ten times. (Engine workers hold one
batch of patients each; they are not measured here.) The populations are "lean" (one year of routine labs per patient)
to keep the test short; 20k patients is still ~0.5M resources.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cds_service.synth import generate_population, shared_resources, write_bulk

from .conftest import AS_OF

CHILD = """
import json, sys
from datetime import date
from pathlib import Path
from cds_service.screening import ScreenConfig, run_screen
o = run_screen(ScreenConfig(bulk_dir=Path(sys.argv[1]), as_of=date(2026, 11, 24), workers=2,
                            out=Path(sys.argv[2]), memory_limit=sys.argv[3],
                            partition_bytes=8 * 1024 * 1024))
# VmHWM: this process's peak RSS. (getrusage's ru_maxrss would carry the parent's peak across
# fork and exec: a test run's pytest process is large.)
with open("/proc/self/status") as fh:
    hwm_kb = next(int(line.split()[1]) for line in fh if line.startswith("VmHWM:"))
print(json.dumps({
    "self_mb": hwm_kb / 1024,
    "assessed": o.summary.assessed, "lines": o.stats.lines,
}))
"""


def _peak(root: Path, out: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", CHILD, str(root), str(out), "128MB"],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_peak_memory_does_not_grow_with_population(tmp_path: Path) -> None:
    small, large = tmp_path / "p2k", tmp_path / "p20k"
    write_bulk(
        generate_population(2_000, seed=21, as_of=AS_OF, history_years=(1, 1)),
        small,
        files_per_type=2,
        shared=shared_resources(21),
    )
    write_bulk(
        generate_population(20_000, seed=21, as_of=AS_OF, history_years=(1, 1)),
        large,
        files_per_type=4,
        shared=shared_resources(21),
    )
    a = _peak(small, tmp_path / "a.ndjson")
    b = _peak(large, tmp_path / "b.ndjson")
    size_a = sum(p.stat().st_size for p in small.glob("*.ndjson")) / 2**20
    size_b = sum(p.stat().st_size for p in large.glob("*.ndjson")) / 2**20
    print(f"\n2k: {size_a:.0f} MB NDJSON, peak {a}\n20k: {size_b:.0f} MB NDJSON, peak {b}")
    assert b["lines"] > 9 * a["lines"] and b["assessed"] > 9 * a["assessed"]
    assert size_b - size_a > 250  # the export grew by far more than ...
    assert b["self_mb"] - a["self_mb"] < 90  # ... the screen's peak memory (under DuckDB's cap)
    assert b["self_mb"] < 320
