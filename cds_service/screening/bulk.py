"""The bulk source: a FHIR Bulk Data export (NDJSON, possibly gzipped, several files per type),
grouped by patient with DuckDB.

Two streaming passes over the files, each parallel over DuckDB's threads:

1. *Scan*: every line is classified (``records.py`` rules, in SQL: ``bulk_sql.py``) into a compact
   index (file, kind, type, patient key, selects) without the line text. From it: counts, the patients
   worth assessing, and which files hold malformed lines.
2. *Group*: the lines of the selected patients only, ``ORDER BY`` patient, one partition at a time:
   patients are cut, in key order, into partitions of about ``partition_bytes`` of NDJSON each (a
   patient larger than that is a partition of its own), and each partition is one sorted query. So
   DuckDB (``memory_limit``, spilling to ``temp_directory``) and Python hold at most one partition
   and one patient: memory is bounded by a constant and the largest patient, never by the export.
   Each partition reads the files again (the filter is pushed into the scan), trading I/O for memory.
   The Medication and ResearchStudy resources a patient's records point to (they belong to no
   patient) are joined into that patient's group, as a FHIR server's ``_include`` would give them.

Malformed lines are never fatal: DuckDB counts them per file, and only the files that hold any are
read again in Python to name each line and reason (``issues()``).
"""

from __future__ import annotations

import gzip
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, cast

import duckdb

from cds_service.screening import bulk_sql
from cds_service.screening.model import PatientGroup, SourceIssue, SourceStats
from cds_service.screening.records import Selection, classify_line

SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
FETCH_ROWS = 4096


def find_export_files(root: str | Path) -> list[Path]:
    """Every NDJSON file under ``root`` (recursively), in a stable order. Types are read from the
    content, not the name, so any Bulk Data file naming works."""
    base = Path(root)
    if base.is_file():
        return [base]
    return sorted(p for p in base.rglob("*") if p.is_file() and p.name.endswith(SUFFIXES))


def open_text(path: Path) -> IO[bytes]:
    if path.name.endswith(".gz"):
        return cast(IO[bytes], gzip.open(path, "rb"))
    return open(path, "rb")


