"""``igg4-cds assess``: one patient's FHIR Bundle in, the assessment out (table or JSON)."""

from __future__ import annotations

import os
import sys
from datetime import date
from pathlib import Path
from typing import NoReturn

import click
import orjson

from cds_service.commands.options import iso_date
from cds_service.eligibility import (
    Assessment,
    BundleError,
    CriterionResult,
    assess_bundle,
    load_params,
)
from cds_service.eligibility.params import ParamsError
from cds_service.i18n.locales import cli_locale
from cds_service.i18n.message import N_, Msg, define
from cds_service.i18n.render import Renderer, pad, renderer, width

MESSAGES = define(
    N_("cli.status.met", "met"),
    N_("cli.status.not-met", "not met"),
    N_("cli.status.unknown", "unknown"),
    N_("cli.heading", "{patient}  as of {date}  trial {trial}"),
    N_("cli.overall", "Overall: {status}"),
    N_("cli.overall.candidate", "CANDIDATE"),
    N_("cli.overall.needs-review", "NEEDS-REVIEW"),
    N_("cli.overall.ineligible", "INELIGIBLE"),
    N_("cli.evidence", "evidence: {refs}"),
    N_("cli.issues", "Data not used or needing attention:"),
    N_("cli.error", "igg4-cds assess: error: {message}"),
    N_("cli.cannot-read", "cannot read {path}: {problem}"),
    N_("cli.not-json", "{path} is not valid JSON"),
    N_("cli.internal", "{path}: could not be assessed (internal error {kind}; please report)"),
)


def _fail(message: str, tr: Renderer) -> NoReturn:
    """One line on stderr and exit status 2: never a traceback for bad input."""
    click.echo(tr.text("cli.error", message=message), err=True)
    sys.exit(2)


def render_table(a: Assessment, tr: Renderer | None = None) -> str:
    """The readable form, in ``tr``'s language (default English): status line, then one row per
    criterion with reason and evidence."""
    tr = tr or renderer("en")
    lines = [
        tr.text("cli.heading", patient=a.patient, date=a.as_of, trial=a.trial),
        tr.text("cli.overall", status=tr.text(f"cli.overall.{a.status}")),
        "",
    ]
    titles = [tr(title_of(c)) for c in a.criteria]
    marks = [tr.text(f"cli.status.{c.status}") for c in a.criteria]
    title_width = max(width(t) for t in titles)
    mark_width = max(8, *(width(m) for m in marks))
    for c, title, mark in zip(a.criteria, titles, marks, strict=True):
        reason = tr(c.message) if c.message is not None else c.reason
        lines.append(f"{pad(c.id, 4)} {pad(title, title_width)}  {pad(mark, mark_width)} {reason}")
        if c.evidence:
            refs = tr.text("sep.comma").join(c.evidence)
            indent = " " * (title_width + mark_width + 7)
            lines.append(f"{indent} {tr.text('cli.evidence', refs=refs)}")
    if a.data_issues:
        lines += ["", tr.text("cli.issues")]
        lines += [f"  - {issue}" for issue in a.data_issues]
    return "\n".join(lines)


def title_of(c: CriterionResult) -> Msg:
    return Msg(f"title.{c.id}", dict(c.title_args))


@click.command()
@click.option(
    "--as-of",
    "as_of",
    callback=iso_date,
    metavar="YYYY-MM-DD",
    help="Screening date (default: today).",
)
@click.option(
    "--params",
    "params_path",
    type=click.Path(dir_okay=False),
    default=None,
    help="Trial parameter file (default: $IGG4_CDS_PARAMS, else built-in defaults).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the assessment as JSON.")
@click.option(
    "--lang",
    "lang",
    metavar="LOCALE",
    default=None,
    help="Language of the table: en or zh_Hans (also zh-CN, zh). Default: $LANG, else "
    "$IGG4_CDS_DEFAULT_LOCALE, else English. The JSON is the same in every language.",
)
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def assess(
    as_of: date | None, params_path: str | None, as_json: bool, lang: str | None, bundle: Path
) -> None:
    """Assess one patient's FHIR Bundle (R4 JSON) against the trial's criteria."""
    try:
        tr = renderer(cli_locale(lang, os.environ))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--lang") from None
    try:
        params = load_params(params_path)
    except ParamsError as exc:
        _fail(str(exc), tr)
    try:
        raw = bundle.read_bytes()
    except OSError as exc:
        _fail(tr.text("cli.cannot-read", path=str(bundle), problem=exc.strerror or ""), tr)
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        _fail(tr.text("cli.not-json", path=str(bundle)), tr)
    try:
        assessment = assess_bundle(data, as_of=as_of, params=params)
    except BundleError as exc:
        _fail(f"{bundle}: {exc}", tr)
    except Exception as exc:  # an engine bug on this input: one line, never a traceback
        _fail(tr.text("cli.internal", path=str(bundle), kind=type(exc).__name__), tr)
    if as_json:
        click.echo(orjson.dumps(assessment.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_table(assessment, tr))
