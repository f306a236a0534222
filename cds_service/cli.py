"""The ``igg4-cds`` command line. Each sub-command lives in its own module under ``commands/``.

Sub-commands are imported when they are run, not when the program starts (click's "lazy loading
of subcommands" pattern): ``igg4-cds assess`` never pays for the web service, the database layer
or Spark, which only ``serve``, ``demo``, ``users`` and ``screen`` need.
"""

from __future__ import annotations

import importlib

import click

# name -> "module:attribute", in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "assess": "cds_service.commands.assess:assess",
    "serve": "cds_service.commands.serve:serve",
    "demo": "cds_service.commands.demo:demo",
    "users": "cds_service.commands.users:users",
    "digest": "cds_service.commands.digest:digest",
    "screen": "cds_service.commands.screen:screen",
    "synth": "cds_service.commands.synth:synth",
    "smart-demo": "cds_service.smart_testing.demo:smart_demo",
}


class LazyGroup(click.Group):
    """A group whose commands are named here and imported on first use."""

    def __init__(self, *args: object, lazy: dict[str, str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *(n for n in super().list_commands(ctx) if n not in self.lazy)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name].partition(":")
            command = getattr(importlib.import_module(module), attribute)
            if not isinstance(command, click.Command):
                raise TypeError(f"{self.lazy[cmd_name]} is not a click command")
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="igg4-cds")
def cli() -> None:
    """igg4-cds: find candidates for trial NCT05974683 in FHIR data."""


def main() -> None:
    cli()
