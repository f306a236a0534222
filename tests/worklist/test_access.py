"""Access: login on every page and API call, CSRF on every form, roles on the server, login
throttling, session hardening, API tokens."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from cds_service.worklist import accounts, store
from cds_service.worklist.auth import safe_next

from .conftest import (
    PASSWORD,
    SERVER,
    assessment,
    csrf_from,
    fresh_db_url,
    login,
    make_app,
    new_client,
    page_csrf,
)

PUBLIC = {"worklist.login", "worklist.login_oidc", "worklist.oidc_callback", "worklist.static"}


def _routes(app: Flask, prefix: str) -> list[tuple[str, str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith(prefix) or rule.endpoint in PUBLIC:
            continue
        url = re.sub(r"<(?:int:)?(\w+)>", "1", rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            out.append((rule.endpoint, method, url))
    return out


def test_every_page_needs_login(app: Flask) -> None:
    client = new_client(app)
    routes = _routes(app, "worklist.")
    assert len(routes) >= 15
    for endpoint, method, url in routes:
        response = client.open(url, method=method)
        assert response.status_code in (302, 400), (endpoint, method, response.status_code)
        if response.status_code == 302:
            assert "/worklist/login" in response.headers["Location"], endpoint
        else:  # a POST without login: refused by the CSRF check before anything happens
            assert method == "POST"


def test_every_api_call_needs_login(app: Flask) -> None:
    client = new_client(app)
    routes = _routes(app, "worklist_api.")
    assert len(routes) >= 12
    for endpoint, method, url in routes:
        response = client.open(url, method=method, json={})
        assert response.status_code == 401, (endpoint, method)
        assert response.json is not None and response.json["error"] == "unauthorized"


def test_every_form_needs_a_csrf_token(app: Flask, as_role: Callable[[str], FlaskClient]) -> None:
    clients = {role: as_role(role) for role in ("admin", "investigator")}
    posts = [r for r in _routes(app, "worklist.") if r[1] == "POST"]
    assert {e for e, _, _ in posts} >= {
        "worklist.change_state",
        "worklist.add_note",
        "worklist.assign",
        "worklist.logout",
        "worklist.users",
        "worklist.assess",
        "worklist.assess_add",
    }
    for endpoint, _, url in posts:
        client = clients["admin" if "user" in endpoint else "investigator"]
        response = client.post(url, data={"text": "x", "state": "in-review"})
        assert response.status_code == 400, endpoint
        bad = client.post(url, data={"csrf_token": "forged"})
        assert bad.status_code == 400, endpoint


def test_login_form_needs_a_csrf_token(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    response = client.post("/worklist/login", data={"username": "rita", "password": PASSWORD})
    assert response.status_code == 400


def test_api_writes_with_a_session_need_the_csrf_header(
    app: Flask, sessions: sessionmaker[Session], as_role: Callable[[str], FlaskClient]
) -> None:
    with sessions() as s:
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
        )
    client = as_role("recruiter")
    url = f"/api/patients/{row}/notes"
    assert client.post(url, json={"text": "no header"}).status_code == 400
    token = page_csrf(client)
    ok = client.post(url, json={"text": "with header"}, headers={"X-CSRFToken": token})
    assert ok.status_code == 201 and ok.json is not None and ok.json["text"] == "with header"


def test_login_logout_and_session_cookie_flags(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    response = client.post(
        "/worklist/login",
        data={
            "username": "rita",
            "password": PASSWORD,
            "csrf_token": token,
            "next": "/worklist/?state=new",
        },
    )
    assert response.status_code == 302 and response.headers["Location"] == "/worklist/?state=new"
    cookie = response.headers["Set-Cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert client.get("/worklist/").status_code == 200
    client.post("/worklist/logout", data={"csrf_token": page_csrf(client)})
    assert client.get("/worklist/").status_code == 302


def test_wrong_password_is_refused(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    response = client.post(
        "/worklist/login", data={"username": "rita", "password": "wrong", "csrf_token": token}
    )
    assert response.status_code == 401
    assert "Wrong user name or password" in response.get_data(as_text=True)
    assert client.get("/worklist/").status_code == 302


def test_login_is_throttled_per_user(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))

    def attempt(password: str, name: str = "rita") -> int:
        return client.post(
            "/worklist/login", data={"username": name, "password": password, "csrf_token": token}
        ).status_code

    assert [attempt("wrong") for _ in range(5)] == [401] * 5
    assert attempt(PASSWORD) == 429  # even the right password, until the window passes
    assert attempt(PASSWORD, "ivan") == 302  # other users are not locked out


def test_login_is_throttled_per_address(migrated_db: Path, tmp_path: Path) -> None:
    app = make_app(
        fresh_db_url(migrated_db, tmp_path),
        DATABASE_AUTO_UPGRADE=False,
        WORKLIST_LOGIN_MAX_FAILURES_PER_IP=8,
    )
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    codes = [
        client.post(
            "/worklist/login", data={"username": f"guess{i}", "password": "x", "csrf_token": token}
        ).status_code
        for i in range(9)
    ]
    assert codes[:8] == [401] * 8 and codes[8] == 429  # a different name each time


def test_success_resets_the_user_counter(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    for _ in range(4):
        client.post(
            "/worklist/login", data={"username": "rita", "password": "x", "csrf_token": token}
        )
    assert (
        client.post(
            "/worklist/login", data={"username": "rita", "password": PASSWORD, "csrf_token": token}
        ).status_code
        == 302
    )
    fresh = new_client(app)
    token = csrf_from(fresh.get("/worklist/login").get_data(as_text=True))
    codes = [
        fresh.post(
            "/worklist/login", data={"username": "rita", "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(2)
    ]
    assert codes == [401, 401]


def test_deactivation_and_password_change_end_open_sessions(
    app: Flask, sessions: sessionmaker[Session], users: dict[str, int]
) -> None:
    client = login(app, "rita")
    with sessions() as s:
        u = accounts.get_user(s, "rita")
        assert u is not None
        accounts.set_password(u, "another long password")
        s.commit()
    assert client.get("/worklist/").status_code == 302
    client = login(app, "ivan")
    with sessions() as s:
        u = accounts.get_user(s, "ivan")
        assert u is not None
        accounts.set_active(u, False)
        s.commit()
    assert client.get("/api/me").status_code == 401


@pytest.mark.parametrize(
    ("role", "expected"), [("recruiter", 403), ("investigator", 403), ("admin", 200)]
)
def test_only_admins_manage_users(
    as_role: Callable[[str], FlaskClient], role: str, expected: int
) -> None:
    client = as_role(role)
    assert client.get("/worklist/admin/users").status_code == expected
    token = page_csrf(client)
    response = client.post(
        "/worklist/admin/users",
        data={"csrf_token": token, "username": f"new-{role}", "role": "admin"},
    )
    assert response.status_code == expected
    if expected == 200:
        assert "new-admin created. Password:" in response.get_data(as_text=True)


def test_admin_changes_roles_and_deactivates(
    app: Flask,
    sessions: sessionmaker[Session],
    users: dict[str, int],
    as_role: Callable[[str], FlaskClient],
) -> None:
    admin = as_role("admin")
    token = page_csrf(admin, "/worklist/admin/users")
    rita = users["recruiter"]
    admin.post(
        f"/worklist/admin/users/{rita}",
        data={"csrf_token": token, "action": "role", "role": "investigator"},
    )
    admin.post(f"/worklist/admin/users/{rita}", data={"csrf_token": token, "action": "deactivate"})
    with sessions() as s:
        u = accounts.get_user(s, "rita")
        assert u is not None and (u.role, u.active) == ("investigator", False)
    own = admin.post(
        f"/worklist/admin/users/{users['admin']}",
        data={"csrf_token": token, "action": "deactivate"},
        follow_redirects=True,
    )
    assert "cannot deactivate yourself" in own.get_data(as_text=True)


@pytest.mark.parametrize(("role", "expected"), [("recruiter", 403), ("admin", 403)])
def test_manual_assessment_is_for_investigators(
    as_role: Callable[[str], FlaskClient], role: str, expected: int
) -> None:
    client = as_role(role)
    assert client.get("/worklist/assess").status_code == expected
    response = client.post("/api/assess", data=b"{}", headers={"X-CSRFToken": page_csrf(client)})
    assert response.status_code == expected


def test_roles_are_enforced_on_the_server_for_state_changes(
    sessions: sessionmaker[Session], as_role: Callable[[str], FlaskClient]
) -> None:
    with sessions() as s:
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
        )
    recruiter = as_role("recruiter")
    token = page_csrf(recruiter)
    # the page offers no such option, but a hand-made request must be refused as well
    page = recruiter.post(
        f"/worklist/patients/{row}/state", data={"csrf_token": token, "state": "not-eligible"}
    )
    assert page.status_code == 403
    api = recruiter.post(
        f"/api/patients/{row}/state", json={"state": "not-eligible"}, headers={"X-CSRFToken": token}
    )
    assert api.status_code == 403 and api.json is not None and api.json["error"] == "forbidden"
    investigator = as_role("investigator")
    ok = investigator.post(
        f"/api/patients/{row}/state",
        json={"state": "not-eligible", "criterion": "E11"},
        headers={"X-CSRFToken": page_csrf(investigator)},
    )
    assert ok.status_code == 200 and ok.json is not None and ok.json["state"] == "not-eligible"


def test_api_tokens_authenticate_without_csrf(
    app: Flask, sessions: sessionmaker[Session], users: dict[str, int]
) -> None:
    with sessions() as s:
        u = accounts.get_user(s, "rita")
        assert u is not None
        token = accounts.create_api_token(s, u, "tests")
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment("p1"), source="hook"
        )
        s.commit()
    client = new_client(app)
    auth = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/me", headers=auth).json == {
        "username": "rita",
        "displayName": None,
        "role": "recruiter",
    }
    note = client.post(f"/api/patients/{row}/notes", json={"text": "via token"}, headers=auth)
    assert note.status_code == 201
    bad = client.get("/api/me", headers={"Authorization": "Bearer igg4wl_not-a-token"})
    assert bad.status_code == 401


def test_throttled_login_does_not_check_the_password(app: Flask, users: dict[str, int]) -> None:
    client = new_client(app)
    token = csrf_from(client.get("/worklist/login").get_data(as_text=True))
    for _ in range(5):
        client.post(
            "/worklist/login", data={"username": "ada", "password": "x", "csrf_token": token}
        )
    response = client.post(
        "/worklist/login", data={"username": "ada", "password": PASSWORD, "csrf_token": token}
    )
    assert response.status_code == 429
    assert "Too many failed attempts" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/worklist/patients/3", "/worklist/patients/3"),
        ("https://evil.example/", "/d"),
        ("//evil.example/x", "/d"),
        ("/\\evil.example", "/d"),
        ("javascript:alert(1)", "/d"),
        (None, "/d"),
    ],
)
def test_login_redirects_only_within_the_site(target: str | None, expected: str) -> None:
    assert safe_next(target, "/d") == expected


def test_security_headers_on_pages(as_role: Callable[[str], FlaskClient]) -> None:
    response = as_role("recruiter").get("/worklist/")
    assert response.headers["Cache-Control"] == "no-store"
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_passwords_are_hashed_with_argon2(
    sessions: sessionmaker[Session], users: dict[str, int]
) -> None:
    with sessions() as s:
        u = accounts.get_user(s, "rita")
        assert u is not None and u.password_hash is not None
        assert u.password_hash.startswith("$argon2id$") and PASSWORD not in u.password_hash
        with pytest.raises(accounts.AccountError):
            accounts.create_user(s, "short", "recruiter", "short")
        with pytest.raises(accounts.AccountError):
            accounts.create_user(s, "rita", "recruiter", PASSWORD)
        with pytest.raises(accounts.AccountError):
            accounts.create_user(s, "x", "superuser", PASSWORD)


def test_without_a_configured_key_one_is_kept_in_the_instance_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flask import Flask

    monkeypatch.delenv("IGG4_CDS_SECRET_KEY", raising=False)
    from cds_service.worklist.extension import _ensure_secret_key

    first, second = (
        Flask("a", instance_path=str(tmp_path)),
        Flask("b", instance_path=str(tmp_path)),
    )
    _ensure_secret_key(first)
    _ensure_secret_key(second)  # a second worker reads the same key
    assert first.secret_key == second.secret_key and len(str(first.secret_key)) == 64
    key_file = tmp_path / "secret_key"
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"]
