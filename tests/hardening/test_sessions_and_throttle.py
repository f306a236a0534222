"""Issue 10 rows 6 and 12.

Row 6: after logout, a copy of the old session cookie still worked (the session lived only in the
signed cookie). Sessions are now kept on the server; logout deletes them.

Row 12: 40 parallel wrong passwords had 9-12 checked where the limit is 5 (the failure count was
read, then the password checked, then the failure written). Each attempt now reserves its place
atomically before the password is checked; on SQLite and PostgreSQL, across threads (and so
across gunicorn workers: the counter is a database row).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from flask import Flask

from cds_service.worklist import accounts
from cds_service.worklist.db import session_factory

from .helpers import PASSWORD, api_token, csrf_from, login


@pytest.fixture
def app(make_app: Callable[..., Flask], database_url: str) -> Flask:
    app = make_app(DATABASE_URL=database_url)
    api_token(app, "rita", "recruiter")  # the account
    return app


def test_logout_revokes_the_session_on_the_server(app: Flask) -> None:
    client = app.test_client()
    assert login(client, "rita").status_code == 302
    assert client.get("/api/me").status_code == 200
    stolen = client.get_cookie("session")
    assert stolen is not None
    csrf = csrf_from(client.get("/worklist/").get_data(as_text=True))
    assert client.post("/worklist/logout", data={"csrf_token": csrf}).status_code == 302
    assert client.get("/api/me").status_code == 401
    thief = app.test_client()
    thief.set_cookie("session", stolen.value, domain=stolen.domain or "localhost")
    assert thief.get("/api/me").status_code == 401
    assert thief.get("/worklist/").status_code == 302  # to the login page


def test_sessions_are_independent_and_end_with_a_password_change(app: Flask) -> None:
    laptop, phone = app.test_client(), app.test_client()
    assert login(laptop, "rita").status_code == 302
    assert login(phone, "rita").status_code == 302
    csrf = csrf_from(laptop.get("/worklist/").get_data(as_text=True))
    laptop.post("/worklist/logout", data={"csrf_token": csrf})
    assert laptop.get("/api/me").status_code == 401
    assert phone.get("/api/me").status_code == 200  # logging out one browser ends only that one
    with session_factory(app)() as s:
        user = accounts.get_user(s, "rita")
        assert user is not None
        accounts.set_password(user, "another long password")
        s.commit()
    assert phone.get("/api/me").status_code == 401


def test_parallel_wrong_passwords_check_no_more_than_the_limit(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked = 0
    lock = threading.Lock()
    real = accounts.authenticate

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal checked
        with lock:
            checked += 1
        time.sleep(0.05)  # a real Argon2 check takes this long: the race window of the probe
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts, "authenticate", counting)
    client = app.test_client()
    csrf = csrf_from(client.get("/worklist/login").get_data(as_text=True))

    def attempt(_: int) -> int:
        c = app.test_client()
        c.set_cookie("session", client.get_cookie("session").value)  # type: ignore[union-attr]
        data = {"username": "rita", "password": "wrong password!", "csrf_token": csrf}
        return c.post("/worklist/login", data=data).status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        codes = list(pool.map(attempt, range(40)))
    assert checked == 5, codes  # WORKLIST_LOGIN_MAX_FAILURES
    assert codes.count(401) == 5 and codes.count(429) == 35
    # The right password is throttled too now, until the window passes.
    data = {"username": "rita", "password": PASSWORD, "csrf_token": csrf}
    assert client.post("/worklist/login", data=data).status_code == 429


def test_a_success_clears_the_users_failures(app: Flask) -> None:
    client = app.test_client()
    for _ in range(4):
        assert login(client, "rita", "wrong password!").status_code == 401
    assert login(client, "rita").status_code == 302
    other = app.test_client()
    for _ in range(5):
        assert login(other, "rita", "wrong password!").status_code == 401
    assert login(other, "rita", "wrong password!").status_code == 429
