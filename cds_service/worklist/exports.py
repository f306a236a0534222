"""Exports of the current list: CSV, and a FHIR R4 Bundle of ResearchSubject and Task resources
(validated with ``fhir.resources``; R4B models, identical to R4 for these two).

Both read plain rows (``export_rows``: one SQL query over the patients and their assignee, no ORM
objects) and write them out directly, so that an export of thousands of rows costs little more
than the query. To add a column: select it in ``_export_select`` and name it in ``CSV_COLUMNS`` /
``_csv_values`` (and in the FHIR resources if it belongs there).
"""

from __future__ import annotations

import csv
import hashlib
import io
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, cast

import orjson
from sqlalchemy import DateTime, RowMapping, Select, select, type_coerce
from sqlalchemy.orm import Session, aliased

from cds_service.worklist import store
from cds_service.worklist.models import FlaggedPatient, User
from cds_service.worklist.workflow import STATE_LABELS

TRIAL_ID: Final = "NCT05974683"
TRIAL_REGISTRY: Final = "https://clinicaltrials.gov"
WORKFLOW_SYSTEM: Final = "http://igg4-cds.org/fhir/CodeSystem/worklist-state"
_NS: Final = uuid.UUID("6f1c8f0e-3b7e-4c55-9a52-2f0f3c7a4e11")

# R4 ResearchSubject.status (http://hl7.org/fhir/research-subject-status) for each workflow state.
RESEARCH_SUBJECT_STATUS: Final = {
    "new": "potential-candidate",
    "in-review": "potential-candidate",
    "contacted": "candidate",
    "pre-screened": "screening",
    "referred": "eligible",
    "enrolled": "on-study",
    "declined": "withdrawn",
    "not-eligible": "ineligible",
}
# Task.status of the recruiting task; the workflow state itself is Task.businessStatus.
TASK_STATUS: Final = {
    "new": "requested",
    "in-review": "in-progress",
    "contacted": "in-progress",
    "pre-screened": "in-progress",
    "referred": "in-progress",
    "enrolled": "completed",
    "declined": "completed",
    "not-eligible": "completed",
}

CSV_COLUMNS: Final = (
    "id",
    "patientId",
    "fhirServer",
    "displayName",
    "eligibility",
    "eligibilityChange",
    "asOf",
    "state",
    "assignee",
    "updatedAt",
    "url",
    "mrn",
    "phone",
    "referredBy",
    "referredVia",
    "referredAt",
    "decisionReason",
    "decisionCriterion",
    "decisionNote",
)
DECISION_SYSTEM: Final = "http://igg4-cds.org/fhir/CodeSystem/worklist-decision"

Row = RowMapping  # a row of ``export_rows``: the patient's columns, and ``assignee_name``


def _export_select() -> Select[Any]:
    """The columns the exports write (every one a plain column: no ORM objects are built)."""
    p, assignee = FlaggedPatient, aliased(User)
    stmt = select(
        p.id,
        p.patient_id,
        p.fhir_server,
        p.display_name,
        p.eligibility,
        p.eligibility_change,
        p.change_acknowledged,
        p.as_of,
        p.workflow_state,
        # The plain DateTime type: the model's UTCDateTime wrapper costs more than the rest of a
        # row, and ``_iso``/``_instant`` mark naive values (SQLite's) as UTC just as it does.
        type_coerce(p.created_at, DateTime(timezone=True)).label("created_at"),
        type_coerce(p.updated_at, DateTime(timezone=True)).label("updated_at"),
        assignee.username.label("assignee_name"),
        p.mrn,
        p.phone,
        p.referred_by,
        p.referred_via,
        type_coerce(p.referred_at, DateTime(timezone=True)).label("referred_at"),
        p.decision_reason,
        p.decision_criterion,
        p.decision_note,
    ).outerjoin(assignee, p.assignee_id == assignee.id)
    return cast(Select[Any], stmt)


def export_rows(session: Session, filters: store.ListFilters, me: User | None = None) -> list[Row]:
    """Every patient matching the filters, in the list's order, as plain rows (Core execution:
    the ORM's per-row work is not needed for columns)."""
    stmt = store.matching(_export_select(), filters, me)
    return list(session.connection().execute(stmt).mappings())


_FORMULA_START = frozenset("=+-@\t\r")


def _cell(value: Any) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    # Spreadsheet formula injection: a cell must not start with = + - @ (OWASP).
    return "'" + text if text and text[0] in _FORMULA_START else text


def _iso(moment: datetime | None) -> str | None:
    """As ``serialize`` writes an instant: in UTC, offset ``+00:00`` (naive values are UTC)."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.isoformat() + "+00:00"
    return moment.astimezone(UTC).isoformat()


def _csv_values(row: Row, url: str) -> tuple[Any, ...]:
    """One row's cells, in the order of ``CSV_COLUMNS`` (as ``serialize.patient_summary`` says).
    Text that people or other systems chose goes through ``_cell``; codes, numbers and dates
    cannot start a formula. ``None`` is written as an empty cell."""
    return (
        row["id"],
        _cell(row["patient_id"]),
        _cell(row["fhir_server"]),
        _cell(row["display_name"]),
        row["eligibility"],
        row["eligibility_change"] if not row["change_acknowledged"] else None,
        row["as_of"].isoformat(),
        row["workflow_state"],
        _cell(row["assignee_name"]),
        _iso(row["updated_at"]),
        _cell(url),
        _cell(row["mrn"]),
        _cell(row["phone"]),
        _cell(row["referred_by"]),
        row["referred_via"],
        _iso(row["referred_at"]),
        row["decision_reason"],
        row["decision_criterion"],
        _cell(row["decision_note"]),
    )


def to_csv(rows: Iterable[Row], page_url: str) -> str:
    """``page_url``: the patient page URL with ``{id}`` in place of the row id."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(_csv_values(row, page_url.format(id=row["id"])) for row in rows)
    return buf.getvalue()


