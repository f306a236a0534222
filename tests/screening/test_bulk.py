"""The bulk source: grouping by patient, partitions, malformed lines, resume."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import orjson

from cds_service.screening import ScreenConfig, run_screen
from cds_service.screening.bulk import BulkExport
from cds_service.screening.output import Journal
from cds_service.screening.records import SHARED_TYPES, Selection, patient_key

from .conftest import AS_OF, Population, read_ndjson

SEL = Selection.from_valuesets()


def _owner(resource: dict[str, object]) -> str | None:
    if resource["resourceType"] == "Patient":
        return f"Patient/{resource['id']}"
    for field in ("subject", "individual"):
        ref = resource.get(field)
        if isinstance(ref, dict):
            return patient_key(ref.get("reference"))
    return None


def test_groups_hold_each_patients_resources_once(population: Population) -> None:
    resources = list(population.resources())
    expected = Counter(o for o in map(_owner, resources) if o is not None)
    # Medications pointed to by a patient's records travel with that patient.
    med_refs = Counter(
        _owner(r) for r in resources if isinstance(r.get("medicationReference"), dict)
    )
    assert med_refs, "the population should use medicationReference"
    with BulkExport(population.root, SEL, all_patients=True, threads=2) as export:
        stats = export.scan()
        groups = list(export.groups())
    assert stats.patients == population.patients
    assert stats.selected == population.patients
    assert [g.ref for g in groups] == sorted(expected)
    for g in groups:
        parsed = [orjson.loads(line) for line in g.resources]  # type: ignore[arg-type]
        own = [r for r in parsed if r["resourceType"] not in SHARED_TYPES]
        shared = {
            f"{r['resourceType']}/{r['id']}" for r in parsed if r["resourceType"] in SHARED_TYPES
        }
        assert {_owner(r) for r in own} == {g.ref}
        assert len(own) == expected[g.ref]
        pointed = {
            r[field]["reference"]
            for r in own
            for field in ("medicationReference", "study")
            if field in r
        }
        assert shared == pointed


def test_small_partitions_give_the_same_groups(population: Population) -> None:
    with BulkExport(population.root, SEL, threads=1) as export:
        export.scan()
        one = [(g.ref, len(g.resources)) for g in export.groups()]
        assert export.partitions == 1
    with BulkExport(population.root, SEL, threads=1, partition_bytes=200_000) as export:
        export.scan()
        many = [(g.ref, len(g.resources)) for g in export.groups()]
        assert export.partitions > 5
    assert many == one
    assert len(one) == sum(
        1 for _, intended in population.truth.values() if intended != "not-screened"
    )


def test_malformed_lines_are_reported_with_file_and_line(
    broken_population: Population, tmp_path: Path
) -> None:
    manifest = json.loads((broken_population.root / "manifest.json").read_text())
    planted = {(b["file"], b["line"]) for b in manifest["broken"]}
    assert len(planted) == 4
    outcome = run_screen(
        ScreenConfig(
            bulk_dir=broken_population.root,
            as_of=AS_OF,
            workers=1,
            out=tmp_path / "r.csv",
            report_dir=tmp_path / "report",
        )
    )
    assert outcome.stats.bad == 4
    assert {(i.where, i.line) for i in outcome.issues_shown} == planted
    reasons = {i.message for i in outcome.issues_shown}
    assert "not a JSON object" in reasons
    assert "Observation without subject.reference" in reasons
    rows = (tmp_path / "report" / "malformed.csv").read_text().splitlines()
    assert rows[0] == "file,line,reason" and len(rows) == 5
    assert outcome.summary.assessed > 0  # the run went on


def test_overlong_line_is_reported_not_fatal(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    big = json.dumps({"resourceType": "Patient", "id": "big", "text": {"div": "x" * 300_000}})
    (root / "Patient.ndjson").write_text(
        '{"resourceType":"Patient","id":"p1"}\n' + big + "\n", encoding="utf-8"
    )
    with BulkExport(root, SEL, all_patients=True, max_line_size=100_000) as export:
        stats = export.scan()
        issues = list(export.issues())
        refs = [g.ref for g in export.groups()]
    assert refs == ["Patient/p1"]
    assert stats.bad == 1
    assert [(i.where, i.line) for i in issues] == [("Patient.ndjson", 2)]
    assert "line size" in issues[0].message


def test_resume_skips_patients_done_in_the_run(population: Population, tmp_path: Path) -> None:
    out = tmp_path / "r.ndjson"
    full = run_screen(ScreenConfig(bulk_dir=population.root, as_of=AS_OF, workers=1, out=out))
    everyone = read_ndjson(out)
    journal = Journal.read(full.journal)
    assert journal == {a["patient"] for a in everyone}
    # Pretend the run stopped after the first ten patients: keep their output and journal lines.
    first = everyone[:10]
    out.write_bytes(b"".join(orjson.dumps(a) + b"\n" for a in first))
    full.journal.write_text("".join(a["patient"] + "\n" for a in first))
    again = run_screen(
        ScreenConfig(bulk_dir=population.root, as_of=AS_OF, workers=1, out=out, resume=True)
    )
    assert again.stats.already_done == 10
    assert again.summary.assessed == len(everyone) - 10
    assert read_ndjson(out) == everyone
    # And once more: nothing left to do.
    third = run_screen(
        ScreenConfig(bulk_dir=population.root, as_of=AS_OF, workers=1, out=out, resume=True)
    )
    assert third.summary.assessed == 0
    assert read_ndjson(out) == everyone
