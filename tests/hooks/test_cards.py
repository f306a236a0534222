"""The card reads in five seconds: checked for every fixture, rendered as a CDS client renders it.

Rendering uses CommonMark with raw HTML on (the CDS Hooks sandbox renders with rehype-raw), GFM tables,
strikethrough and autolink literals: data text must come out exactly as the text, with no markup.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import orjson
import pytest
from markdown_it import MarkdownIt

from cds_service.eligibility import assess_resources, load_params
from cds_service.fhir_fixture_server import bundle_resources
from cds_service.hooks.card_text import escape, number, shorten_reason
from cds_service.hooks.cards import (
    DETAIL_MAX,
    REASON_MAX,
    CardContext,
    detail,
    igg4_course,
    reason_text,
    ruling_out,
    screening_card,
    summary,
    undecided,
    visit_items,
)
from cds_service.i18n.render import renderer

from .conftest import FIXTURES

RENDER = MarkdownIt("commonmark", {"html": True, "linkify": True}).enable(
    ["table", "strikethrough", "linkify"]
)
WORKLIST = "https://recruit.example.org"
BUNDLES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))
# Pictographs and the dingbats/symbols blocks where emoji live (✅ ❌ ❔ ⚠ ...), and the emoji
# variation selector. Arrows (→) and maths (≥ ×) are ordinary text in every font.
EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.links: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered(markdown: str) -> _Html:
    parser = _Html()
    parser.feed(RENDER.render(markdown))
    return parser


def _context(patient_id: str, **kw: Any) -> CardContext:
    values: dict[str, Any] = {
        "card_uuid": "c",
        "suggestion_uuid": "s",
        "patient_id": patient_id,
        "fhir_server": "https://ehr.example.org/fhir",
        "user_id": "Practitioner/x",
        "worklist_base_url": WORKLIST,
        "smart_launch_url": f"{WORKLIST}/smart/launch",
        "trial_url": "https://clinicaltrials.gov/study/NCT05974683",
        "study_team": None,
        "now": datetime(2026, 11, 24, tzinfo=UTC),
    }
    values.update(kw)
    return CardContext(**values)


def _assess(bundle: Path) -> dict[str, Any]:
    resources = bundle_resources(orjson.loads(bundle.read_bytes()))
    patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
    return assess_resources(
        resources,
        as_of=date(2026, 11, 24),
        params=load_params(None),
        patient_ref=f"Patient/{patient}",
    ).to_dict()


def _norm(text: str) -> str:
    """Rendered text as read: whitespace collapsed, invisible word joiners (U+2060) dropped."""
    return re.sub(r"\s+", " ", text.replace("\u2060", "")).strip()


# What GFM (mdast-util-gfm-autolink-literal, as the CDS Hooks sandbox renders) links in plain text
# after parsing, escapes or not: none may be left in rendered data text.
GFM_AUTOLINK = re.compile(r"(?i)(https?://|www\.)[-.\w]+|[-.\w+]+@[-\w]+(\.[-\w]+)+")


@pytest.mark.parametrize("bundle", BUNDLES, ids=[p.stem[:2] for p in BUNDLES])
def test_card_of_every_fixture_reads_in_five_seconds(bundle: Path) -> None:
    assessment = _assess(bundle)
    patient = assessment["patient"].removeprefix("Patient/")
    card = screening_card(assessment, _context(patient))
    text, head = card["detail"], card["summary"]
    assert len(text) <= DETAIL_MAX
    assert 0 < len(head) < 140 and "\n" not in head
    assert not EMOJI.search(text) and not EMOJI.search(head)
    assert not re.search(r"\d\.0\b", text.split("\n")[0])  # our numbers: never "2600.0"
    page = rendered(text)
    assert not GFM_AUTOLINK.search("".join(page.text))
    plain = _norm("".join(page.text))
    # Only our own markup: paragraphs, bold headings, one list per section; no link in the text
    # (a click there would navigate the EHR's frame): the full table is behind the card's links.
    assert set(page.tags) <= {"p", "strong", "ul", "li"}, page.tags
    assert page.links == []
    assert "Open the screening app or the recruiter worklist (links below)" in plain
    assert [lk["label"] for lk in card["links"]][::2] == [
        "Open in the recruiter worklist",
        "Open the screening app",
    ]
    # The verdict and the IgG4 course come first.
    verdict = {"candidate": "Possible candidate", "needs-review": "May be eligible",
               "ineligible": "Not eligible"}[assessment["status"]]  # fmt: skip
    assert plain.startswith(verdict)
    assert plain.split(". ", 1)[1].startswith(("Serum IgG4:", "No readable serum IgG4"))
    # Each criterion named on the card shows its reason as the engine wrote it, in the card's
    # language (numbers by Babel: 1,300), shortened at clause boundaries, however much
    # markdown-like text the reason holds (10*3/uL ...).
    listed = (
        ruling_out(assessment)
        if assessment["status"] == "ineligible"
        else [*undecided(assessment), *visit_items(assessment)]
    )
    for criterion in listed:
        if criterion["id"] == "E2" and any(c["id"] == "I4" for c in listed):
            assert "E2 " not in plain  # the mirror of I4 is not repeated
            continue
        assert f"{criterion['id']} " in plain
        if criterion["id"] in ("I6", "I7", "E1") and assessment["status"] != "ineligible":
            continue  # settled at the visit: named only
        assert _norm(shorten_reason(reason_text(criterion, renderer("en")), REASON_MAX)) in plain
    # Numbers as a clinician writes them: thousands separated, no trailing .0
    for key in ("baseline", "nadir", "current"):
        point = (assessment.get("igg4") or {}).get(key)
        if point:
            assert number(point["value"]) in plain
            if point["value"] >= 1000:
                assert "," in number(point["value"])


def test_ucum_units_and_markup_in_reasons_render_as_text() -> None:
    hostile = (
        "neutrophils 3.8 10*3/uL = 3.8 10*9/L | **bold** _it_ `code` ~~gone~~ <b>x</b> "
        "<script>alert(1)</script> [click](https://evil.example) ![img](x.png) &amp; \\ "
        "www.evil.example https://evil.example/a mail@evil.example"
    )
    assessment = _assessment("needs-review", reason=hostile)
    page = rendered(detail(assessment))
    assert "script" not in page.tags and set(page.tags) <= {"p", "strong", "ul", "li"}
    assert page.links == []
    assert _norm(shorten_reason(hostile, REASON_MAX)) in _norm("".join(page.text))
    whole = "".join(rendered(escape(hostile)).text)
    assert _norm(whole) == _norm(hostile)
    assert not GFM_AUTOLINK.search(whole)  # www., https:// and e-mail stay text in GFM too
    assert GFM_AUTOLINK.search(hostile)  # (the check is not vacuous)


def test_numbers_as_a_clinician_writes_them() -> None:
    assert [number(v) for v in (2600.0, 1300, 3.8, 0.99, 780.0, 12345.678, 0.3)] == [
        "2,600", "1,300", "3.8", "0.99", "780", "12,345.68", "0.3",
    ]  # fmt: skip


def test_plurals() -> None:
    one = _assessment("needs-review")
    assert summary(one).endswith(": 1 criterion unknown")
    two = _assessment("needs-review")
    two["criteria"][3]["status"] = "unknown"
    assert summary(two).endswith(": 2 criteria unknown")
    candidate = _assessment("candidate")
    candidate["criteria"][5]["status"] = "unknown"  # I6
    assert summary(candidate).endswith(": 1 item to confirm at the visit")
    candidate["criteria"][6]["status"] = "unknown"  # I7
    assert summary(candidate).endswith(": 2 items to confirm at the visit")
    issues = _assessment("candidate")
    issues["dataIssues"] = ["x"]
    assert "1 result in the record could not be used" in detail(issues)
    issues["dataIssues"] = ["x", "y"]
    assert "2 results in the record could not be used" in detail(issues)


def test_course_line_names_the_line_crossed_and_the_rule() -> None:
    assessment = _assessment("candidate")
    assessment["igg4"] = {
        "baseline": {"date": "2022-03-01", "value": 2600.0},
        "nadir": {"date": "2024-06-01", "value": 380.0},
        "current": {"date": "2026-09-15", "value": 1300.0},
        "threshold": 780.0,
        "rule": "fraction-of-baseline",
    }
    course = igg4_course(assessment)
    assert course == (
        "Serum IgG4: baseline 2,600 (2022-03-01) → nadir 380 (2024-06-01) → current 1,300 mg/L "
        "(2026-09-15), back at or above the re-elevation line of 780 mg/L (30% of baseline, "
        "rule fraction-of-baseline)."
    )
    assessment["igg4"]["current"]["value"] = 700.0
    assert "still below the re-elevation line of 780 mg/L" in igg4_course(assessment)
    assessment["igg4"]["nadir"]["value"] = 900.0
    assert "the nadir never fell below the re-elevation line" in igg4_course(assessment)
    assessment["igg4"]["rule"] = "ratio-vs-nadir"
    assert "now 0.78 times the nadir (rule ratio-vs-nadir)" in igg4_course(assessment)
    assessment["igg4"]["current"] = None
    assert "; no current result" in igg4_course(assessment)
    assessment["igg4"] = {"baseline": None, "nadir": None, "current": None}
    assert igg4_course(assessment) == "No readable serum IgG4 result on record."


def test_long_lists_stay_within_the_budget() -> None:
    assessment = _assessment("needs-review", reason="a long reason " * 30)
    for criterion in assessment["criteria"]:
        criterion["status"] = "unknown"
    text = detail(assessment, links=True, smart_link=True)
    assert len(text) <= DETAIL_MAX
    assert "more in the full table" in text


def test_data_not_read_is_said_on_the_card() -> None:
    text = detail(
        _assessment("needs-review"),
        unread={"Observation": "timeout", "Condition": "unauthorized", "Procedure": "http-error"},
    )
    plain = _norm("".join(rendered(text).text))
    assert "Not read from the EHR" in plain
    assert (
        "Laboratory results and observations (Observation): not read in time "
        "(the FHIR server was too slow)" in plain
    )
    assert "Diagnoses and problems (Condition): access refused by the FHIR server" in plain
    assert "Procedures (Procedure): could not be read" in plain
    assert "Criteria that rest on these are unknown" in plain


def _assessment(status: str, reason: str = "ok") -> dict[str, Any]:
    criteria = [
        {"id": f"I{n}", "type": "inclusion", "title": f"incl {n}", "status": "met",
         "reason": reason, "evidence": [f"Observation/o{n}"]}
        for n in range(1, 8)
    ] + [
        {"id": f"E{n}", "type": "exclusion", "title": f"excl {n}", "status": "not-met",
         "reason": reason, "evidence": []}
        for n in range(1, 12)
    ]  # fmt: skip
    if status == "needs-review":
        criteria[2]["status"] = "unknown"
    if status == "ineligible":
        criteria[9]["status"] = "met"
    return {"status": status, "asOf": "2026-11-24", "patient": "Patient/p1", "criteria": criteria,
            "igg4": {}, "dataIssues": []}  # fmt: skip


def test_no_emoji_check_is_not_vacuous() -> None:
    assert EMOJI.search("✅ met") and EMOJI.search("❔") and not EMOJI.search("→ ≥ × ⁹ µ")
    assert unicodedata.name("→") == "RIGHTWARDS ARROW"
