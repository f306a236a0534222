"""The store on PostgreSQL: migrations, and concurrent writers on the same patient lose nothing.
Each test session uses its own uniquely named database (created and dropped here)."""

from __future__ import annotations

import itertools
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cds_service.db import make_engine, make_session_factory, upgrade
from cds_service.worklist import accounts, store
from cds_service.worklist.models import AssessmentRecord, FlaggedPatient, Note, User

from .conftest import PASSWORD, SERVER, assessment
from .test_migrations import check_schema

pytestmark = pytest.mark.postgres
PG = os.environ.get("IGG4_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")


def _admin() -> psycopg.Connection[Any]:
    try:
        return psycopg.connect(PG, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable: {type(exc).__name__}")


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    name = f"igg4_worklist_{uuid.uuid4().hex[:12]}"
    with _admin() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    url = f"{base}/{name}"
    try:
        check_schema(url)  # migrations on PostgreSQL: match the models, down and up again
        yield url
    finally:
        with _admin() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def pg_sessions(pg_url: str) -> Iterator[sessionmaker[Session]]:
    upgrade(pg_url)
    engine = make_engine(pg_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="module")
def pg_user_ids(pg_sessions: sessionmaker[Session]) -> dict[str, int]:
    with pg_sessions() as s:
        ids = {
            r: accounts.create_user(s, f"pg-{r}", r, PASSWORD).id
            for r in ("recruiter", "investigator")
        }
        s.commit()
    return ids


def _together(*jobs: Callable[[], None]) -> list[BaseException]:
    """Run the jobs in threads released at the same moment; return what they raised."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], None]) -> None:
        barrier.wait()
        try:
            job()
        except BaseException as exc:  # collected and asserted on by the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def _records(s: Session, pid: str) -> list[AssessmentRecord]:
    return list(
        s.execute(
            select(AssessmentRecord)
            .join(FlaggedPatient)
            .where(FlaggedPatient.patient_id == pid)
            .order_by(AssessmentRecord.id)
        ).scalars()
    )


def test_two_writers_listing_the_same_new_patient(pg_sessions: sessionmaker[Session]) -> None:
    pid = f"race-{uuid.uuid4().hex[:8]}"

    def writer(status: str, as_of: str) -> Callable[[], None]:
        def job() -> None:
            with pg_sessions() as s:
                store.record_assessment(
                    s, fhir_server=SERVER, assessment=assessment(pid, status, as_of), source="hook"
                )

        return job

    for _ in range(5):  # several rounds: different content each time, same patient
        errors = _together(writer("candidate", "2026-11-24"), writer("needs-review", "2026-11-25"))
        assert errors == []
    with pg_sessions() as s:
        rows = s.execute(
            select(func.count(FlaggedPatient.id)).where(FlaggedPatient.patient_id == pid)
        ).scalar_one()
        assert rows == 1
        statuses = [r.status for r in _records(s, pid)]
        # every change of content is kept, and nothing is recorded twice in a row
        assert set(statuses) == {"candidate", "needs-review"}
        assert all(a != b for a, b in itertools.pairwise(statuses))
        p = store.find_patient_row(s, SERVER, pid)
        assert p is not None and (p.eligibility, p.as_of.isoformat()) == (
            "needs-review",
            "2026-11-25",
        )


def test_two_writers_with_the_same_assessment_record_it_once(
    pg_sessions: sessionmaker[Session],
) -> None:
    pid = f"same-{uuid.uuid4().hex[:8]}"
    a = assessment(pid)

    def job() -> None:
        with pg_sessions() as s:
            store.record_assessment(s, fhir_server=SERVER, assessment=a, source="screen")

    assert _together(job, job, job, job) == []
    with pg_sessions() as s:
        assert len(_records(s, pid)) == 1


def test_writers_on_a_listed_patient_record_each_new_content_once(
    pg_sessions: sessionmaker[Session],
) -> None:
    """Without the patient's row lock, two writers both see the old latest record and both
    insert the same new one; with it, the second sees the first's and does nothing."""
    pid = f"listed-{uuid.uuid4().hex[:8]}"
    with pg_sessions() as s:
        store.record_assessment(s, fhir_server=SERVER, assessment=assessment(pid), source="hook")
    rounds = 15
    for i in range(rounds):
        a = assessment(pid, "needs-review" if i % 2 == 0 else "candidate", reason=f"round {i}")

        def job(a: dict[str, Any] = a) -> None:
            with pg_sessions() as s:
                store.record_assessment(s, fhir_server=SERVER, assessment=a, source="screen")

        assert _together(job, job, job, job) == []
    with pg_sessions() as s:
        assert len(_records(s, pid)) == 1 + rounds


def test_assessments_and_recruiter_edits_at_once_lose_nothing(
    pg_sessions: sessionmaker[Session], pg_user_ids: dict[str, int]
) -> None:
    pid = f"mixed-{uuid.uuid4().hex[:8]}"
    with pg_sessions() as s:
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment(pid), source="hook"
        )
    path = ["in-review", "contacted", "pre-screened", "referred"]

    def screen() -> None:
        for i in range(12):
            with pg_sessions() as s:
                status = "needs-review" if i % 2 else "candidate"
                store.record_assessment(
                    s,
                    fhir_server=SERVER,
                    assessment=assessment(pid, status, f"2026-12-{i + 1:02d}", reason=f"run {i}"),
                    source="screen",
                )

    def recruiter() -> None:
        for i, target in enumerate(path):
            with pg_sessions() as s:
                u = s.get(User, pg_user_ids["recruiter"])
                assert u is not None
                store.add_note(s, row, u, f"note {i}")
                store.change_state(s, row, target, u, store.get_patient(s, row).version)

    assert _together(screen, recruiter) == []
    with pg_sessions() as s:
        p = store.get_patient(s, row)
        assert p.workflow_state == "referred" and p.version == 1 + len(path)
        notes = s.execute(select(Note.body).where(Note.patient_row_id == row)).scalars()
        assert sorted(notes) == [f"note {i}" for i in range(len(path))]
        assert len(_records(s, pid)) == 1 + 12
        assert p.eligibility == "needs-review" and p.as_of.isoformat() == "2026-12-12"


def test_two_recruiters_changing_the_same_version_one_wins(
    pg_sessions: sessionmaker[Session], pg_user_ids: dict[str, int]
) -> None:
    pid = f"edit-{uuid.uuid4().hex[:8]}"
    with pg_sessions() as s:
        row = store.record_assessment(
            s, fhir_server=SERVER, assessment=assessment(pid), source="hook"
        )
        version = store.get_patient(s, row).version
    outcomes: list[str] = []

    def move(target: str) -> Callable[[], None]:
        def job() -> None:
            with pg_sessions() as s:
                u = s.get(User, pg_user_ids["recruiter"])
                assert u is not None
                try:
                    reason = "not-interested" if target == "declined" else None
                    store.change_state(s, row, target, u, version, reason=reason)
                    outcomes.append(target)
                except store.Conflict:
                    outcomes.append("conflict")

        return job

    assert _together(move("in-review"), move("declined")) == []
    assert sorted(outcomes).count("conflict") == 1
    winner = next(o for o in outcomes if o != "conflict")
    with pg_sessions() as s:
        p = store.get_patient(s, row)
        assert (p.workflow_state, p.version) == (winner, version + 1)
        assert [e.detail["to"] for e in store.audit_of(s, row) if e.action == "state"] == [winner]
