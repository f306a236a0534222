"""The bulk source: a FHIR Bulk Data export (NDJSON, possibly gzipped, several files per type),
grouped by patient with an external merge sort. Memory is bounded by settings, not by the export.

1. *Scan* (one pass, parallel over the workers): the files are cut into segments (``ndjson.py``);
   each worker parses every line of its segments once, classifies it (``scan.py``, the rules of
   ``records.py``), counts it, and holds the lines of each patient (and the Medication and
   ResearchStudy resources patients point to) by key, writing them out as a sorted run (``runs.py``)
   whenever it holds ``partition_bytes``. Malformed lines go to issue files with their numbers.
2. *Plan* (this process): the runs' indexes are merged in key order, one entry per run in memory:
   counts of patients, which patients are worth assessing (a selecting line in any run, or all with
   ``all_patients``), which the journal of a resumed run already has, where each one's lines are.
   The shared Medication / ResearchStudy lines go to a small SQLite file.
3. *Groups*: the plan in patient order, as ``StoredGroup``s that the engine workers load themselves
   (their lines read back from the runs, the shared resources they point to joined in, as a FHIR
   server's ``_include`` would give them). Results come back in that order.

The temporary files (about the size of the export's NDJSON) live in a temporary directory
(``temp_dir``, default the system's) removed on ``close()``.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import orjson

from cds_service.screening import runs
from cds_service.screening.model import PatientGroup, SourceIssue, SourceStats
from cds_service.screening.ndjson import SUFFIXES, Segment, find_export_files, open_text, segments
from cds_service.screening.records import Selection, shared_link
from cds_service.screening.scan import ScanResult, ScanTask, issue_path, scan

__all__ = ["BulkExport", "StoredGroup", "find_export_files", "open_text"]

GZIP_BROKEN = "gzip file cut short or corrupt: this line and any after it not read"
MIN_BUFFER = 64 * 1024
MIN_TASK = 8 * 1024 * 1024  # a worker's task is at least this much NDJSON (gzip: estimated)
JOURNAL_CHUNK = 200_000  # journal lines sorted in memory at a time
PLAN_CHUNK = 256


def parse_size(text: str | int) -> int:
    """ "512MB", "2GB", "64 MiB", "1000000" -> bytes."""
    if isinstance(text, int):
        return text
    s = text.strip().upper().replace(" ", "").removesuffix("B").removesuffix("I")
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}
    if s and s[-1] in units:
        return int(float(s[:-1]) * units[s[-1]])
    return int(float(s))


@dataclass(frozen=True, slots=True)
class StoredGroup:
    """A patient of the plan: where its lines are. Loaded by the process that assesses it."""

    ref: str
    pieces: tuple[runs.Piece, ...]
    size: int  # lines
    directory: str  # the runs
    shared: str | None  # the SQLite file of shared resources, if the export has any

    def lines(self) -> list[bytes]:
        """The patient's own lines, in no particular order."""
        reader = _reader(self.directory)
        out: list[bytes] = []
        for run, offset, length in self.pieces:
            out.extend(reader.read(run, offset, length).split(b"\n"))
        return out

    def load(self) -> PatientGroup:
        """The patient's resources, parsed, with the shared resources they point to (once each)."""
        resources: list[Any] = [orjson.loads(line) for line in self.lines()]
        if self.shared is not None:
            links = {link for r in resources if (link := shared_link(r)) is not None}
            resources.extend(orjson.loads(line) for line in _shared_lines(self.shared, links))
        return PatientGroup(self.ref, tuple(resources))

    def raw(self) -> PatientGroup:
        """As ``load()``, with the lines unparsed (the shared ones after the patient's own)."""
        own = self.lines()
        extra: list[bytes] = []
        if self.shared is not None:
            links = {link for line in own if (link := shared_link(orjson.loads(line))) is not None}
            extra = _shared_lines(self.shared, links)
        return PatientGroup(self.ref, (*own, *extra))


# Per process: the runs and shared store of the export being read (one at a time).
_open: dict[str, Any] = {}


def _reader(directory: str) -> runs.PieceReader:
    reader = _open.get("reader")
    if reader is None or reader.directory != directory:
        if reader is not None:
            reader.close()
        reader = _open["reader"] = runs.PieceReader(directory)
    return reader


def _shared_lines(path: str, links: set[str]) -> list[bytes]:
    if not links:
        return []
    con = _open.get("shared")
    if con is None or _open.get("shared_path") != path:
        if con is not None:
            con.close()
        con = _open["shared"] = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True)
        _open["shared_path"] = path
    out = []
    for link in sorted(links):
        row = con.execute("SELECT line FROM shared WHERE link = ?", (link,)).fetchone()
        if row is not None:
            out.append(bytes(row[0]))
    return out


