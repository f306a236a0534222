"""Reading NDJSON in segments: every line once, whatever the cuts; long lines and broken gzip."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import pytest

from cds_service.screening import ndjson
from cds_service.screening.ndjson import LONG, LineReader, Segment, segments


def _expected(data: bytes, limit: int) -> list[bytes | None]:
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    return [LONG if len(line.rstrip(b"\r")) > limit else line for line in lines]


def _read(path: Path, target: int, limit: int) -> tuple[list[bytes | None], int]:
    out: list[bytes | None] = []
    count = 0
    for seg in segments([path], target):
        reader = LineReader(seg, limit)
        out.extend(reader)
        count += reader.count
    return out, count


@pytest.mark.parametrize("block", [1, 3, 64, 1 << 20])
def test_segments_give_every_line_once(
    tmp_path: Path, block: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ndjson, "BLOCK", block)
    rnd = random.Random(block)
    path = tmp_path / "f.ndjson"
    for _ in range(300):
        lines = [
            bytes(rnd.choice(b"ab\r ") for _ in range(rnd.choice([0, 1, 3, 10, 40])))
            for _ in range(rnd.randint(0, 25))
        ]
        data = b"\n".join(lines) + (b"\n" if rnd.random() < 0.5 else b"")
        path.write_bytes(data)
        limit = rnd.choice([5, 20, 1000])
        target = rnd.choice([1, 2, 5, 17, 100, 10**6])
        got, count = _read(path, target, limit)
        assert got == _expected(data, limit), (data, limit, target)
        assert count == len(got)


def test_a_long_line_is_skipped_not_held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ndjson, "BLOCK", 1024)
    path = tmp_path / "f.ndjson"
    path.write_bytes(b'{"a":1}\n' + b"x" * 100_000 + b"\r\n" + b'{"b":2}')
    reader = LineReader(Segment(0, str(path), 0, -1), 4096)
    batches = list(reader.batches())
    assert [line for batch in batches for line in batch] == [b'{"a":1}', LONG, b'{"b":2}']
    assert max(len(line or b"") for batch in batches for line in batch) < 4096
    assert reader.count == 3 and reader.unterminated


def test_gzip_members_and_a_cut_file(tmp_path: Path) -> None:
    lines = [b'{"n":%d,"pad":"%s"}' % (i, b"z" * (i % 50)) for i in range(2000)]
    data = b"\n".join(lines) + b"\n"
    path = tmp_path / "f.ndjson.gz"
    path.write_bytes(gzip.compress(data[:5000]) + gzip.compress(data[5000:]))
    whole = LineReader(Segment(0, str(path), 0, -1), 1 << 20)
    assert list(whole) == lines and whole.broken_at is None
    packed = path.read_bytes()
    path.write_bytes(packed[: len(packed) * 2 // 3])
    cut = LineReader(Segment(0, str(path), 0, -1), 1 << 20)
    read = list(cut)
    assert 0 < len(read) < len(lines) and read == lines[: len(read)]
    assert cut.broken_at == len(read) + 1
