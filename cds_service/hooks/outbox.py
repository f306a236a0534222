"""A durable, append-only queue of records on local disk, one per process (the hook's outbox).

A record is a JSON document on one line. ``append`` writes it with one ``write`` to a segment file
opened with ``O_APPEND`` and returns its sequence number; it survives a crash or restart of the
process (it is in the kernel's page cache at once), though not a power cut (no ``fsync``, as
SQLite's ``synchronous=NORMAL``). One reader (the writer thread) takes records in order
(``read``) and acknowledges them once stored (``ack``): the acknowledged position is kept in a
small file, consumed segments are deleted.

Every outbox has an owner name and holds an exclusive ``flock`` on ``<owner>.lock`` while its
process lives. An outbox whose lock can be taken belongs to a process that died: ``orphans()``
finds them, so that another process replays what they had not stored (at-least-once).

``MemoryOutbox`` has the same interface without a disk, for deployments without a writable
directory (records then survive neither a crash nor a restart).
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import socket
import threading
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

SEGMENT_BYTES = 4 * 1024 * 1024
READ_CHUNK = 256 * 1024
_SEGMENT = re.compile(r"^(?P<owner>.+)\.(?P<n>\d{8})\.jsonl$")


class OutboxFull(Exception):
    """The outbox holds ``max_bytes`` already (the database has been away for long)."""


class Outbox(Protocol):
    durable: bool

    def append(self, record: bytes) -> int: ...

    def read(self, limit: int) -> list[tuple[int, bytes]]: ...

    def ack(self, seq: int) -> None: ...

    def pending(self) -> int: ...


class MemoryOutbox:
    """Records in this process's memory only (at most ``max_records``)."""

    durable = False

    def __init__(self, max_records: int = 100_000) -> None:
        self._items: deque[tuple[int, bytes]] = deque()
        self._lock = threading.Lock()
        self._seq = 0
        self._max = max_records

    def append(self, record: bytes) -> int:
        with self._lock:
            if len(self._items) >= self._max:
                raise OutboxFull(f"{self._max} records waiting")
            self._seq += 1
            self._items.append((self._seq, record))
            return self._seq

    def read(self, limit: int) -> list[tuple[int, bytes]]:
        with self._lock:
            return [self._items[i] for i in range(min(limit, len(self._items)))]

    def ack(self, seq: int) -> None:
        with self._lock:
            while self._items and self._items[0][0] <= seq:
                self._items.popleft()

    def pending(self) -> int:
        return len(self._items)


