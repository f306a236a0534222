"""The exports read plain rows and validate one patient per shape (issue 13): what they write is
what the ORM objects and the full ``fhir.resources`` validation gave."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime

import orjson
from sqlalchemy import update
from sqlalchemy.orm import Session

from cds_service.worklist import accounts, exports, store
from cds_service.worklist.models import FlaggedPatient
from cds_service.worklist.serialize import patient_summary
from cds_service.worklist.workflow import STATE_LABELS

from .conftest import SERVER


def _assessment(pid: str, status: str) -> dict[str, object]:
    return {"patient": f"Patient/{pid}", "asOf": "2026-11-24", "status": status, "criteria": []}


def _varied(db: Session) -> None:
    ann = accounts.create_user(db, "ann", "recruiter", None)
    odd = accounts.create_user(db, "=odd", "recruiter", None)
    names = [None, "", "+1 call", 'Smith, "Jo"\nline', "Ann Lee"]
    for n, state in enumerate([*STATE_LABELS, "new", "in-review"]):
        pid = f"-p{n}" if n % 4 == 0 else f"p{n}"
        status = ("candidate", "needs-review")[n % 2]
        row = store.record_assessment(
            db, fhir_server=SERVER, assessment=_assessment(pid, status), source="hook"
        )
        stamp = datetime(2026, 1, 2, 3, 4, 5, 0 if n % 3 else 123456, tzinfo=UTC)
        db.execute(
            update(FlaggedPatient)
            .where(FlaggedPatient.id == row)
            .values(
                workflow_state=state,
                display_name=names[n % len(names)],
                assignee_id=(None, ann.id, odd.id)[n % 3],
                change_acknowledged=n % 2 == 0,
                eligibility_change="newly-candidate",
                updated_at=stamp,
                created_at=stamp,
                as_of=date(2026, 11, n + 1),
                mrn=(None, "=100", "4711")[n % 3],
                phone=(None, "+1 555 0100")[n % 2],
                referred_by=(None, "Dr A")[n % 2],
                referred_via=(None, "cds-card")[n % 2],
                referred_at=(None, stamp)[n % 2],
                decision_reason="no-time" if state == "declined" else None,
                decision_criterion="E11" if state == "not-eligible" else None,
                decision_note=("-busy", None)[n % 2] if state == "declined" else None,
            )
        )
    db.commit()


def _reference_csv(db: Session, filters: store.ListFilters) -> str:
    """The export as it was written from ORM objects and ``patient_summary``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(exports.CSV_COLUMNS)
    for p in store.all_matching(db, filters):
        row = {**patient_summary(p), "url": f"https://x/{p.id}"}
        writer.writerow([exports._cell(row[c]) for c in exports.CSV_COLUMNS])
    return buf.getvalue()


def test_csv_export_equals_the_orm_rendering(db: Session) -> None:
    _varied(db)
    for filters in (
        store.ListFilters(),
        store.ListFilters(sort="name", desc=False),
        store.ListFilters(assignee="=odd"),
        store.ListFilters(assignee="none", eligibility=("candidate",)),
    ):
        rows = exports.export_rows(db, filters)
        assert rows
        assert exports.to_csv(rows, "https://x/{id}") == _reference_csv(db, filters)


def test_fhir_export_equals_the_fully_validated_bundle(db: Session) -> None:
    _varied(db)
    rows = exports.export_rows(db, store.ListFilters())
    now = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    fast = exports.to_fhir_bundle(rows, now)
    assert len(fast["entry"]) == 2 * len(rows)
    assert orjson.dumps(fast) == orjson.dumps(exports._validated(fast))
    empty = exports.to_fhir_bundle([], now)
    assert empty == {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": "2026-11-24T12:00:00Z",
    }
