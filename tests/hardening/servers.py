"""Hostile FHIR servers on loopback: real sockets, for the fetch deadline tests."""

from __future__ import annotations

import socket
import threading
import time
from types import TracebackType


class TricklingServer:
    """Answers every request with headers (or, with ``slow_headers``, the status line itself) and
    then one byte every ``interval_s``, for as long as the client keeps the connection open.

    ``open_connections`` is how many clients are still connected.
    """

    def __init__(self, *, interval_s: float = 0.5, slow_headers: bool = False) -> None:
        self.interval_s = interval_s
        self.slow_headers = slow_headers
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.base = f"http://127.0.0.1:{self._listener.getsockname()[1]}/fhir"
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._open = 0
        self.accepted = 0
        self._threads: list[threading.Thread] = []

    @property
    def open_connections(self) -> int:
        with self._lock:
            return self._open

    def __enter__(self) -> TricklingServer:
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            with self._lock:
                self._open += 1
                self.accepted += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(0.2)
            data = b""
            while b"\r\n\r\n" not in data and not self._stop.is_set():
                try:
                    chunk = conn.recv(65536)
                except TimeoutError:
                    continue
                if not chunk:
                    return
                data += chunk
            head = (
                b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
                b"Content-Length: 1000000\r\n\r\n"
            )
            body = b'{"resourceType": "Bundle", "type": "searchset", "entry": [' + b" " * 999_000
            stream = head + body if self.slow_headers else body
            if not self.slow_headers:
                conn.sendall(head)
            for i in range(len(stream)):
                if self._stop.wait(self.interval_s):
                    return
                try:
                    conn.sendall(stream[i : i + 1])
                except OSError:
                    return  # the client hung up
                if _closed_by_peer(conn):
                    return
        finally:
            conn.close()
            with self._lock:
                self._open -= 1


def _closed_by_peer(conn: socket.socket) -> bool:
    try:
        conn.settimeout(0)
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, TimeoutError):
        return False
    except OSError:
        return True
    finally:
        conn.settimeout(0.2)


def wait_until(predicate: object, timeout_s: float) -> bool:
    """Poll ``predicate()`` until true or ``timeout_s`` passed (a liveness bound, not a speed
    figure: the tests use it to say "this ends", with a generous bound)."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if predicate():  # type: ignore[operator]
            return True
        time.sleep(0.05)
    return bool(predicate())  # type: ignore[operator]
