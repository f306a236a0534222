"""Sorted runs: the bulk path's on-disk grouping (an external merge sort by patient).

A *run* is what one worker wrote after holding at most a bounded amount of NDJSON in memory: a data
file with, for each key (a patient, or a Medication / ResearchStudy that patients point to), that
key's lines joined by newlines in one piece, and an index file of (key, flags, offset, length,
lines) in key order. Merging the indexes of every run (``merge``) gives each key's pieces in key
order while holding one chunk of index entries per index merged at once (at most ``FAN_IN``: more
runs are merged in steps, through merged index files), so memory depends on neither the number of
patients nor the export's size. The lines themselves are read back (``PieceReader``) only for the
patients worth assessing, by the engine workers.
"""

from __future__ import annotations

import heapq
import os
import pickle
from collections.abc import Iterable, Iterator
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import IO, Any

# flags of an index entry
SELECTS = 1  # a line that makes the patient worth assessing (records.Selection)
PATIENT = 2  # the patient's own Patient resource
SHARED = 4  # the key is a Medication or ResearchStudy (no patient's)
DONE = 8  # the key is in the journal of a resumed run (an entry without lines)

INDEX_CHUNK = 256  # entries per pickled chunk of an index file (held per index while merging)
FAN_IN = 64  # indexes merged at once
MAX_OPEN = 64  # run files a reader keeps open

# (key, flags, offset, length, lines) in a run's index
Entry = tuple[str, int, int, int, int]
# (key, flags, run, offset, length, lines): an index entry with its run's number, as merged
Merged = tuple[str, int, int, int, int, int]
Piece = tuple[int, int, int]  # (run, offset, length)


class RunWriter:
    """Writes runs ``run-<name>.dat`` / ``.idx`` into ``directory``."""

    def __init__(self, directory: Path, name: str) -> None:
        self.directory = directory
        self.name = name
        self.written: list[str] = []

    def write(
        self, lines: dict[str, list[bytes]], selects: set[str], patients: set[str], shared: set[str]
    ) -> str:
        """One run from the lines held per key (``lines`` is emptied); returns its name."""
        name = f"{self.name}-{len(self.written):04d}"
        index: list[Entry] = []
        offset = 0
        with open(self.directory / f"{name}.dat", "wb", buffering=1 << 20) as data:
            for key in sorted(lines):
                held = lines.pop(key)  # freed as written: at most one blob more than the lines
                blob = b"\n".join(held)
                flags = (
                    (SELECTS if key in selects else 0)
                    | (PATIENT if key in patients else 0)
                    | (SHARED if key in shared else 0)
                )
                data.write(blob)
                index.append((key, flags, offset, len(blob), len(held)))
                offset += len(blob)
        write_index(self.directory / f"{name}.idx", index)
        self.written.append(name)
        return name


def write_index(path: Path, entries: Iterable[Entry] | Iterable[Merged]) -> None:
    with open(path, "wb") as fh:
        chunk: list[Entry | Merged] = []
        for entry in entries:
            chunk.append(entry)
            if len(chunk) >= INDEX_CHUNK:
                pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)
                chunk = []
        if chunk:
            pickle.dump(chunk, fh, protocol=pickle.HIGHEST_PROTOCOL)


def _chunks(path: Path) -> Iterator[list[Any]]:
    with open(path, "rb", buffering=1 << 14) as fh:
        while True:
            try:
                yield pickle.load(fh)
            except EOFError:
                return


def read_index(path: Path, run: int) -> Iterator[Merged]:
    """A run's index entries in key order, with the run's number."""
    for chunk in _chunks(path):
        for key, flags, offset, length, lines in chunk:
            yield key, flags, run, offset, length, lines


def read_merged(path: Path) -> Iterator[Merged]:
    """A merged index file's entries (removed once read)."""
    for chunk in _chunks(path):
        yield from chunk
    path.unlink()


def merge(
    indexes: list[Iterator[Merged]], directory: Path
) -> Iterator[tuple[str, int, list[tuple[int, int, int, int]]]]:
    """Every key once, in order: (key, flags of all its entries, [(run, offset, length, lines)]).
    More than ``FAN_IN`` indexes are first merged ``FAN_IN`` at a time into files in
    ``directory``, as often as needed."""
    step = 0
    while len(indexes) > FAN_IN:
        merged: list[Iterator[Merged]] = []
        for i in range(0, len(indexes), FAN_IN):
            path = directory / f"merged-{step}-{i // FAN_IN}.idx"
            write_index(path, heapq.merge(*indexes[i : i + FAN_IN]))
            merged.append(read_merged(path))
        indexes, step = merged, step + 1
    for key, entries in groupby(heapq.merge(*indexes), key=itemgetter(0)):
        flags = 0
        pieces: list[tuple[int, int, int, int]] = []
        for _, f, run, offset, length, lines in entries:
            flags |= f
            if length:
                pieces.append((run, offset, length, lines))
        yield key, flags, pieces


class PieceReader:
    """Reads pieces of the runs of one directory (kept open per process)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._fds: dict[int, int] = {}

    def read(self, run: int, offset: int, length: int) -> bytes:
        fd = self._fds.get(run)
        if fd is None:
            if len(self._fds) >= MAX_OPEN:
                self.close()
            fd = os.open(os.path.join(self.directory, f"{run}.dat"), os.O_RDONLY)
            self._fds[run] = fd
        data = os.pread(fd, length, offset)
        while len(data) < length:  # a short read (rare; large pieces)
            more = os.pread(fd, length - len(data), offset + len(data))
            if not more:
                raise OSError(f"run {run} ends early")
            data += more
        return data

    def close(self) -> None:
        for fd in self._fds.values():
            os.close(fd)
        self._fds.clear()


def write_records(fh: IO[bytes], records: list[object]) -> None:
    pickle.dump(records, fh, protocol=pickle.HIGHEST_PROTOCOL)


def read_records(path: Path) -> Iterator[object]:
    for chunk in _chunks(path):
        yield from chunk
