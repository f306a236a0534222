"""``igg4-cds assess``: one patient's FHIR Bundle in, the assessment out (table or JSON)."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import click
import orjson

from cds_service.commands.options import iso_date
from cds_service.eligibility import Assessment, BundleError, assess_bundle, load_params
from cds_service.eligibility.params import ParamsError

_MARK = {"met": "met", "not-met": "not met", "unknown": "unknown"}


def _fail(message: str) -> None:
    """One line on stderr and exit status 2: never a traceback for bad input."""
    click.echo(f"igg4-cds assess: error: {message}", err=True)
    sys.exit(2)


def render_table(a: Assessment) -> str:
    """The readable form: status line, then one row per criterion with reason and evidence."""
    lines = [
        f"{a.patient}  as of {a.as_of.isoformat()}  trial {a.trial}",
        f"Overall: {a.status.upper()}",
        "",
    ]
    width = max(len(c.title) for c in a.criteria)
    for c in a.criteria:
        lines.append(f"{c.id:<4} {c.title:<{width}}  {_MARK[c.status]:<8} {c.reason}")
        if c.evidence:
            lines.append(f"{'':<{width + 15}} evidence: {', '.join(c.evidence)}")
    if a.data_issues:
        lines += ["", "Data not used or needing attention:"]
        lines += [f"  - {issue}" for issue in a.data_issues]
    return "\n".join(lines)


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
@click.argument("bundle", type=click.Path(dir_okay=False, path_type=Path))
def assess(as_of: date | None, params_path: str | None, as_json: bool, bundle: Path) -> None:
    """Assess one patient's FHIR Bundle (R4 JSON) against the trial's criteria."""
    try:
        params = load_params(params_path)
    except ParamsError as exc:
        _fail(str(exc))
    try:
        raw = bundle.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {bundle}: {exc.strerror}")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        _fail(f"{bundle} is not valid JSON")
    try:
        assessment = assess_bundle(data, as_of=as_of, params=params)
    except BundleError as exc:
        _fail(f"{bundle}: {exc}")
    except Exception as exc:  # an engine bug on this input: one line, never a traceback
        _fail(
            f"{bundle}: could not be assessed (internal error {type(exc).__name__}; please report)"
        )
    if as_json:
        click.echo(orjson.dumps(assessment.to_dict(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(render_table(assessment))