class FileOutbox:
    """Segments ``<owner>.<n>.jsonl`` in ``directory``, the read position in ``<owner>.ack``."""

    durable = True

    def __init__(
        self, directory: Path, *, owner: str | None = None, max_bytes: int = 1024**3
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.owner = owner or f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(4)}"
        self.max_bytes = max_bytes
        self._lock_fd = os.open(self.dir / f"{self.owner}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours while we live
        except OSError:
            os.close(self._lock_fd)
            raise
        self._lock = threading.Lock()
        self._seq = 0  # records appended by this process
        self._append_n = 0
        self._append_fd = -1
        self._append_size = 0
        self._bytes = 0  # appended and not yet acknowledged
        self._read_n, offset = self._load_ack()
        existing = self._segments()
        if existing and self._read_n not in existing:
            self._read_n, offset = min(existing), 0
        self._read_seq = 0  # records acknowledged
        self._buffer = b""  # read from the file, not yet acknowledged
        self._buffer_start = offset  # file offset of _buffer[0] in segment _read_n
        self._next: tuple[int, int, bytes, int, int] = (self._read_n, offset, b"", 0, 0)
        self._open_append(max([*existing, self._read_n]))

    # ---- files ---------------------------------------------------------------------------
    def _path(self, n: int) -> Path:
        return self.dir / f"{self.owner}.{n:08d}.jsonl"

    def _segments(self) -> list[int]:
        found = []
        for p in self.dir.glob(f"{glob_escape(self.owner)}.*.jsonl"):
            m = _SEGMENT.match(p.name)
            if m and m["owner"] == self.owner:
                found.append(int(m["n"]))
        return sorted(found)

    def _open_append(self, n: int) -> None:
        if self._append_fd >= 0:
            os.close(self._append_fd)
        self._append_n = n
        self._append_fd = os.open(self._path(n), os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self._append_size = os.fstat(self._append_fd).st_size

    def _ack_path(self) -> Path:
        return self.dir / f"{self.owner}.ack"

    def _load_ack(self) -> tuple[int, int]:
        try:
            n, offset = self._ack_path().read_text().split()
            return int(n), int(offset)
        except (OSError, ValueError):
            return 0, 0

    # ---- the interface -------------------------------------------------------------------
    def append(self, record: bytes) -> int:
        line = record.replace(b"\n", b" ") + b"\n"  # JSON never needs a raw newline
        with self._lock:
            if self._bytes + len(line) > self.max_bytes:
                raise OutboxFull(f"{self._bytes} bytes waiting")
            if self._append_size >= SEGMENT_BYTES:
                self._open_append(self._append_n + 1)
            os.write(self._append_fd, line)
            self._append_size += len(line)
            self._bytes += len(line)
            self._seq += 1
            return self._seq

    def read(self, limit: int) -> list[tuple[int, bytes]]:
        """Up to ``limit`` records from the read position (consumed only by ``ack``)."""
        out: list[tuple[int, bytes]] = []
        n, start, buffer = self._read_n, self._buffer_start, self._buffer
        seq, size = self._read_seq, 0
        while len(out) < limit:
            cut = buffer.find(b"\n")
            if cut >= 0:
                seq += 1
                out.append((seq, buffer[:cut]))
                size += cut + 1
                buffer, start = buffer[cut + 1 :], start + cut + 1
                continue
            more = self._read_file(n, start + len(buffer))
            if more:
                buffer += more
                continue
            with self._lock:
                complete = n < self._append_n  # appends have moved to a later segment
            if not complete:
                break
            # A line cut short by a crash while it was written ends a complete segment: dropped.
            n, start, buffer = n + 1, 0, b""
        self._next = (n, start, buffer, seq, size)
        return out

    def _read_file(self, n: int, offset: int) -> bytes:
        try:
            with open(self._path(n), "rb") as fh:
                fh.seek(offset)
                return fh.read(READ_CHUNK)
        except FileNotFoundError:
            return b""

    def ack(self, seq: int) -> None:
        """The records of the latest ``read`` (up to ``seq``, its last) are stored."""
        n, start, buffer, last, size = self._next
        if seq != last:
            raise ValueError("acknowledge the whole of the latest read")
        tmp = self.dir / f"{self.owner}.ack.tmp"
        tmp.write_text(f"{n} {start}\n")  # first: if it fails, nothing here has moved
        os.replace(tmp, self._ack_path())
        old_n = self._read_n
        self._read_n, self._buffer_start, self._buffer, self._read_seq = n, start, buffer, seq
        with self._lock:
            self._bytes = max(0, self._bytes - size)
        for old in range(old_n, n):
            self._path(old).unlink(missing_ok=True)

    def pending(self) -> int:
        with self._lock:
            return self._seq - self._read_seq

    def close(self, *, remove: bool = False) -> None:
        """Release the lock; ``remove`` also deletes the files (call it only when all is acked)."""
        if self._append_fd >= 0:
            os.close(self._append_fd)
            self._append_fd = -1
        if remove:
            for n in self._segments():
                self._path(n).unlink(missing_ok=True)
            self._ack_path().unlink(missing_ok=True)
            (self.dir / f"{self.owner}.lock").unlink(missing_ok=True)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1


def glob_escape(text: str) -> str:
    return re.sub(r"([*?\[])", r"[\1]", text)


def orphans(directory: Path, exclude: str) -> Iterator[FileOutbox]:
    """The outboxes in ``directory`` whose process is gone, each opened (and locked) for replay."""
    if not directory.is_dir():
        return
    for lock in sorted(directory.glob("*.lock")):
        owner = lock.name.removesuffix(".lock")
        if owner == exclude:
            continue
        try:
            yield FileOutbox(directory, owner=owner)
        except BlockingIOError:
            continue  # alive
        except OSError:
            continue
