"""Fills the worklist from the fixtures for the demo, and creates the demo's accounts (one per
role: recruiter, investigator, admin)."""

from __future__ import annotations

import secrets
from datetime import date
from pathlib import Path

import orjson
from flask import Flask

from cds_service.eligibility import assess_bundle, load_params
from cds_service.worklist import accounts, manual, store
from cds_service.worklist.db import session_factory

DEMO_SERVER = "https://demo.igg4-cds.invalid/fhir"
DEMO_USER = "demo-investigator"
DEMO_USERS = {
    "recruiter": ("demo-recruiter", "Demo recruiter"),
    "investigator": (DEMO_USER, "Demo investigator"),
    "admin": ("demo-admin", "Demo admin"),
}


def seed_demo(app: Flask, fixtures_dir: Path, *, fhir_server: str = DEMO_SERVER) -> tuple[str, str]:
    """Assess every ``NN-slug.json`` fixture as of its ``asOf`` (from ``.expected.json``, else
    today), record it with source "demo" under ``fhir_server`` (the demo's fixture FHIR server,
    so that the hook's assessments land on the same rows), and (re)set the demo account's
    password. Returns (username, password)."""
    params = load_params(app.config.get("IGG4_PARAMS_FILE"))
    with app.app_context(), session_factory(app)() as session:
        for path in sorted(Path(fixtures_dir).glob("*.json")):
            if path.name.endswith(".expected.json"):
                continue
            bundle = orjson.loads(path.read_bytes())
            expected = path.with_name(path.name[: -len(".json")] + ".expected.json")
            as_of = None
            if expected.exists():
                as_of = date.fromisoformat(orjson.loads(expected.read_bytes())["asOf"])
            assessment = assess_bundle(bundle, as_of=as_of, params=params).to_dict()
            store.record_assessment(
                session,
                fhir_server=fhir_server,
                assessment=assessment,
                source="demo",
                display_name=manual.display_name(bundle),
                handoff=manual.bundle_handoff(app, bundle, assessment),
            )
        session.commit()
    return demo_accounts(app, ("investigator",))["investigator"]


def demo_accounts(
    app: Flask, roles: tuple[str, ...] = tuple(DEMO_USERS)
) -> dict[str, tuple[str, str]]:
    """(Re)create the demo account of each role with a fresh password: {role: (user, password)}."""
    logins: dict[str, tuple[str, str]] = {}
    with app.app_context(), session_factory(app)() as session:
        for role in roles:
            username, full_name = DEMO_USERS[role]
            password = secrets.token_urlsafe(12)
            user = accounts.get_user(session, username)
            if user is None:
                accounts.create_user(session, username, role, password, full_name)
            else:
                accounts.set_password(user, password)
                accounts.set_role(user, role)
                accounts.set_active(user, True)
            logins[role] = (username, password)
        session.commit()
    return logins
