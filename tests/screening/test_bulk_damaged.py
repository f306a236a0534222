"""A damaged Bulk export (issue 10, row 9): a gzip file cut short and a binary file neither stop
the screen nor make its counts disagree. The readable lines are screened, the rest reported; the
summary's malformed count is the number of lines in malformed.csv."""

from __future__ import annotations

import csv
import gzip
import json
import random
from pathlib import Path

from cds_service.screening import ScreenConfig, run_screen

from .conftest import AS_OF

IGG4RD = {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.84"}


def _export(root: Path) -> int:
    """Patients p0..p399, each with an IgG4-RD Condition in a gzip file that is cut in half,
    and a file of random bytes full of carriage returns. Returns the number of Conditions."""
    root.mkdir()
    patients = [{"resourceType": "Patient", "id": f"p{i}", "gender": "female"} for i in range(400)]
    (root / "Patient.ndjson").write_text("".join(json.dumps(p) + "\n" for p in patients))
    conditions = "".join(
        json.dumps(
            {
                "resourceType": "Condition",
                "id": f"c{i}",
                "subject": {"reference": f"Patient/p{i}"},
                "code": {"coding": [IGG4RD]},
                "clinicalStatus": {"coding": [{"code": "active"}]},
                "recordedDate": "2020-01-01",
                "note": [{"text": f"{random.Random(i).getrandbits(256):x}"}],  # poorly compressible
            }
        )
        + "\n"
        for i in range(400)
    ).encode()
    packed = gzip.compress(conditions)
    (root / "Condition.ndjson.gz").write_bytes(packed[: len(packed) // 2])
    rnd = random.Random(7)
    noise = bytes(rnd.choice(b'\r\n\x00\xff\xfeab{}"') for _ in range(4000))
    (root / "Binary.ndjson").write_bytes(noise)
    return 400


def test_truncated_gzip_and_binary_file_are_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "export"
    _export(root)
    report = tmp_path / "report"
    outcome = run_screen(
        ScreenConfig(
            bulk_dir=root, as_of=AS_OF, workers=1, out=tmp_path / "r.csv", report_dir=report
        )
    )
    assert outcome.error is None
    with open(report / "malformed.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert outcome.stats.bad == len(rows)  # the summary says what the report lists
    summary = json.loads((report / "summary.json").read_text())
    assert json.dumps(summary).count(f'"malformed": {len(rows)}') == 1
    cut = [r for r in rows if r["file"] == "Condition.ndjson.gz"]
    assert len(cut) == 1 and "cut short" in cut[0]["reason"]
    readable = int(cut[0]["line"]) - 1
    assert 0 < readable < 400
    assert outcome.stats.resources["Condition"] == readable
    assert outcome.summary.assessed == readable  # the readable Conditions' patients are screened
    assert {r["file"] for r in rows} == {"Condition.ndjson.gz", "Binary.ndjson"}


def test_binary_file_counts_agree_with_the_report(tmp_path: Path) -> None:
    root = tmp_path / "export"
    _export(root)
    (root / "Condition.ndjson.gz").unlink()
    report = tmp_path / "report"
    outcome = run_screen(ScreenConfig(bulk_dir=root, as_of=AS_OF, workers=1, report_dir=report))
    with open(report / "malformed.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["file"] for r in rows} == {"Binary.ndjson"}
    assert outcome.stats.bad == len(rows)
