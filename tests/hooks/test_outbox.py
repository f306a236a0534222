"""The hook's durable outbox: records in order, across segments, acknowledged once stored,
what was not acknowledged read again by the next owner."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cds_service.hooks import outbox as ob
from cds_service.hooks.outbox import FileOutbox, MemoryOutbox, OutboxFull, orphans


def test_records_come_back_in_order_across_segments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ob, "SEGMENT_BYTES", 64)
    box = FileOutbox(tmp_path)
    for n in range(50):
        assert box.append(f'{{"n": {n}}}'.encode()) == n + 1
    assert len(list(tmp_path.glob("*.jsonl"))) > 5
    seen: list[bytes] = []
    while records := box.read(7):
        assert box.read(7) == records  # not consumed until acknowledged
        box.ack(records[-1][0])
        seen += [raw for _, raw in records]
    assert seen == [f'{{"n": {n}}}'.encode() for n in range(50)]
    assert box.pending() == 0
    assert len(list(tmp_path.glob("*.jsonl"))) == 1  # consumed segments are deleted
    box.close(remove=True)
    assert list(tmp_path.iterdir()) == []


def test_an_orphan_is_read_from_its_acknowledged_position(tmp_path: Path) -> None:
    box = FileOutbox(tmp_path)
    for n in range(5):
        box.append(str(n).encode())
    box.ack(box.read(2)[-1][0])
    assert list(orphans(tmp_path, exclude="nobody")) == []  # alive: locked
    os.close(box._append_fd)
    os.close(box._lock_fd)  # the owner dies
    (adopted,) = orphans(tmp_path, exclude="nobody")
    assert [raw for _, raw in adopted.read(10)] == [b"2", b"3", b"4"]


def test_a_line_cut_short_in_a_complete_segment_is_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ob, "SEGMENT_BYTES", 8)
    box = FileOutbox(tmp_path)
    box.append(b"first")
    with open(box._path(0), "ab") as fh:
        fh.write(b'{"cut')  # a crash in the middle of a write
    box._append_size = 100  # the next record opens a new segment
    box.append(b"second")
    assert [raw for _, raw in box.read(10)] == [b"first", b"second"]


def test_limits(tmp_path: Path) -> None:
    box = FileOutbox(tmp_path, max_bytes=20)
    box.append(b"0123456789")
    with pytest.raises(OutboxFull):
        box.append(b"0123456789")
    memory = MemoryOutbox(max_records=1)
    memory.append(b"a")
    with pytest.raises(OutboxFull):
        memory.append(b"b")
    memory.ack(memory.read(5)[-1][0])
    assert memory.pending() == 0
