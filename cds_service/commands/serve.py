"""``igg4-cds serve``: the service under gunicorn (production server, pre-fork workers)."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

import click
from flask import Flask
from gunicorn.app.base import BaseApplication

from cds_service.config import build_config
from cds_service.gunicorn_conf import child_exit

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, overrides: dict[str, Any], options: dict[str, Any]) -> None:
        self._overrides = overrides
        self._options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self._options.items():
            self.cfg.set(key, value)

    def load(self) -> Flask:
        from cds_service.app import create_app
        from cds_service.worker import ready

        app = create_app(self._overrides)  # one application (and DB pool) per worker
        ready(app)
        return app


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=8080, show_default=True, type=int, help="Port to bind.")
@click.option(
    "--config",
    "config_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="YAML or JSON configuration file (keys of cds_service.config.DEFAULTS).",
)
@click.option("--workers", default=2, show_default=True, type=int, help="gunicorn workers.")
@click.option("--threads", default=4, show_default=True, type=int, help="Threads per worker.")
def serve(host: str, port: int, config_file: Path | None, workers: int, threads: int) -> None:
    """Serve the CDS Hooks service (and the worklist) with gunicorn."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    overrides: dict[str, Any] = {}
    if config_file:
        overrides["CONFIG_FILE"] = str(config_file.resolve())
        os.environ["IGG4_CDS_CONFIG"] = overrides["CONFIG_FILE"]
    if build_config(overrides).get("METRICS_ENABLED") and not os.environ.get(MULTIPROC_ENV):
        # Each worker counts in files here; /metrics adds them up (set before anything imports
        # prometheus_client, so that the workers inherit it).
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="igg4-cds-metrics-")
    from cds_service.app import create_app

    # Migrate and validate the configuration once, before the workers start.
    try:
        first = create_app(overrides)
    except ValueError as exc:  # a configuration error: one line, exit status 2
        click.echo(f"igg4-cds serve: error: {exc}", err=True)
        raise SystemExit(2) from None
    overrides["DATABASE_URL"] = first.config["DATABASE_URL"]
    overrides["DATABASE_AUTO_UPGRADE"] = False
    first.extensions["igg4_db"]["engine"].dispose()
    click.echo(f"igg4-cds: CDS Hooks discovery at http://{host}:{port}/cds-services")
    options = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 30,
        "accesslog": None,  # request lines carry worklist URLs with patient ids: not logged
        "errorlog": "-",
        "loglevel": "info",
        "child_exit": child_exit,
    }
    _Gunicorn(overrides, options).run()
