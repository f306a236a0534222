"""Where results go: an NDJSON or CSV file, the worklist database, and the run's journal.

Every sink is written batch by batch and flushed, and the journal (the patients done in this run)
is written last, so that after a crash ``--resume`` skips only patients whose results were kept.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO, Any, Protocol

import orjson

from cds_service.screening.model import PatientResult

CRITERIA_IDS: tuple[str, ...] = (
    *(f"I{n}" for n in range(1, 8)),
    *(f"E{n}" for n in range(1, 12)),
)
CSV_COLUMNS: tuple[str, ...] = (
    "patient",
    "status",
    "asOf",
    *CRITERIA_IDS,
    "igg4Baseline",
    "igg4Nadir",
    "igg4Current",
    "igg4Unit",
    "dataIssues",
)


class Sink(Protocol):
    def write(self, results: Sequence[PatientResult]) -> None: ...

    def close(self) -> None: ...


def _value(point: Any) -> Any:
    return point.get("value") if isinstance(point, dict) else point


def csv_row(assessment: dict[str, Any]) -> list[Any]:
    by_id = {c["id"]: c["status"] for c in assessment.get("criteria", [])}
    igg4 = assessment.get("igg4") or {}
    return [
        assessment.get("patient"),
        assessment.get("status"),
        assessment.get("asOf"),
        *(by_id.get(cid, "") for cid in CRITERIA_IDS),
        _value(igg4.get("baseline")),
        _value(igg4.get("nadir")),
        _value(igg4.get("current")),
        igg4.get("unit"),
        len(assessment.get("dataIssues", [])),
    ]


class FileSink:
    """``--out FILE``: NDJSON (one ``Assessment.to_dict()`` a line) or CSV (one row a patient)."""

    def __init__(self, path: Path, fmt: str, *, append: bool) -> None:
        self.fmt = fmt
        fresh = not (append and path.exists() and path.stat().st_size > 0)
        path.parent.mkdir(parents=True, exist_ok=True)
        if fmt == "csv":
            self._fh: IO[Any] = open(path, "w" if fresh else "a", newline="", encoding="utf-8")  # noqa: SIM115
            self._csv = csv.writer(self._fh)
            if fresh:
                self._csv.writerow(CSV_COLUMNS)
        else:
            self._fh = open(path, "wb" if fresh else "ab")  # noqa: SIM115

    def write(self, results: Sequence[PatientResult]) -> None:
        for r in results:
            if r.assessment is None:
                continue
            if self.fmt == "csv":
                self._csv.writerow(csv_row(r.assessment))
            else:
                self._fh.write(orjson.dumps(r.assessment) + b"\n")
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()


class WorklistSink:
    """The recruiters' worklist (source ``screen``): one transaction per batch. Candidates and
    needs-review patients are listed, and patients already listed get their new assessment; the
    population's other ineligible patients are not (they would bury the list)."""

    def __init__(self, url: str, fhir_server: str) -> None:
        from cds_service.db import make_engine, make_session_factory, upgrade

        upgrade(url)
        self._engine = make_engine(url)
        self._sessions = make_session_factory(self._engine)
        self.fhir_server = fhir_server

    def write(self, results: Sequence[PatientResult]) -> None:
        from cds_service.worklist.store import record_if_relevant

        with self._sessions() as session:
            for r in results:
                if r.assessment is not None:
                    record_if_relevant(
                        session,
                        fhir_server=self.fhir_server,
                        assessment=r.assessment,
                        source="screen",
                        display_name=r.display_name,
                        handoff=r.handoff,
                        commit=False,
                    )
            session.commit()

    def close(self) -> None:
        self._engine.dispose()


class Journal:
    """The patients this run has finished (one reference a line), for ``--resume``."""

    def __init__(self, path: Path, *, append: bool) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh = open(path, "a" if append else "w", encoding="utf-8")  # noqa: SIM115

    @staticmethod
    def read(path: Path) -> set[str]:
        if not path.exists():
            return set()
        with open(path, encoding="utf-8") as fh:
            return {line.strip() for line in fh if line.strip()}

    def write(self, refs: Iterable[str]) -> None:
        self._fh.writelines(f"{ref}\n" for ref in refs)
        self._fh.flush()

    def close(self) -> None:
        self._fh.close()