class BulkExport:
    """One export directory. Use as a context manager; ``scan()`` first, then ``groups()``."""

    def __init__(
        self,
        root: str | Path,
        selection: Selection,
        *,
        all_patients: bool = False,
        threads: int = 1,
        memory_limit: str = "512MB",
        max_line_size: int = 2 * 1024 * 1024,
        done_journal: Path | None = None,
        temp_dir: str | Path | None = None,
        partition_bytes: int = 128 * 1024 * 1024,
    ) -> None:
        self.root = Path(root)
        self.files = find_export_files(self.root)
        if not self.files:
            raise FileNotFoundError(f"no NDJSON files ({', '.join(SUFFIXES)}) under {self.root}")
        self.selection = selection
        self.all_patients = all_patients
        self.done_journal = done_journal if done_journal and done_journal.exists() else None
        self.max_line_size = max_line_size
        self.partition_bytes = max(1, partition_bytes)
        self.partitions = 0
        self._tmp = tempfile.TemporaryDirectory(prefix="igg4-screen-", dir=temp_dir)
        self.con = duckdb.connect(
            config={
                "threads": max(1, threads),
                "memory_limit": memory_limit,
                "temp_directory": str(Path(self._tmp.name) / "spill"),
                "preserve_insertion_order": False,
            }
        )
        self.con.execute("SET enable_progress_bar = false")  # DuckDB would draw on stdout
        self._bad_files: dict[str, int] = {}
        self._salvaged: list[SourceIssue] = []  # gzip files cut short or corrupt
        self._origin: dict[str, Path] = {}  # a salvaged file's readable part -> the export's file
        self.stats = SourceStats()

    def __enter__(self) -> BulkExport:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()
        self._tmp.cleanup()

    def relative(self, file: str | Path) -> str:
        path = self._origin.get(str(file), Path(file))
        try:
            return str(path.relative_to(self.root)) if self.root.is_dir() else path.name
        except ValueError:
            return str(path)

    def _classified_sql(self, files: list[str] | None = None) -> str:
        return bulk_sql.classified(
            files or [str(p) for p in self.files], self.selection, max_line_size=self.max_line_size
        )

    # ----- pass 1 ------------------------------------------------------------------------------
    def scan(self) -> SourceStats:
        con, stats = self.con, self.stats
        # One row per (file, kind, type, patient, shared link): small, whatever the resources per
        # patient.
        index = (
            "CREATE TEMP TABLE idx AS SELECT file, kind, rtype, key, link, bool_or(sel) AS sel, "
            "sum(strlen(line)) AS bytes, count(*) AS n FROM ({}) GROUP BY ALL"
        )
        try:
            con.execute(index.format(self._classified_sql()))
        except duckdb.IOException:
            # A gzip file cut short or corrupt stops DuckDB's reader: its readable lines are
            # screened (copied out), the rest is reported, and the scan runs again.
            if not self._salvage_gzip():
                raise
            con.execute(index.format(self._classified_sql()))
        for kind, rtype, n in con.execute(
            "SELECT kind, rtype, sum(n) FROM idx GROUP BY ALL ORDER BY ALL"
        ).fetchall():
            n = int(n)
            stats.lines += n
            if kind in ("resource", "shared"):
                stats.resources[rtype] = n
            elif kind == "other":
                stats.other_types[rtype] = n
            elif kind == "unlinked":
                stats.unlinked += n
            elif kind == "blank":
                stats.blank += n
            else:
                stats.bad += n
        self._bad_files = dict(
            con.execute(
                "SELECT file, sum(n) FROM idx WHERE kind = 'bad' GROUP BY file ORDER BY file"
            ).fetchall()
        )
        self._recount_bad_files()
        stats.lines += len(self._salvaged)
        stats.bad += len(self._salvaged)
        stats.patients = _scalar(
            con, "SELECT count(DISTINCT key) FROM idx WHERE rtype = 'Patient' AND kind = 'resource'"
        )
        wanted = "TRUE" if self.all_patients else "bool_or(sel)"
        con.execute(
            "CREATE TEMP TABLE wanted AS SELECT key, sum(bytes) AS bytes FROM idx "
            f"WHERE kind = 'resource' GROUP BY key HAVING {wanted}"
        )
        stats.selected = _scalar(con, "SELECT count(*) FROM wanted")
        if self.done_journal is not None:
            con.execute(
                "CREATE TEMP TABLE done AS SELECT DISTINCT line AS key FROM read_csv(?, "
                "columns={'line': 'VARCHAR'}, delim=chr(1), quote='', escape='', header=false, "
                "auto_detect=false)",
                [str(self.done_journal)],
            )
            stats.already_done = _scalar(
                con, "SELECT count(*) FROM wanted WHERE key IN (SELECT key FROM done)"
            )
            con.execute("DELETE FROM wanted WHERE key IN (SELECT key FROM done)")
        self._shared_tables()
        con.execute("DROP TABLE idx")
        con.execute(
            "CREATE TEMP TABLE parts AS SELECT key, CAST(floor((sum(bytes) OVER (ORDER BY key "
            f"ROWS UNBOUNDED PRECEDING) - bytes) / {self.partition_bytes}) AS BIGINT) AS part "
            "FROM wanted"
        )
        self.partitions = _scalar(con, "SELECT coalesce(max(part) + 1, 0) FROM parts")
        return stats

    def _shared_tables(self) -> None:
        """The Medication and ResearchStudy lines (read again from the files that hold any) and
        which patient points to which: each patient's group gets the ones it points to."""
        con = self.con
        con.execute(
            "CREATE TEMP TABLE links AS SELECT DISTINCT key, link FROM idx "
            "WHERE kind = 'resource' AND link IS NOT NULL"
        )
        files = [
            f
            for (f,) in con.execute(
                "SELECT DISTINCT file FROM idx WHERE kind = 'shared' ORDER BY file"
            ).fetchall()
        ]
        if files and _scalar(con, "SELECT count(*) FROM links"):
            con.execute(
                "CREATE TEMP TABLE shared AS SELECT key AS link, min(line) AS line, rtype, rid "
                f"FROM ({self._classified_sql(files)}) WHERE kind = 'shared' GROUP BY ALL"
            )
        else:
            con.execute(
                "CREATE TEMP TABLE shared (link VARCHAR, line VARCHAR, rtype VARCHAR, rid VARCHAR)"
            )

    def _recount_bad_files(self) -> None:
        """Every file where DuckDB found a malformed line or refused one (too long, not UTF-8) is
        enumerated in Python, as ``issues()`` lists it (lines end at a newline; DuckDB's reader
        also ends them at a carriage return): the summary's count is the report's, whatever the
        file holds. The file's usable lines stay as DuckDB read them."""
        refused: dict[str, int] = {}
        try:
            for path, n in self.con.execute(
                "SELECT s.file_path, count(DISTINCT e.line) FROM reject_errors e "
                "JOIN reject_scans s USING (scan_id, file_id) GROUP BY ALL"
            ).fetchall():
                refused[str(path)] = int(n)
        except duckdb.Error:
            pass
        for file in sorted(set(self._bad_files) | set(refused)):
            found = sum(1 for _ in self._file_issues(file))
            before = int(self._bad_files.get(file, 0)) + refused.get(file, 0)
            self.stats.bad += found - before + refused.get(file, 0)
            self.stats.lines += found - before + refused.get(file, 0)
            self._bad_files[file] = found

    def _file_issues(self, file: str) -> Iterator[SourceIssue]:
        where = self.relative(file)
        with open_text(Path(file)) as fh:
            for n, raw in enumerate(fh, start=1):
                if len(raw.rstrip(b"\r\n")) > self.max_line_size:
                    # as DuckDB's reader refused it: never screened
                    yield SourceIssue(where, n, "line not read: line size over maximum")
                    continue
                c, _ = classify_line(raw, self.selection)
                if c.kind == "bad":
                    yield SourceIssue(where, n, c.message)

    def _salvage_gzip(self) -> bool:
        """Copy the readable lines of each gzip file that cannot be read to the end into a plain
        file of the temporary folder, read that instead, and report where the file breaks.
        False when every gzip file reads to the end (the error was something else)."""
        found = False
        files: list[Path] = []
        for path in self.files:
            if not path.name.endswith(".gz") or str(path) in self._origin:
                files.append(path)
                continue
            copy = Path(self._tmp.name) / f"salvaged-{len(self._origin)}-{path.name[:-3]}"
            with open(path, "rb") as src, open(copy, "wb") as dst:
                lines, broken = _gunzip_lines(src, dst)
            if not broken:
                copy.unlink()
                files.append(path)
                continue
            found = True
            self._origin[str(copy)] = path
            files.append(copy)
            self._salvaged.append(
                SourceIssue(
                    self.relative(path),
                    lines + 1,
                    "gzip file cut short or corrupt: this line and any after it not read",
                )
            )
        if found:
            self.files = files
            self.con.execute("DROP TABLE IF EXISTS idx")
        return found

    def issues(self) -> Iterator[SourceIssue]:
        """Each malformed line with its file and line number (files without any are not re-read)."""
        yield from self._salvaged
        for file in sorted(self._bad_files):
            if self._bad_files[file]:
                yield from self._file_issues(file)

    # ----- pass 2 ------------------------------------------------------------------------------
    def groups(self) -> Iterator[PatientGroup]:
        """The selected patients' resources, one patient at a time, in patient order."""
        for part in range(self.partitions):
            yield from self._partition(part)

    def _partition(self, part: int) -> Iterator[PatientGroup]:
        keys = f"(SELECT key FROM parts WHERE part = {int(part)})"
        cur = self.con.execute(
            # A patient key is set only on a usable resource (kind 'resource'); filtering on the key
            # alone keeps DuckDB's pushed-down filter small.
            f"SELECT key, line FROM (SELECT key, line, rtype, rid FROM ({self._classified_sql()}) "
            f"WHERE key IN {keys} "
            "UNION ALL SELECT l.key, s.line, s.rtype, s.rid FROM links l JOIN shared s USING (link) "
            f"WHERE l.key IN {keys}) ORDER BY key, rtype, rid NULLS LAST"
        )
        key: str | None = None
        lines: list[str] = []
        while True:
            rows = cur.fetchmany(FETCH_ROWS)
            if not rows:
                break
            for k, line in rows:
                if k != key:
                    if key is not None:
                        yield PatientGroup(key, tuple(lines))
                    key, lines = k, []
                lines.append(line)
        if key is not None:
            yield PatientGroup(key, tuple(lines))