_NS_BYTES: Final = _NS.bytes


def _urn(*parts: str) -> str:
    """``urn:uuid:`` + ``uuid.uuid5(_NS, "|".join(parts))``, without the cost of a UUID object."""
    raw = bytearray(hashlib.sha1(_NS_BYTES + "|".join(parts).encode()).digest()[:16])
    raw[6] = (raw[6] & 0x0F) | 0x50  # version 5
    raw[8] = (raw[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"urn:uuid:{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _study() -> dict[str, Any]:
    return {
        "identifier": {"system": TRIAL_REGISTRY, "value": TRIAL_ID},
        "display": f"{TRIAL_ID}: low-dose MMF for IgG4 re-elevation in IgG4-RD",
    }


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _instant(moment: datetime) -> str:
    """A FHIR instant as ``fhir.resources`` writes it (UTC as ``Z``; naive values are UTC)."""
    if moment.tzinfo is None:
        return moment.isoformat() + "Z"
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _entries(row: Row) -> tuple[dict[str, Any], dict[str, Any]]:
    """The patient's ResearchSubject and recruiting Task (keys in the order of the FHIR models)."""
    server, pid, state = row["fhir_server"], row["patient_id"], row["workflow_state"]
    patient_ref = {"reference": f"{server}/Patient/{pid}"}
    if row["display_name"]:
        patient_ref["display"] = row["display_name"]
    subject_url = _urn("ResearchSubject", server, pid)
    label = STATE_LABELS[state]
    subject = {
        "resourceType": "ResearchSubject",
        "id": f"worklist-{row['id']}",
        "status": RESEARCH_SUBJECT_STATUS[state],
        "period": {"start": _utc(row["created_at"]).date().isoformat()},
        "study": _study(),
        "individual": patient_ref,
    }
    task: dict[str, Any] = {
        "resourceType": "Task",
        "id": f"worklist-task-{row['id']}",
        "status": TASK_STATUS[state],
    }
    decision = row["decision_reason"] or row["decision_criterion"]
    if decision:  # why the patient declined, or the criterion that rules them out
        kind = "criterion" if row["decision_criterion"] else "reason"
        task["statusReason"] = {
            "coding": [{"system": DECISION_SYSTEM, "code": decision}],
            "text": f"{label}: {kind} {decision}",
        }
    task |= {
        "businessStatus": {
            "coding": [{"system": WORKFLOW_SYSTEM, "code": state, "display": label}],
            "text": label,
        },
        "intent": "order",
        "code": {"text": f"Recruit for {TRIAL_ID}"},
        "description": f"Trial recruitment ({row['eligibility']}, assessed as of {row['as_of']})",
        "focus": {"reference": subject_url},
        "for": patient_ref,
        "authoredOn": _instant(row["created_at"]),
        "lastModified": _instant(row["updated_at"]),
    }
    if row["assignee_name"]:
        task["owner"] = {"display": row["assignee_name"]}
    if row["decision_note"]:
        task["note"] = [{"text": row["decision_note"]}]
    return (
        {"fullUrl": subject_url, "resource": subject},
        {"fullUrl": _urn("Task", server, pid), "resource": task},
    )


def _shape(row: Row) -> tuple[Any, ...]:
    """What decides which elements the two resources have (every other part is a string value)."""
    decided = bool(row["decision_reason"] or row["decision_criterion"])
    return (
        row["workflow_state"],
        bool(row["display_name"]),
        bool(row["assignee_name"]),
        decided,
        bool(row["decision_note"]),
    )


def _validated(bundle: dict[str, Any]) -> dict[str, Any]:
    from fhir.resources.R4B.bundle import Bundle  # heavy: imported on the first FHIR export

    out: dict[str, Any] = Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)
    return out


def to_fhir_bundle(rows: Iterable[Row], now: datetime | None = None) -> dict[str, Any]:
    """A ``collection`` Bundle: per patient a ResearchSubject and the recruiter's Task.

    The resources of every distinct shape (``_shape``) are validated by the ``fhir.resources``
    models, and must come out of them unchanged; the other patients' resources differ from those
    only in string values, so they are written as built. Should a model ever change what it is
    given, the whole Bundle goes through the models (what they write is what is exported).
    """
    entries: list[dict[str, Any]] = []
    samples: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for row in rows:
        pair = _entries(row)
        entries.extend(pair)
        samples.setdefault(_shape(row), list(pair))
    bundle: dict[str, Any] = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": _instant(now or datetime.now(UTC)),
    }
    sample = {**bundle, "entry": [e for pair in samples.values() for e in pair]}
    if entries:
        bundle["entry"] = entries
    else:
        del sample["entry"]
    if orjson.dumps(_validated(sample)) != orjson.dumps(sample):
        return _validated(bundle)
    return bundle