class BulkExport:
    """One export directory. Use as a context manager; ``scan()`` first, then ``groups()`` (lines,
    in this process) or ``stored_groups()`` (for engine workers), and ``issues()``."""

    def __init__(
        self,
        root: str | Path,
        selection: Selection,
        *,
        all_patients: bool = False,
        threads: int = 1,
        memory_limit: str | int = "512MB",
        max_line_size: int = 2 * 1024 * 1024,
        done_journal: Path | None = None,
        temp_dir: str | Path | None = None,
        partition_bytes: int = 16 * 1024 * 1024,
    ) -> None:
        self.root = Path(root)
        self.files = find_export_files(self.root)
        if not self.files:
            raise FileNotFoundError(f"no NDJSON files ({', '.join(SUFFIXES)}) under {self.root}")
        self.selection = selection
        self.all_patients = all_patients
        self.done_journal = done_journal if done_journal and done_journal.exists() else None
        self.max_line_size = max_line_size
        self.threads = max(1, threads)
        # Each worker holds at most this much NDJSON before writing a run.
        self.buffer_bytes = max(
            MIN_BUFFER, min(max(1, partition_bytes), parse_size(memory_limit) // self.threads)
        )
        self.partitions = 0  # sorted runs written
        self._tmp = tempfile.TemporaryDirectory(prefix="igg4-screen-", dir=temp_dir)
        self.directory = Path(self._tmp.name)
        self._segments: list[Segment] = []
        self._results: list[ScanResult] = []
        self._plan = self.directory / "plan.pickle"
        self._shared: str | None = None
        self.stats = SourceStats()

    def __enter__(self) -> BulkExport:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        reader = _open.pop("reader", None)
        if reader is not None:
            reader.close()
        con = _open.pop("shared", None)
        if con is not None:
            con.close()
        self._tmp.cleanup()

    def relative(self, file: str | Path) -> str:
        path = Path(file)
        try:
            return str(path.relative_to(self.root)) if self.root.is_dir() else path.name
        except ValueError:
            return str(path)

    # ----- pass 1: scan ----------------------------------------------------------------------------
    def _tasks(self) -> list[ScanTask]:
        """Consecutive segments in tasks: enough tasks to keep every worker busy, each big enough
        to fill its buffer more than once (a task ends with a run of its own)."""
        total = sum(Segment(0, str(p), 0, -1).cost() for p in self.files)
        target = max(MIN_TASK, total // (3 * self.threads)) if self.threads > 1 else total
        self._segments = segments(self.files, target)
        groups: list[list[tuple[int, Segment]]] = [[]]
        cost = 0
        for number, seg in enumerate(self._segments):
            size = seg.cost()
            if groups[-1] and cost + size > target:
                groups.append([])
                cost = 0
            groups[-1].append((number, seg))
            cost += size
        return [
            ScanTask(
                i,
                tuple(g),
                str(self.directory),
                self.selection,
                self.max_line_size,
                self.buffer_bytes,
            )
            for i, g in enumerate(groups)
        ]

    def scan(self, pool: Executor | None = None) -> SourceStats:
        """The pass over the files (on ``pool``'s workers when given), then the plan."""
        tasks = self._tasks()
        if pool is None:
            results = [scan(t) for t in tasks]
        else:
            # Largest first, so that a big gzip file does not start last.
            order = sorted(tasks, key=lambda t: -sum(s.cost() for _, s in t.segments))
            futures = {t.number: pool.submit(scan, t) for t in order}
            results = [futures[t.number].result() for t in tasks]
        self._results = results
        stats = self.stats
        names: list[str] = []
        for r in results:
            names.extend(r.runs)
            stats.lines += sum(r.lines.values()) + len(r.broken)
            stats.bad += sum(r.bad.values()) + len(r.broken)
            stats.blank += r.blank
            stats.unlinked += r.unlinked
            for rtype, n in r.resources.items():
                stats.resources[rtype] = stats.resources.get(rtype, 0) + n
            for rtype, n in r.other_types.items():
                stats.other_types[rtype] = stats.other_types.get(rtype, 0) + n
        stats.resources = dict(sorted(stats.resources.items()))
        stats.other_types = dict(sorted(stats.other_types.items()))
        # Runs are numbered in the order written, so that a piece is (run number, offset, length).
        for number, name in enumerate(names):
            for ext in ("dat", "idx"):
                os.replace(self.directory / f"{name}.{ext}", self.directory / f"{number}.{ext}")
        self.partitions = len(names)
        self._make_plan()
        return stats

    def _journal_indexes(self) -> list[Iterator[runs.Merged]]:
        """The journal's patients as sorted index files (DONE entries, no lines), in chunks."""
        if self.done_journal is None:
            return []
        paths: list[Path] = []
        with open(self.done_journal, encoding="utf-8") as fh:
            while chunk := list(islice(fh, JOURNAL_CHUNK)):
                path = self.directory / f"done-{len(paths)}.idx"
                keys = sorted({line.strip() for line in chunk} - {""})
                runs.write_index(path, ((k, runs.DONE, 0, 0, 0) for k in keys))
                paths.append(path)
        return [runs.read_index(p, -1) for p in paths]

    def _make_plan(self) -> None:
        stats = self.stats
        indexes = [runs.read_index(self.directory / f"{n}.idx", n) for n in range(self.partitions)]
        indexes.extend(self._journal_indexes())
        shared: sqlite3.Connection | None = None
        reader = runs.PieceReader(str(self.directory))
        chunk: list[tuple[str, tuple[runs.Piece, ...], int]] = []
        try:
            with open(self._plan, "wb") as plan:
                for key, flags, pieces in runs.merge(indexes, self.directory):
                    if flags & runs.SHARED:
                        if shared is None:
                            shared = self._shared_store()
                        line = min(
                            line
                            for run, offset, length, _ in pieces
                            for line in reader.read(run, offset, length).split(b"\n")
                        )
                        shared.execute("INSERT INTO shared VALUES (?, ?)", (key, line))
                        continue
                    if flags & runs.PATIENT:
                        stats.patients += 1
                    if not pieces or not (self.all_patients or flags & runs.SELECTS):
                        continue
                    stats.selected += 1
                    if flags & runs.DONE:
                        stats.already_done += 1
                        continue
                    chunk.append(
                        (
                            key,
                            tuple((run, offset, length) for run, offset, length, _ in pieces),
                            sum(n for *_, n in pieces),
                        )
                    )
                    if len(chunk) >= PLAN_CHUNK:
                        runs.write_records(plan, list(chunk))
                        chunk.clear()
                if chunk:
                    runs.write_records(plan, list(chunk))
        finally:
            reader.close()
            if shared is not None:
                shared.commit()
                shared.close()
        for n in range(self.partitions):
            (self.directory / f"{n}.idx").unlink()

    def _shared_store(self) -> sqlite3.Connection:
        path = self.directory / "shared.sqlite"
        con = sqlite3.connect(path)
        con.execute("CREATE TABLE shared (link TEXT PRIMARY KEY, line BLOB) WITHOUT ROWID")
        self._shared = str(path)
        return con

    # ----- the groups -----------------------------------------------------------------------------
    def stored_groups(self) -> Iterator[StoredGroup]:
        """The selected patients not done yet, in patient order, for the engine workers."""
        directory = str(self.directory)
        for record in runs.read_records(self._plan):
            key, pieces, size = cast(tuple[str, tuple[runs.Piece, ...], int], record)
            yield StoredGroup(key, pieces, size, directory, self._shared)

    def groups(self) -> Iterator[PatientGroup]:
        """The same patients' resources as NDJSON lines, one patient at a time, in patient order."""
        for group in self.stored_groups():
            yield group.raw()

    # ----- malformed lines ------------------------------------------------------------------------
    def issues(self) -> Iterator[SourceIssue]:
        """Each malformed line with its file and line number, in file and line order."""
        before: dict[int, int] = {}  # segment -> lines of its file in the segments before it
        lines = {n: c for r in self._results for n, c in r.lines.items()}
        seen: dict[int, int] = {}
        for number, seg in enumerate(self._segments):
            before[number] = seen.get(seg.file, 0)
            seen[seg.file] = before[number] + lines.get(number, 0)
        for r in self._results:
            with open(issue_path(self.directory, r.number), encoding="utf-8") as fh:
                rows = (row.rstrip("\n").split("\t", 2) for row in fh)
                pending = next(rows, None)
                for number in sorted(r.lines):  # the task's segments, in order
                    where = self.relative(self._segments[number].path)
                    while pending is not None and int(pending[0]) == number:
                        yield SourceIssue(where, before[number] + int(pending[1]), pending[2])
                        pending = next(rows, None)
                    if number in r.broken:
                        yield SourceIssue(where, before[number] + r.broken[number], GZIP_BROKEN)
