"""Reads and writes of the worklist. Every change is audited; nothing here logs patient data.

Concurrency: ``record_assessment`` locks the patient's row (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite serialises writers), and recruiter edits (state, assignee) are conditional
updates on the row's ``version``, so that two writers never silently overwrite each other.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any, TypeVar

import orjson
from flask_babel import lazy_gettext as _l
from sqlalchemy import ColumnElement, Select, and_, case, func, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, joinedload

from cds_service.db import utc
from cds_service.fhir_url import FhirUrlError, server_key
from cds_service.worklist.models import (
    AssessmentRecord,
    AuditEvent,
    FlaggedPatient,
    Note,
    Referral,
    User,
    utcnow,
)
from cds_service.worklist.rowfacts import reelevated_on, row_facts
from cds_service.worklist.workflow import check_decision, check_transition, eligibility_change
from fhir_mappings.summary import EvidenceItem, PatientSummary

ELIGIBILITY = ("candidate", "needs-review", "ineligible")
SOURCES = ("hook", "screen", "manual", "demo")
MAX_NOTE_CHARS = 5000


class NotFound(LookupError):
    """No such patient on the worklist (HTTP 404)."""


class Conflict(RuntimeError):
    """Someone changed the patient since the user loaded it (HTTP 409)."""


# --- assessments ------------------------------------------------------------------------------


def content_hash(assessment: dict[str, Any]) -> str:
    """Hash of what an assessment says; the as-of date is left out so that a daily screen that
    finds nothing new does not grow the history (it extends the record's ``last_as_of``)."""
    content = {k: assessment.get(k) for k in ("status", "criteria", "igg4", "dataIssues")}
    content["parameters"] = assessment.get("parameters") or {}
    return hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()


def patient_id_of(assessment: dict[str, Any]) -> str:
    ref = str(assessment.get("patient") or "")
    pid = ref.rsplit("/", 1)[-1] if ref.startswith("Patient/") or "/" in ref else ref
    if not pid:
        raise ValueError("assessment has no patient reference")
    return pid


def _validate(assessment: dict[str, Any], source: str) -> tuple[str, date]:
    status = assessment.get("status")
    if status not in ELIGIBILITY:
        raise ValueError(f"assessment status must be one of {ELIGIBILITY}")
    if source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}")
    return str(status), date.fromisoformat(str(assessment.get("asOf")))


def _contact_values(summary: PatientSummary) -> dict[str, Any]:
    return {
        "birth_date": summary.birth_date,
        "gender": summary.gender,
        "mrn": summary.mrn,
        "phone": summary.phone,
        "general_practitioner": summary.general_practitioner,
    }


def _evidence(handoff: dict[str, Any] | None) -> dict[str, Any] | None:
    raw = (handoff or {}).get("evidence")
    if not isinstance(raw, dict):
        return None
    out: dict[str, Any] = {}
    for ref, item in raw.items():
        parsed = EvidenceItem.from_dict(item)
        if isinstance(ref, str) and len(ref) <= 200 and parsed is not None:
            out[ref] = parsed.to_dict()
    return out


def _insert_patient_row(
    session: Session,
    fhir_server: str,
    pid: str,
    status: str,
    as_of: date,
    name: str | None,
    extra: dict[str, Any],
) -> int | None:
    """Insert the patient's row unless it exists; return the new id, or None if it existed."""
    now = utcnow()
    values = {
        "fhir_server": fhir_server,
        "patient_id": pid,
        "display_name": name,
        "eligibility": status,
        "as_of": as_of,
        "last_assessed_at": now,
        "workflow_state": "new",
        "version": 1,
        "change_acknowledged": True,
        "created_at": now,
        "updated_at": now,
        **extra,
    }
    dialect = session.get_bind().dialect.name
    if dialect in ("postgresql", "sqlite"):
        mod = postgresql if dialect == "postgresql" else sqlite
        stmt = (
            mod.insert(FlaggedPatient)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["fhir_server", "patient_id"])
            .returning(FlaggedPatient.id)
        )
        return session.execute(stmt).scalar_one_or_none()
    try:  # other databases: a savepoint keeps the caller's transaction usable
        with session.begin_nested():
            return session.execute(
                insert(FlaggedPatient).values(**values).returning(FlaggedPatient.id)
            ).scalar_one()
    except IntegrityError:
        return None


