"""The two exports as HTTP downloads, shared by the pages and the API: query, audit, render."""

from __future__ import annotations

import orjson
from flask import Response, url_for

from cds_service.worklist import exports, store
from cds_service.worklist.auth import user
from cds_service.worklist.db import db
from cds_service.worklist.store import ListFilters


def csv_download(filters: ListFilters, *, via_api: bool = False) -> Response:
    rows = exports.export_rows(db(), filters, user())
    store.audit(db(), user(), "export-csv", detail={"count": len(rows), "api": via_api})
    page_url = url_for("worklist.patient", row_id=0, _external=True).replace("/0", "/{id}")
    return Response(
        exports.to_csv(rows, page_url),
        mimetype="text/csv",
        headers={"Content-Disposition": 'attachment; filename="igg4-worklist.csv"'},
    )


def fhir_download(filters: ListFilters, *, via_api: bool = False) -> Response:
    rows = exports.export_rows(db(), filters, user())
    store.audit(db(), user(), "export-fhir", detail={"count": len(rows), "api": via_api})
    return Response(
        orjson.dumps(exports.to_fhir_bundle(rows)),
        mimetype="application/fhir+json",
        headers={"Content-Disposition": 'attachment; filename="igg4-worklist.fhir.json"'},
    )
