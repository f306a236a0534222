"""``igg4-cds screen``: every candidate in a clinic's FHIR data (a FHIR server or a Bulk export)."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import Any

import click

from cds_service.commands.options import iso_date
from cds_service.fhir_client import FhirError, normalize_base
from cds_service.i18n.locales import cli_locale
from cds_service.i18n.message import N_, define
from cds_service.i18n.render import renderer
from cds_service.screening import ScreenConfig, run_screen
from cds_service.screening.auth import AuthError, SmartBackendAuth, StaticToken, discover_token_url
from cds_service.screening.bulk import parse_size
from cds_service.screening.fhir_source import RetryPolicy

_APP_DB = "__app__"
EXIT_STOPPED = 3  # the run stopped early (server unreachable); what was done is kept


def app_database_url() -> str:
    """The service's own database: DATABASE_URL from its configuration, else its SQLite file."""
    from flask import Flask

    from cds_service.app import default_database_url
    from cds_service.config import build_config

    url = build_config().get("DATABASE_URL")
    if url:
        return str(url)
    return default_database_url(Flask("cds_service.app", instance_relative_config=True))


def _auth(
    fhir_server: str | None,
    token: str | None,
    client_id: str | None,
    private_key: Path | None,
    token_url: str | None,
    alg: str,
    kid: str | None,
    scope: str | None,
) -> StaticToken | SmartBackendAuth | None:
    if client_id or private_key:
        if not (client_id and private_key and fhir_server):
            raise click.UsageError("SMART Backend Services needs --client-id and --private-key")
        url = token_url or discover_token_url(fhir_server)
        kwargs: dict[str, Any] = {"scope": scope} if scope else {}
        return SmartBackendAuth(
            token_url=url,
            client_id=client_id,
            private_key_pem=private_key.read_bytes(),
            alg=alg,
            kid=kid,
            **kwargs,
        )
    return StaticToken(token) if token else None


MESSAGES = define(
    N_("screen.malformed", "Malformed or unusable lines ({count} in all; first shown):"),
    N_("screen.report", "report: {path}"),
    N_(
        "screen.stopped",
        "igg4-cds screen: stopped early: {error}. {count} patient(s) assessed and kept; re-run"
        " with --resume to continue (journal: {journal}).",
    ),
)