T = TypeVar("T")


def without_nul(value: T) -> T:
    """``value`` with every NUL in its strings replaced by U+FFFD (shown, never stored raw)."""
    try:  # JSON writes a NUL as \u0000: one scan in C where the walk takes milliseconds
        if b"\\u0000" not in orjson.dumps(value):
            return value
    except (TypeError, orjson.JSONEncodeError):
        pass  # not plain JSON: walked
    return _replace_nul(value)


def _replace_nul(value: T) -> T:
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value  # type: ignore[return-value]
    if isinstance(value, dict):
        return {_replace_nul(k): _replace_nul(v) for k, v in value.items()}  # type: ignore[return-value]
    if isinstance(value, list):
        return [_replace_nul(v) for v in value]  # type: ignore[return-value]
    if isinstance(value, tuple):
        return tuple(_replace_nul(v) for v in value)  # type: ignore[return-value]
    return value


def record_assessment(
    session: Session,
    *,
    fhir_server: str,
    assessment: dict[str, Any],
    source: str,
    display_name: str | None = None,
    handoff: dict[str, Any] | None = None,
    commit: bool = True,
) -> int:
    """Record an assessment (``Assessment.to_dict()``) of one patient; return the patient's row id.

    ``handoff`` is what travels with the assessment (``fhir_mappings.summary.handoff``): the
    patient's contact summary, which replaces the row's when present, and the description of
    each cited resource, kept with the assessment.

    Idempotent: the same content again adds nothing (a later as-of date only extends the last
    record's ``last_as_of``). Never touches the recruiter's state, assignee or notes. A change of
    eligibility is marked on the patient ("newly-candidate", "no-longer-eligible", ...) for the
    list to show. Commits unless ``commit=False`` (then the caller commits, and holds the
    patient's row lock until it does).
    """
    status, as_of = _validate(assessment, source)
    # text from FHIR data: PostgreSQL cannot store a NUL (SQLite would keep it silently)
    assessment, display_name, handoff = without_nul((assessment, display_name, handoff))
    pid = patient_id_of(assessment)
    server = server_key(fhir_server)  # one spelling per server (FhirUrlError, a ValueError)
    summary = None
    if isinstance((handoff or {}).get("patient"), dict):
        summary = PatientSummary.from_dict((handoff or {})["patient"])
        display_name = summary.name or display_name
    evidence = _evidence(handoff)
    facts = row_facts(assessment)
    since = reelevated_on(assessment.get("igg4"))
    first: dict[str, Any] = {"facts": facts, "reelevated_on": since}
    if summary is not None:
        first.update(_contact_values(summary))
    new_id = _insert_patient_row(session, server, pid, status, as_of, display_name, first)
    patient = session.execute(
        select(FlaggedPatient)
        .where(FlaggedPatient.fhir_server == server, FlaggedPatient.patient_id == pid)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).scalar_one()
    digest = content_hash(assessment)
    latest = session.execute(
        select(AssessmentRecord)
        .where(AssessmentRecord.patient_row_id == patient.id)
        .order_by(AssessmentRecord.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    now = utcnow()
    if display_name and display_name != patient.display_name:
        patient.display_name = display_name
    if summary is not None:
        for key, value in _contact_values(summary).items():
            if getattr(patient, key) != value:
                setattr(patient, key, value)
    if latest is not None and latest.content_hash == digest:
        if as_of > latest.last_as_of:
            latest.last_as_of = as_of
        if as_of > patient.as_of:
            patient.as_of = as_of
            patient.last_assessed_at = now
        if evidence and not latest.evidence:
            latest.evidence = evidence
        if patient.facts is None:
            patient.facts, patient.reelevated_on = facts, since
    else:
        session.add(
            AssessmentRecord(
                patient_row_id=patient.id,
                status=status,
                as_of=as_of,
                last_as_of=as_of,
                source=source,
                content_hash=digest,
                criteria=list(assessment.get("criteria") or []),
                igg4=dict(assessment.get("igg4") or {}),
                data_issues=[str(i) for i in assessment.get("dataIssues") or []],
                parameters=dict(assessment.get("parameters") or {}),
                recorded_at=now,
                evidence=evidence,
            )
        )
        change = None
        if new_id is None and as_of >= patient.as_of:  # an older as-of only adds history
            change = eligibility_change(patient.eligibility, status)
            if change:
                patient.previous_eligibility = patient.eligibility
                patient.eligibility_change = change
                patient.eligibility_changed_at = now
                patient.change_acknowledged = False
            patient.eligibility = status
            patient.as_of = as_of
            patient.last_assessed_at = now
            patient.facts, patient.reelevated_on = facts, since
        patient.updated_at = now
        _audit(
            session,
            None,
            "listed" if new_id is not None else "assessed",
            patient.id,
            {"status": status, "asOf": as_of.isoformat(), "source": source, "change": change},
            actor=f"system:{source}",
        )
    if new_id is not None:
        _apply_pending_referrals(session, patient)
    session.flush()
    row_id = patient.id
    if commit:
        session.commit()
    return row_id


FLAGGED_STATUSES = frozenset({"candidate", "needs-review"})


def record_if_relevant(
    session: Session,
    *,
    fhir_server: str,
    assessment: dict[str, Any],
    source: str,
    display_name: str | None = None,
    handoff: dict[str, Any] | None = None,
    commit: bool = True,
) -> int | None:
    """Record candidates and needs-review patients, and any new assessment of a patient already
    listed (so that "no longer eligible" shows); skip other ineligible patients. The row id, or
    None when skipped. For callers that see whole populations (the hook, the screen)."""
    if assessment.get("status") not in FLAGGED_STATUSES:
        listed = find_patient_row(session, fhir_server, patient_id_of(assessment))
        if listed is None:
            return None
    return record_assessment(
        session,
        fhir_server=fhir_server,
        assessment=assessment,
        source=source,
        display_name=display_name,
        handoff=handoff,
        commit=commit,
    )


def find_patient_row(session: Session, fhir_server: str, patient_id: str) -> FlaggedPatient | None:
    try:
        server = server_key(fhir_server)
    except FhirUrlError:
        return None
    return session.execute(
        select(FlaggedPatient).where(
            FlaggedPatient.fhir_server == server,
            FlaggedPatient.patient_id == patient_id,
        )
    ).scalar_one_or_none()


def assessments_of(session: Session, row_id: int) -> list[AssessmentRecord]:
    """The patient's assessment history, newest first."""
    return list(
        session.execute(
            select(AssessmentRecord)
            .where(AssessmentRecord.patient_row_id == row_id)
            .order_by(AssessmentRecord.as_of.desc(), AssessmentRecord.id.desc())
        ).scalars()
    )


def current_assessment(session: Session, row_id: int) -> AssessmentRecord | None:
    history = assessments_of(session, row_id)
    return history[0] if history else None


# --- clinicians' referrals --------------------------------------------------------------------

REFERRAL_VIAS = ("cds-card", "smart-app")
# While the recruiter has not yet contacted the patient, a clinician's referral puts the row near
# the top of the list (after the newly candidate ones).
REFERRAL_OPEN_STATES = ("new", "in-review")


def record_referral(
    session: Session,
    *,
    fhir_server: str,
    patient_id: str,
    by: str,
    via: str,
    at: datetime | None = None,
    detail: dict[str, Any] | None = None,
    commit: bool = True,
) -> int | None:
    """A clinician referred the patient to the study team: mark the worklist row (who, when, how)
    and audit it. Kept even when the patient is not listed yet, and applied when the row is
    created. The row id, or None when the patient is not (yet) listed. Never touches the
    recruiter's workflow state."""
    if via not in REFERRAL_VIAS:
        raise ValueError(f"via must be one of {REFERRAL_VIAS}")
    server = server_key(fhir_server)
    referral = Referral(
        fhir_server=server,
        patient_id=patient_id[:64],
        at=at or utcnow(),
        by=(by.strip() or "a clinician")[:200],
        via=via,
        detail=detail or {},
    )
    session.add(referral)
    patient = session.execute(
        select(FlaggedPatient)
        .where(FlaggedPatient.fhir_server == server, FlaggedPatient.patient_id == patient_id)
        .with_for_update()
    ).scalar_one_or_none()
    row_id = None
    if patient is not None:
        _apply_referral(session, patient, referral)
        row_id = patient.id
    session.flush()
    if commit:
        session.commit()
    return row_id


def _apply_referral(session: Session, patient: FlaggedPatient, referral: Referral) -> None:
    referral.patient_row_id = patient.id
    if patient.referred_at is None or utc(referral.at) >= utc(patient.referred_at):
        patient.referred_at = referral.at
        patient.referred_by = referral.by
        patient.referred_via = referral.via
    patient.updated_at = utcnow()
    _audit(
        session,
        None,
        "referred",
        patient.id,
        {"by": referral.by, "via": referral.via, **referral.detail},
        actor=f"clinician:{referral.via}",
        at=referral.at,
    )


def _apply_pending_referrals(session: Session, patient: FlaggedPatient) -> None:
    pending = session.execute(
        select(Referral)
        .where(
            Referral.fhir_server == patient.fhir_server,
            Referral.patient_id == patient.patient_id,
            Referral.patient_row_id.is_(None),
        )
        .order_by(Referral.at, Referral.id)
    ).scalars()
    for referral in pending:
        _apply_referral(session, patient, referral)


# --- recruiter actions ------------------------------------------------------------------------


def get_patient(session: Session, row_id: int) -> FlaggedPatient:
    patient = session.get(FlaggedPatient, row_id, options=[joinedload(FlaggedPatient.assignee)])
    if patient is None:
        raise NotFound(row_id)
    return patient


def _conditional_update(
    session: Session, patient: FlaggedPatient, expected_version: int | None, **values: Any
) -> None:
    version = patient.version if expected_version is None else expected_version
    if version != patient.version:
        raise Conflict(_l("the patient was changed by someone else; reload and try again"))
    result = session.execute(
        update(FlaggedPatient)
        .where(FlaggedPatient.id == patient.id, FlaggedPatient.version == version)
        .values(version=version + 1, updated_at=utcnow(), **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise Conflict(_l("the patient was changed by someone else; reload and try again"))
    session.expire(patient)  # the UPDATE bypassed the ORM: reload on next access


def change_state(
    session: Session,
    row_id: int,
    target: str,
    user: User,
    expected_version: int | None = None,
    *,
    reason: str | None = None,
    criterion: str | None = None,
    note: str | None = None,
) -> FlaggedPatient:
    """Move the patient to ``target`` if the workflow and the user's role allow it; commits.

    A decision carries its reason: ``declined`` a ``reason`` (``workflow.DECLINE_REASONS``, with
    a ``note`` when it is "other"), ``not-eligible`` the ``criterion`` that rules the patient out;
    both kept on the row (for exports) and in the audit trail. Reopening clears them."""
    patient = get_patient(session, row_id)
    source = patient.workflow_state
    check_transition(source, target, user.role)
    decision = check_decision(target, reason, criterion, note)
    _conditional_update(
        session,
        patient,
        expected_version,
        workflow_state=target,
        decision_reason=decision.reason,
        decision_criterion=decision.criterion,
        decision_note=decision.note,
    )
    detail: dict[str, Any] = {"from": source, "to": target}
    detail.update(decision.to_dict())
    _audit(session, user, "state", row_id, detail)
    session.commit()
    return get_patient(session, row_id)


def assign(
    session: Session,
    row_id: int,
    assignee: User | None,
    user: User,
    expected_version: int | None = None,
) -> FlaggedPatient:
    patient = get_patient(session, row_id)
    before = patient.assignee.username if patient.assignee else None
    _conditional_update(
        session, patient, expected_version, assignee_id=assignee.id if assignee else None
    )
    after = assignee.username if assignee else None
    _audit(session, user, "assign", row_id, {"from": before, "to": after})
    session.commit()
    return get_patient(session, row_id)


def acknowledge_change(session: Session, row_id: int, user: User) -> None:
    patient = get_patient(session, row_id)
    if patient.change_acknowledged:
        return
    session.execute(
        update(FlaggedPatient)
        .where(FlaggedPatient.id == row_id)
        .values(change_acknowledged=True)
        .execution_options(synchronize_session=False)
    )
    session.expire(patient)
    _audit(session, user, "acknowledge", row_id, {"change": patient.eligibility_change})
    session.commit()


def add_note(session: Session, row_id: int, user: User, body: str) -> Note:
    text = body.strip()
    if not text:
        raise ValueError(_l("the note is empty"))
    if len(text) > MAX_NOTE_CHARS:
        raise ValueError(_l("a note has at most %(count)d characters", count=MAX_NOTE_CHARS))
    patient = get_patient(session, row_id)
    note = Note(patient_row_id=row_id, author_id=user.id, body=text, created_at=utcnow())
    session.add(note)
    session.execute(
        update(FlaggedPatient)
        .where(FlaggedPatient.id == row_id)
        .values(updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    session.flush()
    session.expire(patient, ["updated_at"])
    _audit(session, user, "note", row_id, {"note": note.id})
    session.commit()
    return note


def notes_of(session: Session, row_id: int) -> list[Note]:
    return list(
        session.execute(
            select(Note)
            .options(joinedload(Note.author))
            .where(Note.patient_row_id == row_id)
            .order_by(Note.created_at.desc(), Note.id.desc())
        ).scalars()
    )


# --- audit ------------------------------------------------------------------------------------


def _audit(
    session: Session,
    user: User | None,
    action: str,
    row_id: int | None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
    at: datetime | None = None,
) -> None:
    session.add(
        AuditEvent(
            at=at or utcnow(),
            user_id=user.id if user else None,
            actor=actor or (user.username if user else "system"),
            action=action,
            patient_row_id=row_id,
            detail=detail or {},
        )
    )


def audit(
    session: Session,
    user: User | None,
    action: str,
    row_id: int | None = None,
    detail: dict[str, Any] | None = None,
    *,
    actor: str | None = None,
) -> None:
    """Record a view or an action in the audit trail and commit."""
    _audit(session, user, action, row_id, detail, actor=actor)
    session.commit()


# Reading a patient is recorded like any change, but a reviewer reads the changes first.
VIEW_ACTIONS = ("view", "view-history")


def audit_of(
    session: Session, row_id: int, limit: int = 200, *, views: bool | None = None
) -> list[AuditEvent]:
    """The patient's audit trail, newest first: everything (``views=None``), only the changes
    and notes (``False``), or only the page views (``True``)."""
    stmt = select(AuditEvent).where(AuditEvent.patient_row_id == row_id)
    if views is True:
        stmt = stmt.where(AuditEvent.action.in_(VIEW_ACTIONS))
    elif views is False:
        stmt = stmt.where(AuditEvent.action.not_in(VIEW_ACTIONS))
    return list(
        session.execute(
            stmt.order_by(AuditEvent.at.desc(), AuditEvent.id.desc()).limit(limit)
        ).scalars()
    )


def count_views(session: Session, row_id: int) -> int:
    return int(
        session.execute(
            select(func.count(AuditEvent.id)).where(
                AuditEvent.patient_row_id == row_id, AuditEvent.action.in_(VIEW_ACTIONS)
            )
        ).scalar_one()
    )


# --- the list ---------------------------------------------------------------------------------


def priority() -> ColumnElement[int]:
    """What to do first: 0 newly candidate (not yet seen), 1 referred by a clinician (not yet
    contacted), 2 candidate, 3 needs-review, 4 ineligible."""
    return case(
        (
            and_(
                FlaggedPatient.eligibility == "candidate",
                FlaggedPatient.eligibility_change == "newly-candidate",
                FlaggedPatient.change_acknowledged.is_(False),
            ),
            0,
        ),
        (
            and_(
                FlaggedPatient.referred_at.is_not(None),
                FlaggedPatient.workflow_state.in_(REFERRAL_OPEN_STATES),
            ),
            1,
        ),
        (FlaggedPatient.eligibility == "candidate", 2),
        (FlaggedPatient.eligibility == "needs-review", 3),
        else_=4,
    )


SORTS: dict[str, Any] = {
    "eligibility": priority(),  # what to do first, then the most recent re-elevation
    "updated": FlaggedPatient.updated_at,
    "name": FlaggedPatient.display_name,
    "patient": FlaggedPatient.patient_id,
    "state": FlaggedPatient.workflow_state,
    "asof": FlaggedPatient.as_of,
    "changed": FlaggedPatient.eligibility_changed_at,
    "reelevated": FlaggedPatient.reelevated_on,
}
# The direction of a first click on a column: names A to Z, what to do first, newest dates first.
ASCENDING_FIRST = frozenset({"eligibility", "name", "patient", "state"})
DEFAULT_SORT = "eligibility"
MAX_PER_PAGE = 200


@dataclass(frozen=True)
class ListFilters:
    eligibility: tuple[str, ...] = ()
    state: tuple[str, ...] = ()
    assignee: str | None = None  # a username, "me" or "none"
    changed_since: date | None = None
    q: str | None = None
    sort: str = DEFAULT_SORT
    desc: bool = False
    page: int = 1
    per_page: int = 25


@dataclass
class Page:
    items: list[FlaggedPatient]
    total: int
    page: int
    per_page: int
    filters: ListFilters = field(default_factory=ListFilters)

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def _filtered(stmt: Select[Any], f: ListFilters, me: User | None) -> Select[Any]:
    if f.eligibility:
        stmt = stmt.where(FlaggedPatient.eligibility.in_(f.eligibility))
    if f.state:
        stmt = stmt.where(FlaggedPatient.workflow_state.in_(f.state))
    if f.assignee == "none":
        stmt = stmt.where(FlaggedPatient.assignee_id.is_(None))
    elif f.assignee == "me":
        stmt = stmt.where(FlaggedPatient.assignee_id == (me.id if me else -1))
    elif f.assignee:
        named = select(User.id).where(User.username == f.assignee).scalar_subquery()
        stmt = stmt.where(FlaggedPatient.assignee_id == named)
    if f.changed_since:
        since = datetime.combine(f.changed_since, time.min, tzinfo=UTC)
        stmt = stmt.where(FlaggedPatient.updated_at >= since)
    if f.q:
        q = f.q.strip().lower()
        stmt = stmt.where(
            or_(
                func.lower(FlaggedPatient.display_name).contains(q, autoescape=True),
                func.lower(FlaggedPatient.patient_id).contains(q, autoescape=True),
                func.lower(FlaggedPatient.mrn).contains(q, autoescape=True),
            )
        )
    return stmt


def _ordered(stmt: Select[Any], f: ListFilters) -> Select[Any]:
    column = SORTS.get(f.sort, SORTS[DEFAULT_SORT])
    if f.sort == "eligibility":  # within each group, the most recent re-elevation first
        if f.desc:
            return stmt.order_by(
                column.desc(),
                FlaggedPatient.reelevated_on.asc().nulls_first(),
                FlaggedPatient.id.asc(),
            )
        return stmt.order_by(
            column.asc(), FlaggedPatient.reelevated_on.desc().nulls_last(), FlaggedPatient.id.desc()
        )
    if f.desc:
        return stmt.order_by(column.desc().nulls_last(), FlaggedPatient.id.desc())
    return stmt.order_by(column.asc().nulls_last(), FlaggedPatient.id.asc())


def _patients(f: ListFilters, me: User | None) -> Select[Any]:
    stmt = select(FlaggedPatient).options(joinedload(FlaggedPatient.assignee))
    return _ordered(_filtered(stmt, f, me), f)


def matching(stmt: Select[Any], f: ListFilters, me: User | None = None) -> Select[Any]:
    """``stmt`` (a select over the patients' table) narrowed by the filters, in the list's order."""
    return _ordered(_filtered(stmt, f, me), f)


def list_patients(session: Session, f: ListFilters, me: User | None = None) -> Page:
    per_page = min(max(f.per_page, 1), MAX_PER_PAGE)
    page = max(f.page, 1)
    total = session.execute(_filtered(select(func.count(FlaggedPatient.id)), f, me)).scalar_one()
    stmt = _patients(f, me).offset((page - 1) * per_page).limit(per_page)
    items = list(session.execute(stmt).scalars())
    return Page(items=items, total=total, page=page, per_page=per_page, filters=f)


def all_matching(session: Session, f: ListFilters, me: User | None = None) -> list[FlaggedPatient]:
    """Every patient matching the filters (for exports), in the list's order."""
    return list(session.execute(_patients(f, me)).scalars())


def users_by_name(session: Session) -> list[User]:
    return list(
        session.execute(select(User).where(User.active.is_(True)).order_by(User.username)).scalars()
    )