def _gunzip_lines(src: IO[bytes], dst: IO[bytes]) -> tuple[int, bool]:
    """Decompress ``src`` (gzip, one or more members) into ``dst`` up to its last whole line;
    (lines written, whether the stream broke before its end). ``zlib`` keeps what it could
    decompress before a truncation or a corrupt block (``gzip`` would drop the last read)."""
    inflate = zlib.decompressobj(wbits=47)
    tail, lines = b"", 0

    def emit(data: bytes) -> None:
        nonlocal tail, lines
        data = tail + data
        cut = data.rfind(b"\n") + 1
        dst.write(data[:cut])
        lines += data.count(b"\n", 0, cut)
        tail = data[cut:]

    pending = False  # a gzip member begun and not finished
    while chunk := src.read(1 << 14):  # small: a corrupt block loses at most this much
        while chunk:
            try:
                emit(inflate.decompress(chunk))
            except zlib.error:
                return lines, True
            pending = True
            if not inflate.eof:
                break
            chunk, pending = inflate.unused_data, False  # a next member may follow
            inflate = zlib.decompressobj(wbits=47)
    broken = pending
    if not broken and tail:
        dst.write(tail)  # the last line of an intact file needs no newline
    return lines, broken


def _sql_text(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _scalar(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    row = con.execute(sql).fetchone()
    return int(row[0]) if row else 0
