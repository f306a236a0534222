"""Summary and attrition, report files, CSV output, the worklist sink, progress."""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from sqlalchemy import func, select

from cds_service.cli import cli
from cds_service.screening.model import PatientResult
from cds_service.screening.output import CRITERIA_IDS, CSV_COLUMNS
from cds_service.screening.progress import Progress
from cds_service.screening.summary import Summary

from .conftest import AS_OF, Population


def _assessment(ref: str, status: str, failing: dict[str, str]) -> dict[str, Any]:
    criteria = []
    for cid in CRITERIA_IDS:
        kind = "inclusion" if cid.startswith("I") else "exclusion"
        default = "met" if kind == "inclusion" else "not-met"
        criteria.append(
            {
                "id": cid,
                "type": kind,
                "title": f"title {cid}",
                "status": failing.get(cid, default),
                "reason": "",
                "evidence": [],
            }
        )
    return {
        "patient": ref,
        "status": status,
        "asOf": "2026-11-24",
        "criteria": criteria,
        "igg4": {},
        "dataIssues": [],
    }


def test_attrition_counts_each_rule_and_the_funnel() -> None:
    s = Summary()
    s.add(
        [
            PatientResult("Patient/1", _assessment("Patient/1", "candidate", {})),
            PatientResult(
                "Patient/2", _assessment("Patient/2", "ineligible", {"I2": "not-met", "E4": "met"})
            ),
            PatientResult("Patient/3", _assessment("Patient/3", "ineligible", {"E4": "met"})),
            PatientResult(
                "Patient/4", _assessment("Patient/4", "needs-review", {"E11": "unknown"})
            ),
            PatientResult("Patient/5", None, "no Patient resource"),
        ]
    )
    rows = {r["id"]: r for r in s.attrition()}
    assert s.assessed == 4 and s.errors["no Patient resource"] == 1
    assert rows["I2"]["ruledOut"] == 1 and rows["I2"]["remaining"] == 3
    assert rows["E4"]["ruledOut"] == 2 and rows["E4"]["firstRuledOut"] == 1
    assert rows["E11"]["remaining"] == 2 and rows["E11"]["unknown"] == 1
    text = s.render()
    assert "candidate 1, needs-review 1, ineligible 2" in text
    assert "not assessed 1" in text


def test_cli_screen_csv_report_and_worklist(population: Population, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'worklist.db'}"
    out = tmp_path / "results.csv"
    result = CliRunner().invoke(
        cli,
        [
            "screen",
            "--bulk",
            str(population.root),
            "--as-of",
            AS_OF.isoformat(),
            "--out",
            str(out),
            "--db",
            db,
            "--report",
            str(tmp_path / "report"),
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(out.read_text())))
    assert tuple(rows[0]) == CSV_COLUMNS
    statuses = {r[0]: r[1] for r in rows[1:]}
    selected = {p: t[1] for p, t in population.truth.items() if t[1] != "not-screened"}
    assert statuses == selected
    svg = ET.parse(tmp_path / "report" / "attrition.svg").getroot()
    assert svg.tag.endswith("svg")
    labels = [t.text for t in svg.iter() if t.tag.endswith("text")]
    assert any(label and label.startswith("I5 ") for label in labels)
    # The worklist lists the screen's candidates and needs-review patients (not the ineligible).
    from cds_service.db import make_engine, make_session_factory
    from cds_service.worklist.models import FlaggedPatient

    sessions = make_session_factory(make_engine(db))
    with sessions() as session:
        n = session.execute(select(func.count()).select_from(FlaggedPatient)).scalar_one()
        names = session.execute(select(FlaggedPatient.display_name)).scalars().all()
    flagged = [p for p, status in selected.items() if status in ("candidate", "needs-review")]
    assert 0 < n == len(flagged) < len(selected)
    assert all(names)  # the recruiters see who it is (synthetic names)
    # Re-running without --resume is safe too: the worklist store is idempotent.
    again = CliRunner().invoke(
        cli,
        [
            "screen",
            "--bulk",
            str(population.root),
            "--as-of",
            AS_OF.isoformat(),
            "--db",
            db,
            "--journal",
            str(tmp_path / "j2"),
            "--workers",
            "1",
            "--no-progress",
        ],
    )
    assert again.exit_code == 0, again.output
    with sessions() as session:
        assert session.execute(select(func.count()).select_from(FlaggedPatient)).scalar_one() == n


def test_progress_line() -> None:
    now = [100.0]
    stream = io.StringIO()
    p = Progress(200, enabled=True, stream=stream, clock=lambda: now[0], every=0)
    now[0] = 110.0
    p.advance(50)
    line = p.line()
    assert "50/200 patients" in line and "25.0%" in line
    assert "5.0/s" in line and "ETA 0:00:30" in line
    p.finish()
    assert stream.getvalue().endswith("\n")
    quiet = io.StringIO()
    Progress(10, enabled=False, stream=quiet).advance(5)
    assert quiet.getvalue() == ""
