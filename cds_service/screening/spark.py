"""The bulk screen on Apache Spark (optional extra ``spark``): for exports larger than one machine.

The same rules as the local path, run as Spark jobs: lines are read per file with their numbers
(``textFile().zipWithIndex()``), classified by ``records.classify_line``, grouped by patient with a
shuffle, and each patient goes through the same ``runner.assess_group`` on the executors. Results
come back to the driver sorted by patient (``toLocalIterator``: one partition at a time), so the
output is identical to the local bulk path's. Tested in local mode (``local[2]``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

from cds_service.screening.model import PatientGroup, PatientResult, SourceIssue, SourceStats
from cds_service.screening.records import Selection, classify_line

# (kind, rtype, key, selects, file, line number, message, line text or None, shared link)
Row = tuple[str, str | None, str | None, bool, str, int, str, str | None, str | None]


def _classify(selection: Selection, item: tuple[str, int, str]) -> Row:
    file, number, text = item
    c, _ = classify_line(text, selection)
    keep = text if c.kind in ("resource", "shared") else None
    return (c.kind, c.rtype, c.key, c.selects, file, number, c.message, keep, c.link)


def _assess_partition(
    params_path: str | None, as_of: date | None, items: Iterable[tuple[str, Iterable[str]]]
) -> Iterator[PatientResult]:
    from cds_service.eligibility import load_params
    from cds_service.screening.runner import assess_group

    params = load_params(params_path)
    for key, lines in items:
        yield assess_group(PatientGroup(key, tuple(lines)), params, as_of)


def _numbered(file: str) -> Callable[[tuple[str, int]], tuple[str, int, str]]:
    """(line, 0-based index) -> (file, line number, line)."""

    def number(item: tuple[str, int]) -> tuple[str, int, str]:
        return (file, item[1] + 1, item[0])

    return number


class SparkScreen:
    def __init__(
        self,
        files: list[Path],
        root: Path,
        selection: Selection,
        *,
        master: str = "local[*]",
        all_patients: bool = False,
        done: set[str] | None = None,
    ) -> None:
        try:
            from pyspark import StorageLevel
            from pyspark.sql import SparkSession
        except ImportError as exc:  # the optional extra
            raise RuntimeError("Spark engine needs pyspark: pip install 'igg4-cds[spark]'") from exc
        # Executors run this same interpreter, so they import the same engine.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
        self.spark = (
            SparkSession.builder.master(master)
            .appName("igg4-cds-screen")
            .config("spark.ui.enabled", "false")
            .config("spark.ui.showConsoleProgress", "false")
            .config("spark.python.worker.reuse", "true")
            .getOrCreate()
        )
        self.spark.sparkContext.setLogLevel("ERROR")
        self.files, self.root, self.selection = files, root, selection
        self.all_patients = all_patients
        self.done = done or set()
        self.stats = SourceStats()
        self._storage = StorageLevel.MEMORY_AND_DISK
        self._classified: Any = None

    def close(self) -> None:
        if self._classified is not None:
            self._classified.unpersist()
        self.spark.stop()

    def _relative(self, path: Path) -> str:
        return str(path.relative_to(self.root)) if self.root.is_dir() else path.name

    def scan(self) -> SourceStats:
        sc = self.spark.sparkContext
        selection = self.selection
        per_file = [
            sc.textFile(str(p)).zipWithIndex().map(_numbered(self._relative(p))) for p in self.files
        ]
        lines = sc.union(per_file)
        classified = lines.map(lambda item: _classify(selection, item)).persist(self._storage)
        self._classified = classified
        for (kind, rtype), n in (
            classified.map(lambda r: ((r[0], r[1]), 1)).reduceByKey(lambda a, b: a + b).collect()
        ):
            self.stats.lines += n
            if kind in ("resource", "shared"):
                self.stats.resources[str(rtype)] = n
            elif kind == "other":
                self.stats.other_types[str(rtype)] = n
            elif kind == "unlinked":
                self.stats.unlinked += n
            elif kind == "blank":
                self.stats.blank += n
            else:
                self.stats.bad += n
        resources = classified.filter(lambda r: r[0] == "resource")
        self.stats.patients = (
            resources.filter(lambda r: r[1] == "Patient").map(lambda r: r[2]).distinct().count()
        )
        all_patients = self.all_patients
        wanted = (
            resources.map(lambda r: (r[2], r[3]))
            .reduceByKey(lambda a, b: a or b)
            .filter(lambda kv: all_patients or kv[1])
            .keys()
        )
        done = sc.broadcast(frozenset(self.done))
        self._wanted = wanted.filter(lambda k: k not in done.value).persist(self._storage)
        self.stats.selected = wanted.count()
        self.stats.already_done = self.stats.selected - self._wanted.count()
        return self.stats

    def issues(self) -> Iterator[SourceIssue]:
        bad = self._classified.filter(lambda r: r[0] == "bad").map(lambda r: (r[4], r[5], r[6]))
        for file, number, message in bad.sortBy(lambda t: (t[0], t[1])).toLocalIterator():
            yield SourceIssue(file, number, message)

    def results(
        self, *, as_of: date | None, params_path: str | None, batch: int = 200
    ) -> Iterator[list[PatientResult]]:
        classified = self._classified
        resources = classified.filter(lambda r: r[0] == "resource").map(lambda r: (r[2], r[7]))
        # Medication / ResearchStudy lines go to every patient that points to them.
        shared = (
            classified.filter(lambda r: r[0] == "shared")
            .map(lambda r: (r[2], r[7]))
            .reduceByKey(min)
        )
        links = (
            classified.filter(lambda r: r[0] == "resource" and r[8] is not None)
            .map(lambda r: (r[8], r[2]))
            .distinct()
        )
        resources = resources.union(links.join(shared).map(lambda kv: kv[1]))
        grouped = (
            resources.join(self._wanted.map(lambda k: (k, None)))
            .map(lambda kv: (kv[0], kv[1][0]))
            .groupByKey()
        )
        results = grouped.mapPartitions(
            lambda items: _assess_partition(params_path, as_of, items)
        ).sortBy(lambda r: r.ref)
        out: list[PatientResult] = []
        for r in results.toLocalIterator():
            out.append(r)
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out