@click.command()
@click.option(
    "--fhir-server", metavar="URL", help="FHIR R4 base URL to screen (search, then fetch)."
)
@click.option(
    "--bulk",
    "bulk_dir",
    type=click.Path(exists=True, path_type=Path),
    help="Directory of a FHIR Bulk Data export (*.ndjson, *.ndjson.gz; several per type).",
)
@click.option(
    "--engine",
    type=click.Choice(["local", "spark"]),
    default="local",
    show_default=True,
    help="Run the bulk screen here (worker processes) or on Apache Spark.",
)
@click.option("--spark-master", default="local[*]", show_default=True, help="Spark master URL.")
@click.option("--as-of", callback=iso_date, help="Screening date YYYY-MM-DD (default: today).")
@click.option(
    "--params",
    "params_path",
    type=click.Path(exists=True, dir_okay=False),
    help="Trial parameter file (default: IGG4_CDS_PARAMS or built-in).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write assessments to this file (.csv or .ndjson).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["csv", "ndjson"]),
    help="Format of --out (default: from its extension).",
)
@click.option(
    "--db",
    "db_url",
    is_flag=False,
    flag_value=_APP_DB,
    default=None,
    metavar="[URL]",
    help="Record results in the worklist database: URL, or the app's DATABASE_URL when "
    "given alone. Used by default when --out is not given.",
)
@click.option(
    "--fhir-label",
    metavar="URL",
    help="Worklist's FHIR server for bulk results (default: file:// URL of the export).",
)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write summary.json, attrition.csv, attrition.svg and malformed.csv here.",
)
@click.option("--resume", is_flag=True, help="Skip patients already done in this run (journal).")
@click.option(
    "--journal",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The run's journal of patients done (default: OUT.journal).",
)
@click.option(
    "--all-patients",
    is_flag=True,
    help="Bulk: assess every patient, not only those with an IgG4-RD code or IgG4 result.",
)
@click.option(
    "--workers",
    type=click.IntRange(1),
    default=os.cpu_count() or 1,
    show_default=True,
    help="Worker processes (bulk: they read the files, then assess the patients).",
)
@click.option(
    "--memory-limit",
    default="512MB",
    show_default=True,
    help="Bulk: NDJSON held in memory for grouping, all workers together (e.g. 256MB, 1GB).",
)
@click.option(
    "--partition-mb",
    type=click.IntRange(1),
    default=16,
    show_default=True,
    help="Bulk: NDJSON one worker holds before writing it out sorted (bounds memory).",
)
@click.option(
    "--temp-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="IGG4_CDS_BULK_TEMP_DIR",
    help="Bulk: where the export is set aside by patient (needs about the export's NDJSON "
    "size; default: the system's temporary folder; env IGG4_CDS_BULK_TEMP_DIR).",
)
@click.option(
    "--max-line-mb",
    type=click.FloatRange(0.001),
    default=2.0,
    show_default=True,
    envvar="IGG4_CDS_BULK_MAX_LINE_MB",
    help="Bulk: longest NDJSON line read (one resource); a longer one is reported, not read "
    "(env IGG4_CDS_BULK_MAX_LINE_MB).",
)
@click.option(
    "--concurrency",
    type=click.IntRange(1),
    default=4,
    show_default=True,
    help="FHIR server: patients fetched at a time.",
)
@click.option(
    "--retries",
    type=click.IntRange(1),
    default=5,
    show_default=True,
    help="FHIR server: attempts per request on 429/5xx/timeouts, with back-off.",
)
@click.option(
    "--token", envvar="IGG4_CDS_FHIR_TOKEN", help="Bearer token (env IGG4_CDS_FHIR_TOKEN)."
)
@click.option("--client-id", help="SMART Backend Services client id.")
@click.option(
    "--private-key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="SMART Backend Services private key (PEM).",
)
@click.option("--token-url", help="Token endpoint (default: from .well-known/smart-configuration).")
@click.option("--alg", type=click.Choice(["RS384", "ES384"]), default="RS384", show_default=True)
@click.option("--kid", help="Key id for the JWT header (the JWKS entry of --private-key).")
@click.option("--scope", help="Scopes requested (default: system/<Type>.rs for the types read).")
@click.option(
    "--progress/--no-progress",
    default=None,
    help="Progress bar on stderr (default: when stderr is a terminal).",
)
@click.option(
    "--lang",
    "lang",
    metavar="LOCALE",
    default=None,
    help="Language of the printed summary: en or zh_Hans (default: $LANG, else "
    "$IGG4_CDS_DEFAULT_LOCALE, else English). Files and the worklist are the same in every language.",
)
def screen(
    fhir_server: str | None,
    bulk_dir: Path | None,
    engine: str,
    spark_master: str,
    as_of: date | None,
    params_path: str | None,
    out: Path | None,
    out_format: str | None,
    db_url: str | None,
    fhir_label: str | None,
    report_dir: Path | None,
    resume: bool,
    journal: Path | None,
    all_patients: bool,
    workers: int,
    memory_limit: str,
    partition_mb: int,
    temp_dir: Path | None,
    max_line_mb: float,
    concurrency: int,
    retries: int,
    token: str | None,
    client_id: str | None,
    private_key: Path | None,
    token_url: str | None,
    alg: str,
    kid: str | None,
    scope: str | None,
    progress: bool | None,
    lang: str | None,
) -> None:
    """Screen a population: assess every patient worth assessing and summarise the attrition.

    \b
    Examples:
      igg4-cds screen --bulk export/ --out results.csv --report report/
      igg4-cds screen --fhir-server https://ehr/fhir --token "$TOKEN" --db --report report/
      igg4-cds screen --bulk export/ --engine spark --out results.ndjson
    """
    if (fhir_server is None) == (bulk_dir is None):
        raise click.UsageError("give exactly one source: --fhir-server URL or --bulk DIR")
    if fhir_server is not None:
        try:
            normalize_base(fhir_server)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--fhir-server") from None
    try:
        parse_size(memory_limit)
    except ValueError:
        raise click.BadParameter(
            "a size such as 512MB or 2GB", param_hint="--memory-limit"
        ) from None
    if engine == "spark" and bulk_dir is None:
        raise click.UsageError("--engine spark screens a bulk export (--bulk DIR)")
    if db_url == _APP_DB or (db_url is None and out is None):
        db_url = app_database_url()
    try:
        auth = _auth(fhir_server, token, client_id, private_key, token_url, alg, kid, scope)
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None
    cfg = ScreenConfig(
        bulk_dir=bulk_dir,
        fhir_server=fhir_server,
        engine="spark" if engine == "spark" else "local",
        as_of=as_of,
        params_path=params_path,
        workers=workers,
        out=out,
        out_format=out_format,
        db_url=db_url,
        fhir_label=fhir_label,
        report_dir=report_dir,
        resume=resume,
        journal=journal,
        all_patients=all_patients,
        memory_limit=memory_limit,
        partition_bytes=partition_mb * 1024 * 1024,
        temp_dir=temp_dir,
        max_line_bytes=int(max_line_mb * 1024 * 1024),
        concurrency=concurrency,
        auth=auth,
        retry=RetryPolicy(attempts=retries),
        progress=sys.stderr.isatty() if progress is None else progress,
        spark_master=spark_master,
    )
    try:
        tr = renderer(cli_locale(lang, os.environ))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lang") from None
    try:
        outcome = run_screen(cfg)
    except (FileNotFoundError, AuthError) as exc:
        raise click.ClickException(str(exc)) from None
    except FhirError as exc:  # a search the server cannot answer (not a passing failure)
        raise click.ClickException(f"FHIR server: {exc}") from None
    click.echo(outcome.summary.render(outcome.stats, tr))
    if outcome.issues_shown:
        click.echo("\n" + tr.text("screen.malformed", count=outcome.stats.bad))
        for issue in outcome.issues_shown:
            click.echo(f"  {issue}")
    for path in outcome.report_files:
        click.echo(tr.text("screen.report", path=str(path)))
    if outcome.error:
        click.echo(
            "\n"
            + tr.text(
                "screen.stopped",
                error=str(outcome.error),
                count=outcome.summary.assessed,
                journal=str(outcome.journal),
            ),
            err=True,
        )
        sys.exit(EXIT_STOPPED)
