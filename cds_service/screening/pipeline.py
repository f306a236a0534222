"""One screen from source to sinks: the function the ``screen`` command and the tests call.

source (bulk export, bulk/Spark or FHIR server) -> patient groups -> engine (process pool) ->
sinks (file, worklist) -> journal, with the summary, progress and report alongside.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from pathlib import Path
from typing import Literal

from cds_service.screening import runner
from cds_service.screening.auth import TokenProvider
from cds_service.screening.bulk import BulkExport
from cds_service.screening.fhir_source import FhirServerSource, RetryPolicy, ServerUnreachable
from cds_service.screening.model import PatientResult, SourceIssue, SourceStats
from cds_service.screening.ndjson import find_export_files
from cds_service.screening.output import FileSink, Journal, Sink, WorklistSink
from cds_service.screening.progress import Progress
from cds_service.screening.records import Selection
from cds_service.screening.report import write_report
from cds_service.screening.summary import Summary

SHOWN_ISSUES = 20


@dataclass(slots=True)
class ScreenConfig:
    bulk_dir: Path | None = None
    fhir_server: str | None = None
    engine: Literal["local", "spark"] = "local"
    as_of: date | None = None
    params_path: str | None = None
    workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    out: Path | None = None
    out_format: str | None = None  # csv | ndjson; default from the file name
    db_url: str | None = None
    fhir_label: str | None = None  # the worklist's fhir_server for bulk results
    report_dir: Path | None = None
    resume: bool = False
    journal: Path | None = None
    all_patients: bool = False
    memory_limit: str = "512MB"  # bulk: NDJSON held in memory for grouping, all workers together
    partition_bytes: int = 16 * 1024 * 1024  # bulk: NDJSON one worker holds before writing a run
    temp_dir: Path | None = None  # bulk: where the sorted runs go (default: the system's)
    max_line_bytes: int = 2 * 1024 * 1024  # a longer NDJSON line is reported, never read
    concurrency: int = 4
    auth: TokenProvider | None = None
    retry: RetryPolicy | None = None
    progress: bool = False
    spark_master: str = "local[*]"

    def journal_path(self) -> Path:
        if self.journal is not None:
            return self.journal
        if self.out is not None:
            return self.out.with_name(self.out.name + ".journal")
        if self.report_dir is not None:
            return self.report_dir / "journal.txt"
        return Path(".igg4-screen.journal")

    def file_format(self) -> str:
        if self.out_format:
            return self.out_format
        return "csv" if self.out is not None and self.out.suffix.lower() == ".csv" else "ndjson"


@dataclass(slots=True)
class ScreenOutcome:
    summary: Summary
    stats: SourceStats
    issues_shown: list[SourceIssue]
    journal: Path
    error: str | None = None  # set when the run stopped early (what was done is kept)
    report_files: list[Path] = field(default_factory=list)


class _Sinks:
    def __init__(self, cfg: ScreenConfig, fhir_server: str) -> None:
        self.journal_path = cfg.journal_path()
        self.sinks: list[Sink] = []
        if cfg.out is not None:
            self.sinks.append(FileSink(cfg.out, cfg.file_format(), append=cfg.resume))
        if cfg.db_url:
            self.sinks.append(WorklistSink(cfg.db_url, fhir_server))
        self.journal = Journal(self.journal_path, append=cfg.resume)

    def consume(
        self, batches: Iterable[list[PatientResult]], summary: Summary, progress: Progress
    ) -> None:
        for batch in batches:
            for sink in self.sinks:
                sink.write(batch)
            self.journal.write(r.ref for r in batch)  # last: only kept results count as done
            summary.add(batch)
            progress.advance(len(batch))

    def close(self) -> None:
        for sink in self.sinks:
            sink.close()
        self.journal.close()


def _write_all(
    cfg: ScreenConfig,
    stats: SourceStats,
    label: str,
    batches: Iterable[list[PatientResult]],
    summary: Summary,
) -> None:
    """Every batch into the sinks, the journal, the summary and the progress bar; the sinks are
    closed (and the bar finished) however the batches end."""
    progress = Progress(stats.selected - stats.already_done, enabled=cfg.progress)
    sinks = _Sinks(cfg, label)
    try:
        sinks.consume(batches, summary, progress)
    finally:
        sinks.close()
        progress.finish()


def _finish(
    cfg: ScreenConfig,
    summary: Summary,
    stats: SourceStats,
    issues: Iterable[SourceIssue],
    journal: Path,
    error: str | None,
) -> ScreenOutcome:
    shown: list[SourceIssue] = []

    def tee(items: Iterable[SourceIssue]) -> Iterator[SourceIssue]:
        for issue in items:
            if len(shown) < SHOWN_ISSUES:
                shown.append(issue)
            yield issue

    files: list[Path] = []
    if cfg.report_dir is not None:
        extra = {"asOf": cfg.as_of.isoformat() if cfg.as_of else None, "stoppedEarly": error}
        files = write_report(cfg.report_dir, summary, stats, tee(issues), extra)
    else:
        for _ in islice(tee(issues), SHOWN_ISSUES):
            pass
    return ScreenOutcome(summary, stats, shown, journal, error, files)


def run_screen(cfg: ScreenConfig) -> ScreenOutcome:
    if (cfg.bulk_dir is None) == (cfg.fhir_server is None):
        raise ValueError("give exactly one source: a bulk export directory or a FHIR server")
    selection = Selection.from_valuesets()
    if cfg.fhir_server is not None:
        return _run_server(cfg, selection)
    assert cfg.bulk_dir is not None
    if cfg.engine == "spark":
        return _run_spark(cfg, selection, cfg.bulk_dir)
    return _run_bulk(cfg, selection, cfg.bulk_dir)


def _bulk_label(cfg: ScreenConfig, root: Path) -> str:
    return cfg.fhir_label or root.resolve().as_uri()


def _run_bulk(cfg: ScreenConfig, selection: Selection, root: Path) -> ScreenOutcome:
    journal = cfg.journal_path()
    with (
        BulkExport(
            root,
            selection,
            all_patients=cfg.all_patients,
            threads=cfg.workers,
            memory_limit=cfg.memory_limit,
            partition_bytes=cfg.partition_bytes,
            max_line_size=cfg.max_line_bytes,
            done_journal=journal if cfg.resume else None,
            temp_dir=cfg.temp_dir,
        ) as export,
        _engine_pool(cfg) as pool,
    ):
        # One pool for both: the workers scan the files, then assess the patients.
        stats = export.scan(pool)
        summary = Summary()
        batches = runner.run(
            export.stored_groups(),
            workers=cfg.workers,
            as_of=cfg.as_of,
            params_path=cfg.params_path,
            executor=pool,
        )
        _write_all(cfg, stats, _bulk_label(cfg, root), batches, summary)
        return _finish(cfg, summary, stats, export.issues(), journal, None)


def _engine_pool(cfg: ScreenConfig) -> AbstractContextManager[ProcessPoolExecutor | None]:
    if cfg.workers <= 1:
        return nullcontext()
    return runner.pool(cfg.workers, as_of=cfg.as_of, params_path=cfg.params_path)


def _run_spark(cfg: ScreenConfig, selection: Selection, root: Path) -> ScreenOutcome:
    from cds_service.screening.spark import SparkScreen

    journal = cfg.journal_path()
    files = find_export_files(root)
    if not files:
        raise FileNotFoundError(f"no NDJSON files under {root}")
    spark = SparkScreen(
        files,
        root,
        selection,
        master=cfg.spark_master,
        all_patients=cfg.all_patients,
        done=Journal.read(journal) if cfg.resume else None,
    )
    try:
        stats = spark.scan()
        summary = Summary()
        batches = spark.results(as_of=cfg.as_of, params_path=cfg.params_path)
        _write_all(cfg, stats, _bulk_label(cfg, root), batches, summary)
        return _finish(cfg, summary, stats, spark.issues(), journal, None)
    finally:
        spark.close()


def _run_server(cfg: ScreenConfig, selection: Selection) -> ScreenOutcome:
    assert cfg.fhir_server is not None
    journal = cfg.journal_path()
    source = FhirServerSource(
        cfg.fhir_server, selection, auth=cfg.auth, concurrency=cfg.concurrency, retry=cfg.retry
    )
    summary = Summary()
    error: str | None = None
    try:
        stats = source.discover(Journal.read(journal) if cfg.resume else None)
    except ServerUnreachable as exc:
        return _finish(cfg, summary, source.stats, source.issues, journal, str(exc))
    batches = runner.run(
        source.groups(), workers=cfg.workers, as_of=cfg.as_of, params_path=cfg.params_path
    )
    try:
        _write_all(cfg, stats, source.base_url, batches, summary)
    except ServerUnreachable as exc:
        error = str(exc)  # what was written before it stays written
    return _finish(cfg, summary, stats, source.issues, journal, error)
