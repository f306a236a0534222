"""The daily digest (optional): each recruiter and investigator with an e-mail address gets, by
SMTP, the patients newly candidate or referred by a clinician since their last digest.

The mail carries the patient's name, MRN and status only: no clinical detail (no values, dates of
results, criteria or contact details), since e-mail leaves the hospital's systems more easily than
the worklist. The words are in ``templates/worklist/digest.txt``. Run ``igg4-cds digest`` once a
day (cron, a systemd timer); each run sends what is new since the previous one.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import formataddr, make_msgid
from typing import Any

from flask import Flask, render_template
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from cds_service.worklist.models import FlaggedPatient, User, utcnow

DIGEST_ROLES = ("recruiter", "investigator")
FIRST_WINDOW = timedelta(days=1)  # a user's first digest covers the last day
MAX_PATIENTS = 200  # per mail; the rest are counted ("and N more")


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    starttls: bool = False
    tls: bool = False  # SMTP over TLS from the start (port 465)
    username: str | None = None
    password: str | None = None
    worklist_url: str | None = None  # the link in the mail (the list, never a patient)
    timeout_s: float = 30.0

    @classmethod
    def from_config(cls, raw: Any) -> SmtpSettings | None:
        """``WORKLIST_DIGEST`` (a mapping; empty: the digest is off). Raises ValueError."""
        if not raw:
            return None
        if not isinstance(raw, Mapping):
            raise ValueError("WORKLIST_DIGEST must be a mapping (smtp_host, from, ...)")
        unknown = set(raw) - {
            "smtp_host",
            "smtp_port",
            "from",
            "starttls",
            "tls",
            "username",
            "password",
            "worklist_url",
            "timeout_s",
        }
        if unknown:
            raise ValueError(f"WORKLIST_DIGEST: unknown keys {sorted(unknown)}")
        host, sender = raw.get("smtp_host"), raw.get("from")
        if (
            not isinstance(host, str)
            or not host
            or not isinstance(sender, str)
            or "@" not in sender
        ):
            raise ValueError("WORKLIST_DIGEST needs smtp_host and from (an e-mail address)")
        port = raw.get("smtp_port", 465 if raw.get("tls") else 25)
        if not isinstance(port, int) or not 0 < port < 65536:
            raise ValueError("WORKLIST_DIGEST.smtp_port must be a port number")
        return cls(
            host=host,
            port=port,
            sender=sender,
            starttls=bool(raw.get("starttls", False)),
            tls=bool(raw.get("tls", False)),
            username=raw.get("username") or None,
            password=raw.get("password") or None,
            worklist_url=raw.get("worklist_url") or None,
            timeout_s=float(raw.get("timeout_s", 30.0)),
        )


@dataclass(frozen=True, slots=True)
class DigestLine:
    name: str | None
    mrn: str | None
    status: str  # "newly-candidate" | "referred" | "newly-listed"


def recipients(session: Session) -> list[User]:
    return list(
        session.execute(
            select(User)
            .where(User.active.is_(True), User.email.is_not(None), User.role.in_(DIGEST_ROLES))
            .order_by(User.username)
        ).scalars()
    )


def news_since(session: Session, since: datetime) -> list[DigestLine]:
    """Patients newly candidate (listed as one, or changed to one) or referred by a clinician
    since ``since``; referrals first, then by name."""
    p = FlaggedPatient
    newly = or_(
        and_(p.eligibility_change == "newly-candidate", p.eligibility_changed_at > since),
        and_(p.eligibility == "candidate", p.created_at > since),
    )
    referred = p.referred_at > since
    rows = session.execute(
        select(p).where(or_(referred, and_(newly, p.eligibility == "candidate")))
    ).scalars()
    lines = []
    for row in rows:
        if row.referred_at is not None and row.referred_at > since:
            status = "referred"
        elif row.eligibility_change == "newly-candidate":
            status = "newly-candidate"
        else:
            status = "newly-listed"
        lines.append(DigestLine(row.display_name, row.mrn, status))
    lines.sort(key=lambda line: (line.status != "referred", (line.name or "").lower()))
    return lines


def compose(
    app: Flask, user: User, lines: list[DigestLine], settings: SmtpSettings
) -> EmailMessage:
    with app.app_context():
        body = render_template(
            "worklist/digest.txt",
            user=user,
            lines=lines[:MAX_PATIENTS],
            more=max(0, len(lines) - MAX_PATIENTS),
            url=settings.worklist_url,
        )
        subject = render_template("worklist/digest_subject.txt", count=len(lines)).strip()
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = formataddr((user.display_name or user.username, user.email or ""))
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=settings.sender.rsplit("@", 1)[-1])
    message.set_content(body)
    return message


def _connect(settings: SmtpSettings) -> smtplib.SMTP:
    if settings.tls:
        return smtplib.SMTP_SSL(
            settings.host,
            settings.port,
            timeout=settings.timeout_s,
            context=ssl.create_default_context(),
        )
    smtp = smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
    if settings.starttls:
        smtp.starttls(context=ssl.create_default_context())
    return smtp


@dataclass
class DigestRun:
    sent: int = 0  # mails sent
    empty: int = 0  # recipients with nothing new (no mail)
    failed: int = 0  # mails the server refused (the user's window is kept for the next run)


def send_digests(app: Flask, session: Session, settings: SmtpSettings) -> DigestRun:
    """One digest per recipient with something new; each user's window moves on only when their
    mail was accepted by the SMTP server (a failed mail is retried by the next run)."""
    run = DigestRun()
    now = utcnow()
    users = recipients(session)
    if not users:
        return run
    with _connect(settings) as smtp:
        if settings.username:
            smtp.login(settings.username, settings.password or "")
        for user in users:
            since = user.last_digest_at or now - FIRST_WINDOW
            lines = news_since(session, since)
            if not lines:
                run.empty += 1
                user.last_digest_at = now
                continue
            try:
                smtp.send_message(compose(app, user, lines, settings))
            except smtplib.SMTPException:
                run.failed += 1
                continue
            user.last_digest_at = now
            run.sent += 1
        session.commit()
    return run
