"""The bulk path's sorted runs: the same groups, counts and issues however the work is cut up."""

from __future__ import annotations

from concurrent.futures import Executor
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from cds_service.screening import bulk, runner, runs
from cds_service.screening.bulk import BulkExport
from cds_service.screening.model import SourceStats
from cds_service.screening.records import Selection

from .conftest import make_population

SEL = Selection.from_valuesets()


def _screen(
    root: Path, pool: Executor | None = None, **kwargs: Any
) -> tuple[SourceStats, list[tuple[str, int]], list[str]]:
    with BulkExport(root, SEL, **kwargs) as export:
        stats = export.scan(pool)
        groups = [(g.ref, len(g.resources)) for g in export.groups()]
        issues = [str(i) for i in export.issues()]
        assert export.partitions >= 1
    return stats, groups, issues


def test_workers_and_tiny_buffers_change_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Plain files (cut into segments) with malformed lines, beside gzip files.
    pop = make_population(tmp_path / "plain", 150, seed=8, broken_lines=6)
    one = _screen(pop.root, threads=1)
    with runner.pool(2, as_of=date(2026, 11, 24), params_path=None) as pool:
        many = _screen(pop.root, threads=2, partition_bytes=100_000, memory_limit="1MB", pool=pool)
    assert many == one
    assert len(one[2]) == 6 and len(one[1]) > 10
    # Many runs merged three at a time, in steps; readers keeping two files open.
    monkeypatch.setattr(runs, "FAN_IN", 3)
    monkeypatch.setattr(runs, "MAX_OPEN", 2)
    assert _screen(pop.root, partition_bytes=50_000) == one


def test_a_resumed_run_skips_the_journal_in_chunks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pop = make_population(tmp_path / "pop", 80, seed=9)
    with BulkExport(pop.root, SEL, all_patients=True) as export:
        export.scan()
        refs = [g.ref for g in export.stored_groups()]
    journal = tmp_path / "journal.txt"
    done = refs[::3]
    journal.write_text("".join(f"{r}\n" for r in reversed(done)) + "Patient/not-in-export\n")
    monkeypatch.setattr(bulk, "JOURNAL_CHUNK", 7)
    with BulkExport(pop.root, SEL, all_patients=True, done_journal=journal) as export:
        stats = export.scan()
        left = [g.ref for g in export.stored_groups()]
    assert stats.selected == len(refs) and stats.already_done == len(done)
    assert left == [r for r in refs if r not in set(done)]
