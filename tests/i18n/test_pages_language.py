"""The pages speak the user's language: the switcher's choice, then Accept-Language, then
DEFAULT_LOCALE. Reasons and titles of stored assessments are rendered in that language."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import date

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.orm import Session, sessionmaker

from cds_service.eligibility import assess_bundle
from cds_service.worklist import store
from tests.worklist.conftest import (  # noqa: F401 (fixtures)
    FIXTURES,
    SERVER,
    _cheap_password_hashing,
    app,
    as_role,
    migrated_db,
    sessions,
    users,
)

HAN = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture
def row(sessions: sessionmaker[Session]) -> int:  # noqa: F811
    bundle = json.loads((FIXTURES / "01-candidate-mgl-male.json").read_text())
    assessment = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
    with sessions() as s:
        return store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment, source="screen", display_name="王芳"
        )


def test_patient_page_in_chinese_by_accept_language(
    as_role: Callable[[str], FlaskClient],  # noqa: F811
    row: int,
) -> None:
    client = as_role("recruiter")
    response = client.get(f"/worklist/patients/{row}", headers={"Accept-Language": "zh-CN"})
    html = response.get_data(as_text=True)
    assert response.headers["Content-Language"] == "zh-Hans"
    assert '<html lang="zh-Hans">' in html
    for words in (
        "缺少的数据",  # What is missing
        "基线血清IgG4 &gt; 1,400 mg/L",  # the title of I3, with its value
        "基线IgG4 2,600 mg/L（2022年3月1日，早于治疗开始日2022年3月15日） &gt; 1,400 mg/L",
        "符合",  # a criterion's status
        "评估历史",
        "血清IgG4随时间变化（mg/L）",  # the chart's title
        "基线 2,600",  # a label in the chart
    ):
        assert words in html, words
    english = client.get(f"/worklist/patients/{row}", headers={"Accept-Language": "en"})
    text = english.get_data(as_text=True)
    assert "What is missing" in text and "baseline IgG4 2,600 mg/L (2022-03-01" in text
    assert not HAN.search(text.replace("王芳", "").replace("简体中文", "")), HAN.findall(text)[:10]


def test_the_switcher_choice_wins_over_accept_language(
    as_role: Callable[[str], FlaskClient],  # noqa: F811
    row: int,
) -> None:
    client = as_role("recruiter")
    page = client.get("/worklist/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "/language/zh_Hans?next=/worklist/" in page and "简体中文" in page
    response = client.get("/language/zh_Hans?next=/worklist/%3Fq%3Dx")
    assert response.status_code == 303 and response.headers["Location"] == "/worklist/?q=x"
    assert "igg4_cds_lang=zh_Hans" in response.headers["Set-Cookie"]
    chinese = client.get("/worklist/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "待联系患者" in chinese and "筛选与搜索" in chinese
    client.get("/language/en?next=/worklist/")
    back = client.get("/worklist/", headers={"Accept-Language": "zh-CN"}).get_data(as_text=True)
    assert "Patients to call" in back


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil", "x"])
def test_the_switcher_never_leaves_the_site(app: Flask, target: str) -> None:  # noqa: F811
    response = app.test_client().get("/language/zh-CN", query_string={"next": target})
    assert response.status_code == 303 and response.headers["Location"] == "/"


def test_unknown_language_is_404(app: Flask) -> None:  # noqa: F811
    assert app.test_client().get("/language/fr").status_code == 404


def test_error_page_and_login_in_chinese(app: Flask) -> None:  # noqa: F811
    client = app.test_client()
    login = client.get("/worklist/login", headers={"Accept-Language": "zh"}).get_data(as_text=True)
    assert "用户名" in login and "密码" in login and "登录" in login


def test_site_default_without_header(migrated_db, tmp_path) -> None:  # noqa: F811
    from tests.worklist.conftest import make_app

    db = tmp_path / "zh.db"
    db.write_bytes(migrated_db.read_bytes())
    chinese = make_app(f"sqlite:///{db}", DEFAULT_LOCALE="zh-Hans-CN")
    page = chinese.test_client().get("/worklist/login").get_data(as_text=True)
    assert '<html lang="zh-Hans">' in page and "用户名" in page


def test_smart_start_page_in_chinese(app: Flask) -> None:  # noqa: F811
    html = app.test_client().get("/smart/", headers={"Accept-Language": "zh-CN"}).get_data(True)
    assert "试验筛查应用" in html and '<html lang="zh-Hans">' in html


def test_digest_in_the_site_language(migrated_db, tmp_path) -> None:  # noqa: F811
    from cds_service.worklist.digest import DigestLine, SmtpSettings, compose
    from cds_service.worklist.models import User
    from tests.worklist.conftest import make_app

    db = tmp_path / "digest.db"
    db.write_bytes(migrated_db.read_bytes())
    site = make_app(f"sqlite:///{db}", DEFAULT_LOCALE="zh_Hans")
    user = User(username="rita", display_name="李娜", role="recruiter", email="r@example.org")
    smtp = SmtpSettings(host="smtp.example.org", port=25, sender="w@example.org")
    mail = compose(site, user, [DigestLine("王芳", "100", "referred")], smtp)
    assert mail["Subject"] == "IgG4-RD试验工作列表：1名患者待联系"
    body = mail.get_content()
    assert body.startswith("李娜，您好：") and "- 王芳，病历号100：由临床医生转介" in body
