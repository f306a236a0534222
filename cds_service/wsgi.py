"""The WSGI entry point for gunicorn: ``gunicorn 'cds_service.wsgi:app'``.

Configured by environment: ``IGG4_CDS_CONFIG`` (a YAML/JSON file) and ``IGG4_CDS_<KEY>`` variables.
With ``METRICS_ENABLED`` and several workers, also pass ``-c python:cds_service.gunicorn_conf``
and set ``PROMETHEUS_MULTIPROC_DIR`` (see ``cds_service/metrics.py``).
"""

from __future__ import annotations

import logging

from cds_service.app import create_app
from cds_service.worker import ready

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")

try:
    app = create_app()
except ValueError as exc:  # a configuration error: said in one line, and the service stops
    logging.getLogger("igg4_cds").critical("configuration error: %s", exc)
    raise SystemExit(3) from None  # gunicorn's "worker failed to boot": it halts, no respawn loop
ready(app)  # imported in each worker (or, with --preload, once before the fork): see worker.py
