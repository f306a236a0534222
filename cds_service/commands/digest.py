"""``igg4-cds digest``: send the worklist's daily digest by e-mail (``WORKLIST_DIGEST``). Run it
once a day (cron, a systemd timer); each run sends what is new since the previous one."""

from __future__ import annotations

import sys
from typing import Any

import click


@click.command()
@click.option(
    "--config",
    "config",
    default=None,
    type=click.Path(dir_okay=False),
    help="The service's configuration file (WORKLIST_DIGEST, DATABASE_URL).",
)
@click.option("--database-url", envvar="IGG4_CDS_DATABASE_URL", default=None, help="Database URL.")
@click.option("--dry-run", is_flag=True, help="Say who would get a digest; send nothing.")
def digest(config: str | None, database_url: str | None, dry_run: bool) -> None:
    """E-mail each recruiter and investigator the patients newly candidate or referred."""
    from cds_service.app import create_app
    from cds_service.worklist import digest as daily
    from cds_service.worklist.db import session_factory
    from cds_service.worklist.models import utcnow

    overrides: dict[str, Any] = {}
    if config:
        overrides["CONFIG_FILE"] = config
    if database_url:
        overrides["DATABASE_URL"] = database_url
    app = create_app(overrides)
    settings = daily.SmtpSettings.from_config(
        app.extensions["igg4_worklist_settings"]["WORKLIST_DIGEST"]
    )
    if settings is None:
        click.echo("igg4-cds digest: WORKLIST_DIGEST is not configured (no SMTP server)", err=True)
        sys.exit(2)
    with session_factory(app)() as session:
        if dry_run:
            now = utcnow()
            for user in daily.recipients(session):
                since = user.last_digest_at or now - daily.FIRST_WINDOW
                count = len(daily.news_since(session, since))
                click.echo(f"{user.username}: {count} patient(s)")
            return
        try:
            run = daily.send_digests(app, session, settings)
        except OSError as exc:  # the SMTP server is unreachable or refused the connection
            click.echo(f"igg4-cds digest: SMTP server: {type(exc).__name__}", err=True)
            sys.exit(3)
    click.echo(f"digests sent: {run.sent}, nothing new: {run.empty}, refused: {run.failed}")
    sys.exit(1 if run.failed else 0)
