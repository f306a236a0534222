"""The daily digest, sent to a real SMTP server on loopback (aiosmtpd) started by the test: each
recruiter and investigator with an address gets the patients newly candidate or referred since
their last digest, with the name, MRN and status only."""

from __future__ import annotations

import email
import email.policy
import json
import socket
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from click.testing import CliRunner
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from cds_service.cli import cli
from cds_service.eligibility import assess_bundle
from cds_service.worklist import accounts, store
from cds_service.worklist.digest import SmtpSettings, send_digests
from cds_service.worklist.models import User
from fhir_mappings.summary import handoff

from .conftest import FIXTURES, PASSWORD, SERVER, make_app


class Inbox:
    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append(parsed)  # type: ignore[arg-type]
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Inbox, int]]:
    inbox = Inbox()
    with socket.socket() as probe:  # a free port (aiosmtpd checks its server by connecting)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _list(s: Session, fixture: str) -> int:
    bundle = json.loads((FIXTURES / f"{fixture}.json").read_text())
    result = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
    extra = handoff([e["resource"] for e in bundle["entry"]], result)
    return store.record_assessment(
        s, fhir_server=SERVER, assessment=result, source="screen", handoff=extra
    )


def _people(s: Session) -> None:
    for name, role, address in (
        ("rita", "recruiter", "rita@hospital.example"),
        ("ivan", "investigator", "ivan@hospital.example"),
        ("ada", "admin", "ada@hospital.example"),  # admins get no digest
        ("nomail", "recruiter", None),
    ):
        u = accounts.create_user(s, name, role, PASSWORD)
        accounts.set_email(u, address)
    s.commit()


def _body(message: email.message.EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def test_each_recruiter_gets_what_is_new_and_nothing_clinical(
    app: Flask, sessions: sessionmaker[Session], smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    settings = SmtpSettings.from_config(
        {
            "smtp_host": "127.0.0.1",
            "smtp_port": port,
            "from": "worklist@hospital.example",
            "worklist_url": "https://cds.hospital.example/worklist/",
        }
    )
    assert settings is not None
    with sessions() as s:
        _people(s)
        _list(s, "01-candidate-mgl-male")  # candidate, newly listed
        _list(s, "12-review-ast-91-days-old")  # needs-review: not news by itself
        _list(s, "13-review-igg4-181-days-old")
        store.record_referral(
            s, fhir_server=SERVER, patient_id="fx13", by="Dr Rossi", via="smart-app"
        )
        run = send_digests(app, s, settings)
    assert (run.sent, run.empty, run.failed) == (2, 0, 0)
    assert sorted(m["To"] for m in inbox.messages) == [
        "ivan <ivan@hospital.example>",
        "rita <rita@hospital.example>",
    ]
    message = inbox.messages[0]
    assert message["Subject"] == "IgG4-RD trial worklist: 2 patients to call"
    body = _body(message)
    assert "Agnieszka Kowalczyk, MRN 100481: referred by a clinician" in body
    assert "Pieter Hallorann, MRN 100037: candidate, newly listed" in body
    assert "Dmitri Ivanov" not in body  # needs-review, not referred: not news
    assert "https://cds.hospital.example/worklist/" in body
    for clinical in ("mg/L", "IgG4 1", "AST", "1974", "555", "fx01", "Dr Rossi", "E11", "I5"):
        assert clinical not in body, clinical
    # the next run has nothing new: no mail
    with sessions() as s:
        again = send_digests(app, s, settings)
    assert (again.sent, again.empty) == (0, 2) and len(inbox.messages) == 2
    # a patient who becomes a candidate is news for the next digest
    with sessions() as s:
        newly = assessment_of(s, "12-review-ast-91-days-old", status="candidate")
        store.record_assessment(s, fhir_server=SERVER, assessment=newly, source="screen")
        send_digests(app, s, settings)
    assert len(inbox.messages) == 4
    assert "Dmitri Ivanov, MRN 100444: newly candidate" in _body(inbox.messages[-1])


def assessment_of(s: Session, fixture: str, status: str) -> dict[str, Any]:
    bundle = json.loads((FIXTURES / f"{fixture}.json").read_text())
    result = assess_bundle(bundle, as_of=date(2026, 11, 25)).to_dict()
    result["status"] = status
    return result


def test_the_command_sends_and_a_refusing_server_is_retried_next_time(
    tmp_path: Path, smtp: tuple[Inbox, int]
) -> None:
    inbox, port = smtp
    url = f"sqlite:///{tmp_path / 'digest.db'}"
    app = make_app(url)
    from cds_service.worklist.db import session_factory

    with session_factory(app)() as s:
        _people(s)
        _list(s, "01-candidate-mgl-male")
    config = tmp_path / "site.yaml"
    config.write_text(
        f"DATABASE_URL: {url}\nJWT_VERIFY: false\n"
        f"WORKLIST_DIGEST: {{smtp_host: 127.0.0.1, smtp_port: {port}, from: wl@h.example}}\n"
    )
    env = {"IGG4_CDS_SECRET_KEY": "digest-tests-" + "k" * 32}
    dry = CliRunner().invoke(cli, ["digest", "--config", str(config), "--dry-run"], env=env)
    assert dry.exit_code == 0 and "rita: 1 patient(s)" in dry.output and not inbox.messages
    sent = CliRunner().invoke(cli, ["digest", "--config", str(config)], env=env)
    assert sent.exit_code == 0, sent.output
    assert "digests sent: 2" in sent.output and len(inbox.messages) == 2
    with session_factory(app)() as s:
        rita = s.query(User).filter_by(username="rita").one()
        assert rita.last_digest_at is not None
    off = tmp_path / "off.yaml"
    off.write_text(f"DATABASE_URL: {url}\nJWT_VERIFY: false\n")
    refused = CliRunner().invoke(cli, ["digest", "--config", str(off)], env=env)
    assert refused.exit_code == 2 and "not configured" in refused.output


def test_bad_digest_settings_are_refused_at_start() -> None:
    for bad in ({"smtp_host": "x"}, {"from": "a@b"}, {"smtp_host": "x", "from": "a@b", "ssl": 1}):
        with pytest.raises(ValueError, match="WORKLIST_DIGEST"):
            SmtpSettings.from_config(bad)
    assert SmtpSettings.from_config({}) is None
    with pytest.raises(accounts.AccountError):
        accounts.set_email(User(), "not an address")
