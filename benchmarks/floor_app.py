"""The floor of the hook benchmark: a trivial Flask app under the same gunicorn settings, which
reads the request body, parses it (the least any hook must do) and answers with no card.

    gunicorn --chdir benchmarks floor_app:app
"""

from __future__ import annotations

import orjson
from flask import Flask, Response, request

app = Flask(__name__)


@app.post("/cds-services/<service_id>")
def hook(service_id: str) -> Response:
    orjson.loads(request.get_data(cache=False))
    return Response(b'{"cards":[]}', mimetype="application/json")


@app.get("/healthz")
def healthz() -> Response:
    return Response(b'{"status":"ok"}', mimetype="application/json")
