"""Line classification: the Python rules (records.py) and the bulk scan's fast path agree."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from cds_service.screening.bulk import BulkExport
from cds_service.screening.records import Selection, classify_line, patient_key

SEL = Selection.from_valuesets()
ICD = "http://hl7.org/fhir/sid/icd-10-cm"

LINES: list[tuple[str, str, str | None, bool]] = [
    # line, kind, key, selects
    ('{"resourceType":"Patient","id":"a1"}', "resource", "Patient/a1", False),
    ("", "blank", None, False),
    ("   ", "blank", None, False),
    ('{"resourceType":"Observation","id":"x"', "bad", None, False),
    ("not json", "bad", None, False),
    ("[1, 2]", "bad", None, False),
    ('"a string"', "bad", None, False),
    ('{"id":"no-type"}', "bad", None, False),
    ('{"resourceType":"","id":"empty-type"}', "bad", None, False),
    ('{"resourceType":"Patient"}', "bad", None, False),
    ('{"resourceType":"Patient","id":12}', "bad", None, False),
    ('{"resourceType":"Patient","id":"has space"}', "bad", None, False),
    ('{"resourceType":"Observation","id":"o1"}', "bad", None, False),
    ('{"resourceType":"Observation","id":"o2","subject":{"reference":5}}', "bad", None, False),
    (
        '{"resourceType":"Observation","id":"o3","subject":{"reference":"Group/g1"}}',
        "unlinked",
        None,
        False,
    ),
    (
        '{"resourceType":"Encounter","id":"e1","subject":{"reference":"Patient/a1"}}',
        "other",
        None,
        False,
    ),
    (
        '{"resourceType":"Observation","id":"o4","subject":{"reference":"https://ehr.example/fhir/Patient/a1/_history/3"},'
        '"code":{"coding":[{"code":"2469-5"},{"system":"http://loinc.org","code":"2469-5"}]}}',
        "resource",
        "Patient/a1",
        True,
    ),
    (
        '{"resourceType":"Observation","id":"o5","subject":{"reference":"Patient/a1"},'
        '"code":{"coding":[{"system":"http://loinc.org","code":"718-7"}]}}',
        "resource",
        "Patient/a1",
        False,
    ),
    (
        '{"resourceType":"Condition","id":"c1","subject":{"reference":"Patient/a2"},'
        f'"code":{{"coding":[{{"system":"{ICD}","code":"D89.84"}}]}}}}',
        "resource",
        "Patient/a2",
        True,
    ),
    (
        '{"resourceType":"Condition","id":"c2","subject":{"reference":"Patient/a2"},'
        '"code":{"text":"IgG4-related disease"}}',
        "resource",
        "Patient/a2",
        False,
    ),
    (
        '{"resourceType":"ResearchSubject","id":"r1","individual":{"reference":"Patient/a3"}}',
        "resource",
        "Patient/a3",
        False,
    ),
    (
        '{"resourceType":"MedicationStatement","id":"m1","subject":{"reference":"Patient/a3"}}',
        "resource",
        "Patient/a3",
        False,
    ),
    (
        '{"resourceType":"Procedure","id":"p1","subject":{"reference":"Patient/a3"}}',
        "resource",
        "Patient/a3",
        False,
    ),
    (
        '{"resourceType":"Medication","id":"m1","code":{"text":"prednisone"}}',
        "shared",
        "Medication/m1",
        False,
    ),
    ('{"resourceType":"Medication","id":"bad id"}', "other", None, False),
    ('{"resourceType":"ResearchStudy","id":"st1"}', "shared", "ResearchStudy/st1", False),
    (
        '{"resourceType":"MedicationRequest","id":"mr1","subject":{"reference":"Patient/a3"},'
        '"medicationReference":{"reference":"https://ehr/fhir/Medication/m1"}}',
        "resource",
        "Patient/a3",
        False,
    ),
]


@pytest.mark.parametrize(("line", "kind", "key", "selects"), LINES)
def test_python_rules(line: str, kind: str, key: str | None, selects: bool) -> None:
    c, parsed = classify_line(line.encode(), SEL)
    assert (c.kind, c.key, c.selects) == (kind, key, selects)
    assert (parsed is not None) == (kind == "resource")
    if kind == "bad":
        assert c.message


def _scanned(line: str, tmp_path: Path) -> tuple[str, str | None, bool]:
    """(kind, key, selects) of one line as the bulk path's scan (``scan.py``) sees it."""
    root = tmp_path / f"export-{abs(hash(line))}"
    root.mkdir()
    (root / "one.ndjson").write_text(line + "\n", encoding="utf-8")
    with BulkExport(root, SEL, all_patients=True) as export:
        stats = export.scan()
        keys = [g.ref for g in export.stored_groups()]
    with BulkExport(root, SEL) as export:
        selects = export.scan().selected == 1
    if stats.blank:
        return "blank", None, selects
    if stats.bad:
        return "bad", None, selects
    if stats.other_types:
        return "other", None, selects
    if stats.unlinked:
        return "unlinked", None, selects
    assert sum(stats.resources.values()) == 1
    if not keys:  # a Medication or ResearchStudy: kept for the patients that point to it
        rtype = next(iter(stats.resources))
        return "shared", f"{rtype}/{orjson.loads(line)['id']}", selects
    return "resource", keys[0], selects


@pytest.mark.parametrize(("line", "kind", "key", "selects"), LINES)
def test_bulk_scan_agrees_line_by_line(
    line: str, kind: str, key: str | None, selects: bool, tmp_path: Path
) -> None:
    assert _scanned(line, tmp_path) == (kind, key, selects)


def test_links_to_shared_resources_agree(tmp_path: Path) -> None:
    lines = [line for line, *_ in LINES]
    python = sorted(
        (c.key or "", c.link or "")
        for c in (classify_line(line, SEL)[0] for line in lines)
        if c.link
    )
    assert python == [("Patient/a3", "Medication/m1")]
    path = tmp_path / "mixed.ndjson"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with BulkExport(tmp_path, SEL, all_patients=True) as export:
        export.scan()
        groups = {g.ref: g for g in export.groups()}
    shared = [
        r
        for r in map(orjson.loads, groups["Patient/a3"].resources)
        if r["resourceType"] == "Medication"
    ]
    assert [r["id"] for r in shared] == ["m1"]
    assert all(
        r["resourceType"] != "Medication" for r in map(orjson.loads, groups["Patient/a1"].resources)
    )


def test_patient_key_forms() -> None:
    assert patient_key("Patient/abc") == "Patient/abc"
    assert patient_key("http://x/fhir/Patient/abc/_history/2") == "Patient/abc"
    assert patient_key("Group/abc") is None
    assert patient_key("urn:uuid:1234") is None
    assert patient_key(None) is None


def test_selection_comes_from_the_value_sets() -> None:
    assert ("http://loinc.org", "2469-5") in SEL.observation_tokens
    assert (ICD, "D89.84") in SEL.condition_tokens
    assert SEL.search_param("Observation") == "http://loinc.org|2469-5"
    assert SEL.search_param("Patient") == ""
    obs = orjson.loads(LINES[16][0])
    assert SEL.selects(obs)


def test_a_coding_of_the_wrong_shape_selects_nothing_and_raises_nothing() -> None:
    line = (
        '{"resourceType":"Observation","id":"o9","subject":{"reference":"Patient/a1"},'
        '"code":{"coding":[{"system":["http://loinc.org"],"code":"2469-5"},{"code":{}}]}}'
    )
    c, _ = classify_line(line, SEL)
    assert (c.kind, c.key, c.selects) == ("resource", "Patient/a1", False)
