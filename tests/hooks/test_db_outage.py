"""The database away (issue 10, row 10): the hook still answers with its card, JWTs are still
checked, /healthz stays liveness, /readyz says the database is down; the worklist hand-off and the
card record wait in the outbox and are stored when the database is back; an outbox left by a
process that died is replayed by the next one."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import create_engine, func, select

from cds_service.app import create_app
from cds_service.db.feedback import IssuedCard
from cds_service.worklist.models import FlaggedPatient
from tests.postgres import fresh_database

from .conftest import AS_OF, HOOK_PATH, hook_body
from .synthetic import full_prefetch, long_record
from .test_security import ISS, JWKS, token


class TcpProxy:
    """127.0.0.1:<port> -> target, which the test can take down (every connection cut, new ones
    refused) and bring back, as a database server going away and coming back."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self._listener: socket.socket | None = None
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self._listener = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        if self._listener is not None:
            with contextlib.suppress(OSError):  # shutdown wakes the blocked accept()
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(OSError):
                    c.shutdown(socket.SHUT_RDWR)
                c.close()
            self._conns.clear()

    def _accept(self, sock: socket.socket) -> None:
        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._conns += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        finally:
            for s in (a, b):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)


def _body(pid: str) -> dict[str, Any]:
    return hook_body(pid, prefetch=full_prefetch(long_record(pid, observations=20)))


def _wait_for(predicate: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def _secured_call(app: Flask, body: dict[str, Any]) -> Any:
    headers = {"Authorization": f"Bearer {token()}"}
    return app.test_client().post(HOOK_PATH, json=body, headers=headers)


def _outage_probe(app: Flask, down: Callable[[], None], up: Callable[[], None], url: str) -> None:
    client = app.test_client()
    before = _secured_call(app, _body("o1"))
    assert before.status_code == 200 and before.json["cards"], before.json

    down()
    started = time.monotonic()
    during = _secured_call(app, _body("o2"))  # the probe: was a 500 on the old main
    assert during.status_code == 200, during.get_data(as_text=True)[:300]
    (card,) = during.json["cards"]
    assert time.monotonic() - started < 5.0  # answers without waiting on the database
    assert client.get("/healthz").status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503 and ready.json["database"] == "unavailable"
    again = _secured_call(app, _body("o3"))  # no waiting now that the outage is known
    assert again.status_code == 200 and again.json["cards"]

    up()
    check = create_engine(url)
    try:

        def stored() -> bool:
            with check.connect() as conn:
                listed = set(conn.execute(select(FlaggedPatient.patient_id)).scalars())
                cards = conn.execute(select(func.count()).select_from(IssuedCard)).scalar_one()
            return {"o1", "o2", "o3"} <= listed and cards == 3

        assert _wait_for(stored), "the writes kept during the outage were not stored"
        with check.connect() as conn:
            uuids = set(conn.execute(select(IssuedCard.uuid)).scalars())
        assert card["uuid"] in uuids
    finally:
        check.dispose()
    assert _wait_for(lambda: client.get("/readyz").status_code == 200)


def _secured_app(url: str, **extra: Any) -> Flask:
    return create_app(
        {
            "DATABASE_URL": url,
            "JWT_VERIFY": True,
            "JWT_ISSUERS": {ISS: {"jwks": JWKS}},
            "PUBLIC_BASE_URL": "http://localhost",
            "IGG4_AS_OF": AS_OF,
            "TESTING": True,
            **extra,
        }
    )


def test_sqlite_database_gone_the_hook_still_answers(tmp_path: Path) -> None:
    volume = tmp_path / "volume"
    volume.mkdir()
    url = f"sqlite:///{volume / 'cds.db'}"
    app = _secured_app(url)
    engine = app.extensions["igg4_db"]["engine"]
    aside = tmp_path / "aside"

    def down() -> None:
        # The volume goes away, the database with its -wal and -shm files (moving the main file
        # alone would strand its write-ahead log: "disk I/O error" when it came back); a file
        # where the folder was, so that no connection can open the database.
        engine.dispose()
        volume.rename(aside)
        volume.write_text("")

    def up() -> None:
        volume.unlink()
        aside.rename(volume)

    try:
        _outage_probe(app, down, up, url)
    finally:
        app.extensions["igg4_hooks"].writes.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    """The name of a database of its own on the shared PostgreSQL server."""
    with fresh_database("igg4_outage") as url:
        yield url.rsplit("/", 1)[1]


@pytest.mark.postgres
def test_postgresql_down_the_hook_still_answers(pg_database: str, tmp_path: Path) -> None:
    proxy = TcpProxy(("127.0.0.1", 5432))
    proxy.up()
    url = f"postgresql+psycopg://postgres@127.0.0.1:{proxy.port}/{pg_database}"
    app = _secured_app(url, HOOK_OUTBOX_DIR=str(tmp_path / "outbox"))
    try:
        _outage_probe(app, proxy.down, proxy.up, url)
    finally:
        app.extensions["igg4_hooks"].writes.close()
        app.extensions["igg4_db"]["engine"].dispose()
        proxy.down()


def test_an_outbox_left_by_a_dead_process_is_replayed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cds.db'}"
    first = _secured_app(url)
    writes = first.extensions["igg4_hooks"].writes
    writes.health.failed("test")  # as if the database had just failed: nothing is stored now
    writes.health.cooldown_s = 3600
    writes._store = lambda batch: False  # the dying process never stores anything
    response = _secured_call(first, _body("d1"))
    assert response.status_code == 200 and response.json["cards"]
    outbox = writes._outbox
    assert outbox is not None and outbox.pending() == 2
    outbox._append_fd, lock_fd = -1, outbox._lock_fd
    import os

    os.close(lock_fd)  # the process "dies": its lock is released, its files stay

    second = _secured_app(url)
    second.extensions["igg4_hooks"].writes.start()  # a new worker adopts the orphan
    check = create_engine(url)
    try:

        def stored() -> bool:
            with check.connect() as conn:
                listed = set(conn.execute(select(FlaggedPatient.patient_id)).scalars())
                cards = conn.execute(select(func.count()).select_from(IssuedCard)).scalar_one()
            return "d1" in listed and cards == 1

        assert _wait_for(stored)
    finally:
        check.dispose()
        second.extensions["igg4_hooks"].writes.close()
