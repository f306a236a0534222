"""The ``igg4-cds`` command line. Each sub-command lives in its own module under ``commands/``."""

from __future__ import annotations

import click

from cds_service.commands.assess import assess


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="igg4-cds")
def cli() -> None:
    """igg4-cds: find candidates for trial NCT05974683 in FHIR data."""


cli.add_command(assess)


def main() -> None:
    cli()
