"""The bulk path's one pass over the export: every line parsed once, classified, and set aside by
patient in sorted runs (``runs.py``).

A worker scans a *task*: consecutive segments of the export's files (``ndjson.py``). Each line is
classified as ``records.classify_line`` does (the reference; the common cases are decided here
without it, anything unusual is handed to it), counted, and, when it is a patient's resource or a
shared Medication / ResearchStudy, held under its key; when the held lines reach ``buffer_bytes``
they are written out as one sorted run. So a worker holds at most ``buffer_bytes`` of NDJSON,
whatever the export's size. Malformed lines are written to the task's issue file with their line
number within the segment (the segment's place in its file is known only when every segment has
been read), never kept in memory.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from cds_service.screening.ndjson import LineReader, Segment
from cds_service.screening.records import (
    PATIENT_REFERENCE,
    SHARED_TYPES,
    Selection,
    classify_line,
    classify_resource,
    patient_key,
)
from cds_service.screening.runs import RunWriter

LONG_LINE = "line not read: line size over maximum"
_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}").fullmatch  # records.reference_re's id
_OTHER: Any = object()  # not one of the engine's types
_KEY_MEMO = 1 << 16  # distinct reference strings remembered per worker (then it starts afresh)


@dataclass(frozen=True, slots=True)
class ScanTask:
    number: int
    segments: tuple[tuple[int, Segment], ...]  # (segment number, segment), in export order
    directory: str  # where runs and issue files go
    selection: Selection
    max_line: int
    buffer_bytes: int


@dataclass(slots=True)
class ScanResult:
    number: int
    runs: list[str] = field(default_factory=list)
    lines: dict[int, int] = field(default_factory=dict)  # segment -> lines read
    broken: dict[int, int] = field(default_factory=dict)  # segment -> line where a gzip breaks
    bad: dict[int, int] = field(default_factory=dict)  # segment -> malformed lines
    resources: dict[str, int] = field(default_factory=dict)
    other_types: dict[str, int] = field(default_factory=dict)
    unlinked: int = 0
    blank: int = 0

    def issue_file(self, directory: Path) -> Path:
        return issue_path(directory, self.number)


def issue_path(directory: Path, task: int) -> Path:
    return directory / f"issues-{task:05d}.txt"


class _Held:
    """The lines held for the next run."""

    def __init__(self) -> None:
        self.lines: defaultdict[str, list[bytes]] = defaultdict(list)
        self.selects: set[str] = set()
        self.patients: set[str] = set()
        self.shared: set[str] = set()
        self.size = 0


def scan(task: ScanTask) -> ScanResult:
    """Scan one task's segments; the runs and issue file are in ``task.directory``."""
    directory = Path(task.directory)
    result = ScanResult(task.number)
    writer = RunWriter(directory, f"t{task.number:05d}")
    held = _Held()
    memo: dict[str, str | None] = {}
    with open(issue_path(directory, task.number), "w", encoding="utf-8") as issues:
        for number, segment in task.segments:

            def report(line: int, message: str, number: int = number) -> None:
                issues.write(f"{number}\t{line}\t{message}\n")

            held = _scan_segment(task, segment, number, result, report, writer, held, memo)
    if held.lines:
        writer.write(held.lines, held.selects, held.patients, held.shared)
    result.runs = writer.written
    return result


def _scan_segment(
    task: ScanTask,
    segment: Segment,
    number: int,
    result: ScanResult,
    report: Callable[[int, str], None],
    writer: RunWriter,
    held: _Held,
    memo: dict[str, str | None],
) -> _Held:
    selection = task.selection
    observation_tokens = selection.observation_tokens
    condition_tokens = selection.condition_tokens
    fields = PATIENT_REFERENCE
    loads = orjson.loads
    decode_error = orjson.JSONDecodeError
    resources: defaultdict[str, int] = defaultdict(int)
    other_types: defaultdict[str, int] = defaultdict(int)
    budget = task.buffer_bytes
    lines, selects, patients = held.lines, held.selects, held.patients
    size = held.size
    bad = unlinked = blank = 0
    n = 0
    reader = LineReader(segment, task.max_line)
    for batch in reader.batches():
        for line in batch:
            n += 1
            if line is None:  # LONG
                bad += 1
                report(n, LONG_LINE)
                continue
            try:
                resource = loads(line)
            except decode_error:
                if not line.strip():
                    blank += 1
                else:
                    bad += 1
                    # The message as the line reads with its newline (a JSON error's position).
                    text = line if reader.unterminated else line + b"\n"
                    report(n, classify_line(text, selection)[0].message)
                continue
            # The common cases, decided as records.classify_resource decides them.
            key: str | None = None
            selected = False
            rtype: Any = resource.get("resourceType") if type(resource) is dict else None
            if type(rtype) is str:
                where = fields.get(rtype, _OTHER)
                if where is _OTHER:
                    if rtype and rtype not in SHARED_TYPES:
                        other_types[rtype] += 1
                        continue
                elif where is None:  # a Patient: its own id
                    rid = resource.get("id")
                    if type(rid) is str and _ID(rid):
                        key = "Patient/" + rid
                        patients.add(key)
                else:
                    ref = resource.get(where)
                    reference = ref.get("reference") if type(ref) is dict else None
                    if type(reference) is str and reference:
                        key = memo.get(reference, _OTHER)
                        if key is _OTHER:
                            if len(memo) >= _KEY_MEMO:
                                memo.clear()
                            key = memo[reference] = patient_key(reference)
                        if key is None:
                            unlinked += 1
                            continue
                        if rtype == "Observation" or rtype == "Condition":
                            code = resource.get("code")
                            codings = code.get("coding") if type(code) is dict else None
                            if type(codings) is list:
                                tokens = (
                                    observation_tokens
                                    if rtype == "Observation"
                                    else condition_tokens
                                )
                                for coding in codings:
                                    if type(coding) is dict:
                                        system, value = coding.get("system"), coding.get("code")
                                        if (
                                            type(system) is str
                                            and type(value) is str
                                            and (system, value) in tokens
                                        ):
                                            selected = True
                                            break
            if key is None:  # anything else: the reference rules
                c = classify_resource(resource, selection)
                if c.kind == "bad":
                    bad += 1
                    report(n, c.message)
                    continue
                if c.kind == "other":
                    assert c.rtype is not None
                    other_types[c.rtype] += 1
                    continue
                if c.kind == "unlinked":
                    unlinked += 1
                    continue
                key, selected, rtype = c.key, c.selects, c.rtype
                assert key is not None and rtype is not None
                if c.kind == "shared":
                    held.shared.add(key)
                elif rtype == "Patient":
                    patients.add(key)
            resources[rtype] += 1
            if selected:
                selects.add(key)
            lines[key].append(line)
            size += len(line)
            if size >= budget:
                writer.write(lines, selects, patients, held.shared)
                held = _Held()
                lines, selects, patients = held.lines, held.selects, held.patients
                size = 0
    held.size = size
    for rtype, count in resources.items():
        result.resources[rtype] = result.resources.get(rtype, 0) + count
    for rtype, count in other_types.items():
        result.other_types[rtype] = result.other_types.get(rtype, 0) + count
    result.lines[number] = reader.count
    if reader.broken_at is not None:
        result.broken[number] = reader.broken_at
    result.bad[number] = bad
    result.unlinked += unlinked
    result.blank += blank
    return held
