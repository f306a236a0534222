"""Benchmark of the recruiter worklist (issue 4): prints figures, asserts nothing.

    python benchmarks/worklist_bench.py [--patients N] [--postgres URL]

Fills a fresh database with N flagged patients through ``store.record_assessment`` (the path of
the hook and the screen), records them all again (the idempotent path), then times the pages a
recruiter uses through the Flask app: the list (first page, a search, a filter), a patient page
with its SVG chart, and the CSV and FHIR exports of the whole list. SQLite by default; with
``--postgres postgresql://postgres@127.0.0.1:5432/test`` a scratch database is created there
and dropped afterwards.
"""

from __future__ import annotations

import argparse
import csv
import io
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from cds_service.app import create_app
from cds_service.worklist import accounts, store
from cds_service.worklist.db import session_factory

SERVER = "https://fhir.bench.invalid/r4"
STATUSES = ("candidate", "needs-review", "ineligible")


def assessment(i: int, as_of: date) -> dict[str, Any]:
    start = date(2022, 1, 1)
    series = [
        {
            "date": (start + timedelta(days=60 * k)).isoformat(),
            "value": 4000 - 150 * k if k < 20 else 1100 + 40 * k,
            "ref": f"Observation/b{i}-{k}",
        }
        for k in range(28)
    ]
    return {
        "trial": "NCT05974683",
        "patient": f"Patient/bench-{i}",
        "asOf": as_of.isoformat(),
        "status": STATUSES[i % 3],
        "criteria": [
            {
                "id": c,
                "type": "inclusion" if c[0] == "I" else "exclusion",
                "title": c,
                "status": "met",
                "reason": f"reason of {c} for patient {i}",
                "evidence": [f"Observation/b{i}-{c}"],
            }
            for c in [f"I{n}" for n in range(1, 8)] + [f"E{n}" for n in range(1, 12)]
        ],
        "igg4": {
            "unit": "mg/L",
            "series": series,
            "baseline": series[0],
            "nadir": series[19],
            "current": series[-1],
            "treatmentStart": "2022-02-01",
            "threshold": 1200.0,
            "inclusionThreshold": 1400,
            "rule": "fraction-of-baseline",
        },
        "dataIssues": [],
        "parameters": {},
    }


@contextmanager
def database(postgres: str | None) -> Iterator[str]:
    if postgres is None:
        with tempfile.TemporaryDirectory() as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    import psycopg

    name = f"igg4_worklist_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(postgres, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        base = postgres.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def timed(label: str, fn: Callable[[], Any], repeat: int = 5) -> None:
    runs = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - t0)
    print(
        f"  {label:<50} median {statistics.median(runs) * 1000:8.1f} ms"
        f"   (min {min(runs) * 1000:.1f}, {repeat} runs)"
    )


def csv_floor(url: str) -> Callable[[], Any]:
    """The floor of the CSV export: one plain SQL join of the same columns through ``csv.writer``
    (DB-API cursor, no ORM, no per-cell work)."""
    from sqlalchemy import create_engine

    engine = create_engine(url)
    sql = (
        "SELECT p.id, p.patient_id, p.fhir_server, p.display_name, p.eligibility, "
        "p.eligibility_change, p.as_of, p.workflow_state, u.username, p.updated_at "
        "FROM worklist_patients p LEFT JOIN worklist_users u ON u.id = p.assignee_id "
        "ORDER BY p.updated_at DESC, p.id DESC"
    )

    def call() -> None:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(sql)
            buf = io.StringIO()
            csv.writer(buf).writerows(cursor.fetchall())
        finally:
            raw.close()

    return call


def interleaved(calls: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Each call once per round, rounds interleaved (a busy machine slows all alike); medians."""
    runs: dict[str, list[float]] = {label: [] for label in calls}
    for _ in range(rounds):
        for label, fn in calls.items():
            t0 = time.perf_counter()
            fn()
            runs[label].append(time.perf_counter() - t0)
    medians = {label: statistics.median(r) for label, r in runs.items()}
    for label, r in runs.items():
        print(
            f"  {label:<50} median {medians[label] * 1000:8.1f} ms"
            f"   (min {min(r) * 1000:.1f}, {rounds} runs)"
        )
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=5000)
    parser.add_argument(
        "--postgres", default=None, help="admin URL, e.g. postgresql://...:5432/test"
    )
    parser.add_argument("--json", action="store_true", help="also print the export figures")
    args = parser.parse_args()
    n = args.patients
    with database(args.postgres) as url:
        app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench" * 8, "JWT_VERIFY": False})
        sessions = session_factory(app)
        print(f"worklist benchmark: {n} patients on {url.split(':', 1)[0]}")
        as_of = date(2026, 11, 24)
        with sessions() as s:
            u = accounts.create_user(s, "bench", "investigator", "bench password 1")
            token = accounts.create_api_token(s, u)
            s.commit()
            t0 = time.perf_counter()
            for i in range(n):
                store.record_assessment(
                    s,
                    fhir_server=SERVER,
                    assessment=assessment(i, as_of),
                    source="screen",
                    display_name=f"Bench Patient {i:05d}",
                )
            first = time.perf_counter() - t0
            t0 = time.perf_counter()
            for i in range(n):
                store.record_assessment(
                    s, fhir_server=SERVER, assessment=assessment(i, as_of), source="screen"
                )
            again = time.perf_counter() - t0
        print(
            f"  {'record_assessment, new patients':<50} {n / first:8.0f} /s"
            f"   ({first * 1000 / n:.2f} ms each, one commit each)"
        )
        print(
            f"  {'record_assessment, same again (idempotent)':<50} {n / again:8.0f} /s"
            f"   ({again * 1000 / n:.2f} ms each)"
        )
        client = app.test_client()
        auth = {"Authorization": f"Bearer {token}"}
        with sessions() as s:
            row = store.find_patient_row(s, SERVER, "bench-7")
            assert row is not None
            row_id = row.id

        def get(path: str) -> Callable[[], Any]:
            def call() -> None:
                response = client.get(path, headers=auth)
                assert response.status_code == 200, (path, response.status_code)

            return call

        timed("GET /worklist/ (first page of 25)", get("/worklist/"))
        timed("GET /worklist/?q=patient 0421 (search)", get("/worklist/?q=patient%200421"))
        timed(
            "GET /worklist/?eligibility=candidate&sort=name",
            get("/worklist/?eligibility=candidate&sort=name&page=40"),
        )
        timed("GET /api/patients?per_page=200", get("/api/patients?per_page=200"))
        timed(
            "GET /worklist/patients/<id> (chart, 28 results)", get(f"/worklist/patients/{row_id}")
        )
        floor = csv_floor(url)
        export = get("/worklist/export.csv")
        fhir = get("/worklist/export.fhir.json")
        medians = interleaved(
            {
                f"GET /worklist/export.csv ({n} rows)": export,
                f"  floor: SQL join through csv.writer ({n} rows)": floor,
                f"GET /worklist/export.fhir.json ({2 * n} resources)": fhir,
            },
            rounds=7,
        )
        if args.json:
            import json

            print(
                json.dumps(
                    {
                        "csv": medians[f"GET /worklist/export.csv ({n} rows)"],
                        "csv_floor": medians[f"  floor: SQL join through csv.writer ({n} rows)"],
                        "fhir": medians[f"GET /worklist/export.fhir.json ({2 * n} resources)"],
                    }
                )
            )


if __name__ == "__main__":
    main()
