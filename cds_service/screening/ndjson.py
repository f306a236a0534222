"""Reading a Bulk Data export's NDJSON files line by line, in pieces that can be read in parallel.

A file is cut into *segments* (byte ranges; a gzip file is one segment, it cannot be entered in the
middle); each segment yields the lines that begin in it, so the segments of a file together give
every line once. Lines end at a newline (``\\n``; a ``\\r`` before it is whitespace to JSON).

Two kinds of damage are reported, never fatal:

- a line longer than ``max_line`` bytes is never held in memory: it is skipped as it streams by and
  reported as such (``LONG``);
- a gzip file cut short or corrupt is read up to its last whole line, and where it breaks is
  reported (``Segment.broken_at`` after reading: the number of the first line not read).
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
BLOCK = 1 << 20  # bytes read at a time from a plain file
GZ_BLOCK = 1 << 14  # compressed bytes at a time: a corrupt block loses at most this much
LONG = None  # what ``lines()`` yields in place of a line over the maximum


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


def is_gzip(path: Path) -> bool:
    return path.name.endswith(".gz")


@dataclass(frozen=True, slots=True)
class Segment:
    """Lines of ``path`` that begin at a byte in [start, end) (a gzip file: the whole file)."""

    file: int  # index into the export's file list
    path: str
    start: int
    end: int  # -1: to the end of the file

    def cost(self) -> int:
        """Roughly the NDJSON bytes it holds (gzip: about five times the compressed size)."""
        end = Path(self.path).stat().st_size if self.end < 0 else self.end
        return (end - self.start) * (5 if self.path.endswith(".gz") else 1)


def segments(files: list[Path], target: int) -> list[Segment]:
    """Each file in segments of about ``target`` bytes (gzip files whole), in file order."""
    out: list[Segment] = []
    target = max(1, target)
    for i, path in enumerate(files):
        size = path.stat().st_size
        if is_gzip(path) or size <= target:
            out.append(Segment(i, str(path), 0, -1))
            continue
        pieces = -(-size // target)
        step = -(-size // pieces)
        for start in range(0, size, step):
            end = start + step
            out.append(Segment(i, str(path), start, -1 if end >= size else end))
    return out


class LineReader:
    """The lines of one segment, without their newline (``LONG`` for one over ``max_line``).

    After iterating, ``count`` is the number of lines read and ``broken_at`` the line where a gzip
    file breaks off (None if it reads to its end)."""

    def __init__(self, segment: Segment, max_line: int) -> None:
        self.segment = segment
        self.max_line = max_line
        self.count = 0
        self.broken_at: int | None = None
        self.unterminated = False  # the last batch is the file's last line, without a newline
        self._broken = False

    def __iter__(self) -> Iterator[bytes | None]:
        for lines in self.batches():
            yield from lines

    def batches(self) -> Iterator[Sequence[bytes | None]]:
        """The lines in lists (one per block read): cheaper to go through than one at a time."""
        blocks = self._gzip_blocks() if is_gzip(Path(self.segment.path)) else self._plain_blocks()
        return self._split(blocks)

    # ----- bytes in ------------------------------------------------------------------------------
    def _plain_blocks(self) -> Iterator[bytes]:
        """Bytes from the first line that begins at or after ``start`` to the newline that ends
        the last line that begins before ``end``."""
        seg = self.segment
        with open(seg.path, "rb", buffering=0) as fh:
            pos = max(seg.start - 1, 0)  # absolute position of the next byte read
            fh.seek(pos)
            first = b""
            if seg.start > 0:
                # The line that began before ``start`` belongs to the previous segment.
                while True:
                    block = fh.read(BLOCK)
                    if not block:
                        return
                    cut = block.find(b"\n")
                    if cut >= 0:
                        first, pos = block[cut + 1 :], pos + cut + 1
                        break
                    pos += len(block)
                if seg.end >= 0 and pos >= seg.end:
                    return  # no line begins in this segment
            stop = seg.end - 1  # the line that holds this byte is the last one
            while True:
                block = first or fh.read(BLOCK)
                first = b""
                if not block:
                    return
                if seg.end >= 0 and pos + len(block) > stop:
                    cut = block.find(b"\n", max(stop - pos, 0))
                    if cut >= 0:
                        yield block[: cut + 1]
                        return
                pos += len(block)
                yield block

    def _gzip_blocks(self) -> Iterator[bytes]:
        """Decompressed data (one or more gzip members). ``zlib`` keeps what it could decompress
        before a truncation or a corrupt block (``gzip`` would drop the last read)."""
        inflate = zlib.decompressobj(wbits=47)
        pending = False  # a gzip member begun and not finished
        with open(self.segment.path, "rb") as src:
            while chunk := src.read(GZ_BLOCK):
                while chunk:
                    try:
                        data = inflate.decompress(chunk)
                    except zlib.error:
                        self._broken = True
                        return
                    pending = True
                    if data:
                        yield data
                    if not inflate.eof:
                        break
                    chunk, pending = inflate.unused_data, False  # a next member may follow
                    inflate = zlib.decompressobj(wbits=47)
        self._broken = pending

    # ----- lines out -----------------------------------------------------------------------------
    def _split(self, blocks: Iterator[bytes]) -> Iterator[Sequence[bytes | None]]:
        self._broken = False
        limit = self.max_line
        tail = b""
        skipping = False  # inside a line already over the maximum
        n = 0
        for block in blocks:
            if skipping:
                cut = block.find(b"\n")
                if cut < 0:
                    continue
                skipping = False
                n += 1
                yield [LONG]
                block = block[cut + 1 :]
            raw = block.split(b"\n")
            if tail:
                raw[0] = tail + raw[0]
            tail = raw.pop()
            lines: Sequence[bytes | None] = raw
            if raw and max(map(len, raw)) > limit:
                lines = [LONG if _too_long(line, limit) else line for line in raw]
            n += len(lines)
            if lines:
                yield lines
            if _too_long(tail, limit):
                # Whatever follows, the line is too long (trailing "\r"s aside): drop it now.
                tail, skipping = b"", True
        if self._broken:
            # The partial line at the break is not a line: it and everything after are reported.
            self.count = n
            self.broken_at = n + 1
            return
        if skipping:
            n += 1
            yield [LONG]
        elif tail:
            n += 1
            self.unterminated = True
            yield [tail]
        self.count = n


def _too_long(line: bytes, limit: int) -> bool:
    """Over ``limit`` bytes, not counting the "\\r"s at its end (as a line's newline)."""
    return len(line) > limit and len(line.rstrip(b"\r")) > limit
