"""The hook's database writes, handed to one writer thread per process and stored in batches.

Per hook call two things are written that the card itself does not need: the hand-off of the
assessment to the worklist (the assessment listeners) and the record of the card issued (which
feedback names). The request thread appends them to a durable outbox (``outbox.py``) and waits,
up to ``HOOK_WRITE_WAIT_S``, until the writer thread has stored them: the writer takes whatever
has queued up meanwhile and stores it in one transaction (group commit), so concurrent hooks
share a commit instead of queueing for the database's lock one by one.

When the database is unavailable the hook does not wait (``DbHealth``): it answers with its card
and the records stay in the outbox; the writer retries with back-off and stores them when the
database is back (at-least-once: a record is acknowledged only once stored, and storing one twice
changes nothing). Outboxes left by a process that died are replayed by the next one.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from cds_service import metrics
from cds_service.hooks.outbox import FileOutbox, MemoryOutbox, Outbox, OutboxFull, orphans

log = logging.getLogger("igg4_cds.hooks")

BATCH = 256
RETRY_MIN_S = 0.25
RETRY_MAX_S = 5.0
ORPHAN_SCAN_S = 30.0
IDLE_EXIT_S = 30.0
# Errors that mean "the database cannot be reached or used now": retried. Any other error of a
# record is the record's own (a bug, data a listener refuses): logged by type and dropped.
RETRYABLE: tuple[type[BaseException], ...] = (
    sa_exc.OperationalError,
    sa_exc.InterfaceError,
    sa_exc.DisconnectionError,
    sa_exc.TimeoutError,
)


def _backoff(delay: float) -> float:
    """The next wait before retrying: doubled, from RETRY_MIN_S up to RETRY_MAX_S."""
    return min(RETRY_MAX_S, max(RETRY_MIN_S, delay * 2))


def retryable(exc: BaseException) -> bool:
    if isinstance(exc, RETRYABLE):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


class DbHealth:
    """Whether the database answered lately. After a failure the hook path leaves the database
    alone for ``cooldown_s`` (no request waits on a database that is down); the writer keeps
    trying and clears the mark when it succeeds."""

    def __init__(self, cooldown_s: float = 2.0) -> None:
        self.cooldown_s = cooldown_s
        self._failed_at: float | None = None
        self._lock = threading.Lock()

    def available(self) -> bool:
        failed = self._failed_at
        return failed is None or time.monotonic() - failed > self.cooldown_s

    def failed(self, operation: str) -> None:
        metrics.DB_ERRORS.labels(operation).inc()
        with self._lock:
            first = self._failed_at is None
            self._failed_at = time.monotonic()
        if first:
            log.warning("database unavailable (%s): degrading until it answers again", operation)

    def ok(self) -> None:
        if self._failed_at is not None:
            with self._lock:
                if self._failed_at is not None:
                    self._failed_at = None
                    log.warning("database available again")

    @property
    def down(self) -> bool:
        return self._failed_at is not None


Listener = Callable[..., None]


@dataclass
class _Batch:
    records: list[tuple[int, bytes]]
    done: set[int] = field(default_factory=set)


class HookWrites:
    """The writer of one process. ``hand_off`` and ``card`` queue a write; ``wait_mine`` waits
    until the calling thread's writes are stored (or the wait is pointless)."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        listeners: Callable[[], list[Listener]],
        record_card: Callable[..., None],
        *,
        outbox_dir: Path | None,
        wait_s: float,
        health: DbHealth,
        max_bytes: int = 1024**3,
    ) -> None:
        self._sessions = sessions
        self._listeners = listeners
        self._record_card = record_card
        self.health = health
        self.wait_s = wait_s
        self.max_bytes = max_bytes
        self._outbox_dir = outbox_dir
        self._outbox: Outbox | None = None
        self._pid = 0
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()
        self._stored = 0  # highest sequence number stored
        self._stop = False
        self._mine = threading.local()
        self._start_lock = threading.Lock()

    # ---- request side ----------------------------------------------------------------------
    def hand_off(self, *args: Any, **kwargs: Any) -> None:
        """Hand an assessment (whatever the listeners take, as JSON) to the assessment listeners."""
        self._submit({"kind": "listeners", "args": list(args), "kwargs": kwargs})

    def card(self, **kwargs: Any) -> None:
        """Record an issued card (the keyword arguments of ``suppression.record_card``)."""
        self._submit({"kind": "card", "kwargs": kwargs})

    def _submit(self, record: dict[str, Any]) -> None:
        line = orjson.dumps(record, default=_json_default)
        try:
            with self._start_lock:
                seq = self._started().append(line)
        except (OutboxFull, OSError) as exc:
            metrics.HOOK_WRITES_LOST.inc()
            log.error("hook write not queued (%s): %s", record["kind"], type(exc).__name__)
            return
        self._mine.seq = seq
        with self._cond:
            self._cond.notify_all()

    def wait_mine(self) -> bool:
        """Wait until this thread's writes are stored; False if they are still queued (database
        unavailable or slow: they stay in the outbox and are stored later)."""
        seq = getattr(self._mine, "seq", 0)
        self._mine.seq = 0
        if not seq:
            return True
        deadline = time.monotonic() + (self.wait_s if self.health.available() else 0.0)
        with self._cond:
            while self._stored < seq:
                left = deadline - time.monotonic()
                if left <= 0 or self._stop:
                    break
                self._cond.wait(left)
            stored = self._stored >= seq
        if not stored:
            metrics.HOOK_WRITES_DEFERRED.inc()
        return stored

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued by this process so far is stored (tests, shutdown)."""
        outbox = self._outbox
        if outbox is None:
            return True
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify_all()
            while outbox.pending() and time.monotonic() < deadline:
                self._cond.wait(0.05)
        return not outbox.pending()

    def pending(self) -> int:
        return self._outbox.pending() if self._outbox is not None else 0

    def close(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=5)
        outbox = self._outbox
        if isinstance(outbox, FileOutbox):
            outbox.close(remove=not outbox.pending())

    # ---- the writer thread ---------------------------------------------------------------
    def start(self) -> None:
        """Start the writer now (a worker at start-up: it also replays orphaned outboxes)."""
        with self._start_lock:
            self._started()

    def _started(self) -> Outbox:
        """The outbox, the writer thread running on it (call with ``_start_lock`` held)."""
        pid = os.getpid()
        if self._outbox is None or self._pid != pid:  # first use, or a forked child
            self._pid, self._stored = pid, 0
            self._outbox = self._open_outbox()
            self._thread = threading.Thread(
                target=self._run, args=(self._outbox,), name="igg4-hook-writer", daemon=True
            )
            self._thread.start()
        return self._outbox

    def _open_outbox(self) -> Outbox:
        if self._outbox_dir is not None:
            try:
                return FileOutbox(self._outbox_dir, max_bytes=self.max_bytes)
            except OSError as exc:
                log.error(
                    "hook outbox directory not usable (%s): writes kept in memory only",
                    type(exc).__name__,
                )
        return MemoryOutbox()

    def _retire(self, outbox: Outbox) -> bool:
        """An idle writer stops (and its outbox's files go); the next write starts another."""
        with self._start_lock:
            if self._outbox is not outbox or outbox.pending():
                return False
            self._outbox = None
            if isinstance(outbox, FileOutbox):
                try:
                    outbox.close(remove=True)
                except OSError as exc:  # nothing pending: only empty files are left behind
                    log.error("hook outbox not removed (%s)", type(exc).__name__)
            return True

    def _run(self, outbox: Outbox) -> None:
        delay = 0.0
        next_scan = 0.0
        idle_since = time.monotonic()
        batch: _Batch | None = None
        while True:
            with self._cond:
                if self._stop and (delay or (batch is None and not outbox.pending())):
                    return  # what is left stays in the outbox for the next process
                if delay:
                    self._cond.wait(delay)
                elif not outbox.pending():
                    self._cond.wait(1.0)
            try:
                if time.monotonic() >= next_scan and isinstance(outbox, FileOutbox):
                    next_scan = time.monotonic() + ORPHAN_SCAN_S
                    self._replay_orphans(outbox)
                if batch is None:
                    records = outbox.read(BATCH)
                    if not records:
                        if time.monotonic() - idle_since > IDLE_EXIT_S and self._retire(outbox):
                            return
                        continue
                    batch = _Batch(records)
            except OSError as exc:
                # The outbox's folder unreadable for now (its volume gone with the database's):
                # the records are still in their files; the writer waits and reads them later,
                # it never stops.
                if not delay:
                    log.error("hook outbox not readable (%s): retrying", type(exc).__name__)
                delay = _backoff(delay)
                continue
            if not self._store(batch):
                delay = _backoff(delay)
                continue
            try:
                outbox.ack(batch.records[-1][0])
            except OSError as exc:  # stored, not acknowledged: stored again later, harmlessly
                log.error("hook outbox not writable (%s): retrying", type(exc).__name__)
                delay = _backoff(delay)
                continue
            with self._cond:
                self._stored = batch.records[-1][0]
                self._cond.notify_all()
            batch, delay = None, 0.0
            idle_since = time.monotonic()
            metrics.HOOK_WRITES_PENDING.set(outbox.pending())

    def _store(self, batch: _Batch) -> bool:
        """Store what is not stored yet of the batch; False if the database is unavailable."""
        try:
            self._store_records(batch)
        except Exception as exc:
            if retryable(exc):
                self.health.failed("hook-writes")
                # Pooled connections may be broken for good (a server restarted, a file gone):
                # the next attempt opens new ones.
                self._sessions.kw["bind"].dispose()
                return False
            log.error("hook writes: unexpected %s", type(exc).__name__)
            return False
        self.health.ok()
        return True

    def _store_records(self, batch: _Batch) -> None:
        decoded: list[tuple[int, dict[str, Any]]] = []
        seen: set[bytes] = set()
        for seq, raw in batch.records:
            if seq in batch.done:
                continue
            if raw in seen:
                # The very same write twice in one batch (a chart opened again at once): storing
                # is idempotent (at-least-once requires it), so once is enough.
                batch.done.add(seq)
                continue
            seen.add(raw)
            try:
                decoded.append((seq, orjson.loads(raw)))
            except orjson.JSONDecodeError:
                log.error("hook outbox: an unreadable record skipped")
                batch.done.add(seq)
        cards = [(seq, r) for seq, r in decoded if r.get("kind") == "card"]
        if cards:
            self._store_cards(cards, batch)
        for seq, record in decoded:
            if record.get("kind") == "listeners":
                self._call_listeners(record)
            batch.done.add(seq)

    def _store_cards(self, cards: list[tuple[int, dict[str, Any]]], batch: _Batch) -> None:
        """All the batch's cards in one transaction; should one be refused (stored already by an
        earlier attempt, or bad), each in a transaction of its own."""
        try:
            with self._sessions() as session, session.begin():
                for _, record in cards:
                    self._record_card(session, **_card_kwargs(record))
        except Exception as exc:
            if retryable(exc):
                raise
            for seq, record in cards:
                try:
                    with self._sessions() as session, session.begin():
                        self._record_card(session, **_card_kwargs(record))
                except sa_exc.IntegrityError:
                    pass  # stored before (a replay): done
                except Exception as one:
                    if retryable(one):
                        raise
                    log.error("issued card not recorded: %s", type(one).__name__)
                batch.done.add(seq)
            return
        batch.done.update(seq for seq, _ in cards)

    def _call_listeners(self, record: dict[str, Any]) -> None:
        args, kwargs = record.get("args") or [], record.get("kwargs") or {}
        for listener in list(self._listeners()):
            try:
                listener(*args, **kwargs)
            except Exception as exc:
                if retryable(exc):
                    raise
                log.error(
                    "assessment listener %s failed: %s",
                    getattr(listener, "__qualname__", type(listener).__name__),
                    type(exc).__name__,
                )

    def _replay_orphans(self, own: FileOutbox) -> None:
        for orphan in orphans(own.dir, exclude=own.owner):
            replayed = 0
            try:
                while True:
                    records = orphan.read(BATCH)
                    if not records:
                        break
                    batch = _Batch(records)
                    if not self._store(batch):
                        return  # database away: the orphan stays for the next scan
                    orphan.ack(records[-1][0])
                    replayed += len(records)
                orphan.close(remove=True)
                if replayed:
                    log.warning("hook outbox of a stopped process replayed: %d writes", replayed)
            finally:
                orphan.close()


def _card_kwargs(record: dict[str, Any]) -> dict[str, Any]:
    kwargs = dict(record.get("kwargs") or {})
    now = kwargs.get("now")
    if isinstance(now, str):
        kwargs["now"] = datetime.fromisoformat(now)
    return kwargs


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON")
