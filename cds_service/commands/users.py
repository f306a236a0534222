"""``igg4-cds users``: manage the worklist's accounts (add, list, role, password, deactivate,
API tokens). Uses the service's database (``IGG4_CDS_DATABASE_URL`` or the config file)."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from cds_service.worklist.workflow import ROLES


@contextmanager
def _session(database_url: str | None, config: str | None) -> Iterator[Session]:
    from cds_service.app import create_app
    from cds_service.worklist.db import session_factory

    overrides: dict[str, Any] = {}
    if database_url:
        overrides["DATABASE_URL"] = database_url
    if config:
        overrides["CONFIG_FILE"] = config
    app = create_app(overrides, serving=False)
    with session_factory(app)() as session:
        yield session


def _fail(message: str) -> None:
    click.echo(f"igg4-cds users: error: {message}", err=True)
    sys.exit(2)


_db_option = click.option(
    "--database-url",
    envvar="IGG4_CDS_DATABASE_URL",
    default=None,
    help="Database URL (default: the service's).",
)
_config_option = click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    help="The service's configuration file.",
)


@click.group()
def users() -> None:
    """Manage worklist accounts (recruiter, investigator, admin)."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--display-name", default=None, help="Full name shown on the pages.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--generate", is_flag=True, help="Generate a password and print it once.")
@click.option("--oidc", is_flag=True, help="An OIDC-only account (no password).")
@_db_option
@_config_option
def add(
    name: str,
    role: str,
    display_name: str | None,
    password_stdin: bool,
    generate: bool,
    oidc: bool,
    database_url: str | None,
    config: str | None,
) -> None:
    """Add an account NAME with a role; the password is asked for unless given otherwise."""
    from cds_service.worklist import accounts

    password: str | None = None
    if oidc:
        password = None
    elif password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif generate:
        password = accounts.generate_password()
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session(database_url, config) as session:
        try:
            accounts.create_user(session, name, role, password, display_name)
            session.commit()
        except accounts.AccountError as exc:
            _fail(str(exc))
    click.echo(f"added {name} ({role})")
    if generate:
        click.echo(f"password: {password}")


@users.command("list")
@_db_option
@_config_option
def list_users(database_url: str | None, config: str | None) -> None:
    """List the accounts."""
    from cds_service.worklist.models import User

    with _session(database_url, config) as session:
        for u in session.execute(select(User).order_by(User.username)).scalars():
            login = "oidc" if u.oidc_subject else ("password" if u.password_hash else "-")
            state = "active" if u.active else "deactivated"
            click.echo(f"{u.username}\t{u.role}\t{login}\t{state}\t{u.email or '-'}")


def _with_user(session: Session, name: str) -> Any:
    from cds_service.worklist import accounts

    u = accounts.get_user(session, name)
    if u is None:
        _fail(f"no user {name!r}")
    return u


@users.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@_db_option
@_config_option
def set_role(name: str, role: str, database_url: str | None, config: str | None) -> None:
    """Change an account's role (ends its open sessions)."""
    from cds_service.worklist import accounts

    with _session(database_url, config) as session:
        accounts.set_role(_with_user(session, name), role)
        session.commit()
    click.echo(f"{name} is now {role}")


@users.command("set-password")
@click.argument("name")
@click.option("--password-stdin", is_flag=True)
@_db_option
@_config_option
def set_password(
    name: str, password_stdin: bool, database_url: str | None, config: str | None
) -> None:
    """Set an account's password (ends its open sessions)."""
    from cds_service.worklist import accounts

    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with _session(database_url, config) as session:
        try:
            accounts.set_password(_with_user(session, name), password)
        except accounts.AccountError as exc:
            _fail(str(exc))
        session.commit()
    click.echo(f"password of {name} changed")


@users.command("set-email")
@click.argument("name")
@click.argument("email")
@_db_option
@_config_option
def set_email(name: str, email: str, database_url: str | None, config: str | None) -> None:
    """Set the address of NAME's daily digest ("-" removes it: no digest)."""
    from cds_service.worklist import accounts

    with _session(database_url, config) as session:
        try:
            accounts.set_email(_with_user(session, name), None if email == "-" else email)
        except accounts.AccountError as exc:
            _fail(str(exc))
        session.commit()
    click.echo(f"digest of {name}: {'off' if email == '-' else email}")


@users.command("deactivate")
@click.argument("name")
@_db_option
@_config_option
def deactivate(name: str, database_url: str | None, config: str | None) -> None:
    """Deactivate an account: no login, no API token, open sessions end."""
    from cds_service.worklist import accounts

    with _session(database_url, config) as session:
        accounts.set_active(_with_user(session, name), False)
        session.commit()
    click.echo(f"{name} deactivated")


@users.command("token")
@click.argument("name")
@click.option("--label", default=None, help="What the token is for.")
@_db_option
@_config_option
def token(name: str, label: str | None, database_url: str | None, config: str | None) -> None:
    """Create a personal API token for NAME (printed once; only its hash is stored)."""
    from cds_service.worklist import accounts

    with _session(database_url, config) as session:
        value = accounts.create_api_token(session, _with_user(session, name), label)
        session.commit()
    click.echo(value)
