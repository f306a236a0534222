"""The ``igg4-cds`` command line. Each sub-command lives in its own module under ``commands/``."""

from __future__ import annotations

import click

from cds_service.commands.assess import assess
from cds_service.commands.demo import demo
from cds_service.commands.screen import screen
from cds_service.commands.serve import serve
from cds_service.commands.synth import synth
from cds_service.commands.users import users
from cds_service.smart_testing.demo import smart_demo


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="igg4-cds")
def cli() -> None:
    """igg4-cds: find candidates for trial NCT05974683 in FHIR data."""


cli.add_command(assess)
cli.add_command(serve)
cli.add_command(demo)
cli.add_command(users)
cli.add_command(screen)
cli.add_command(synth)
cli.add_command(smart_demo)


def main() -> None:
    cli()
