"""Pure parts: prefetch checking against the templates, card text and fingerprints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from cds_service.hooks.cards import (
    CardContext,
    detail,
    fingerprint,
    screening_card,
    summary,
    worklist_link,
)
from cds_service.hooks.prefetch import check_prefetch, patient_reference_id
from cds_service.hooks.templates import patient_queries, prefetch_templates

from .synthetic import searchset

TEMPLATES = prefetch_templates()


def _cond(cid: str, pid: str) -> dict[str, Any]:
    return {"resourceType": "Condition", "id": cid, "subject": {"reference": f"Patient/{pid}"}}


def test_templates_render_for_the_patient() -> None:
    queries = patient_queries("p-1.x")
    assert queries["patient"] == "Patient/p-1.x"
    assert queries["conditions"] == "Condition?patient=p-1.x"
    assert all("{{" not in q for q in queries.values())


def test_each_key_is_judged_on_its_own() -> None:
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p1"},
        "conditions": searchset([_cond("c1", "p1"), _cond("c1", "p1")]),  # duplicate
        "observations": {"resourceType": "OperationOutcome", "issue": []},
        "procedures": None,
        "medicationRequests": {**searchset([]), "link": [{"relation": "next", "url": "x"}]},
        "medicationStatements": searchset([_cond("c2", "p2")]),  # wrong type: dropped
        "researchSubjects": "garbage",
    }
    check = check_prefetch(prefetch, TEMPLATES, "p1")
    assert set(check.satisfied) == {"patient", "conditions", "medicationStatements"}
    assert [r["id"] for r in check.satisfied["conditions"]] == ["c1"]
    assert check.satisfied["medicationStatements"] == []
    assert set(check.missing) == {"observations", "medicationRequests", "researchSubjects"}
    assert set(check.null) == {"procedures"}
    assert "OperationOutcome" in check.rejected["observations"]
    assert "next page" in check.rejected["medicationRequests"]


def test_another_patients_data_rejects_the_key() -> None:
    prefetch = {
        "patient": {"resourceType": "Patient", "id": "p2"},
        "conditions": searchset([_cond("c1", "p1"), _cond("c9", "p2")]),
    }
    check = check_prefetch(prefetch, TEMPLATES, "p1")
    assert "patient" in check.missing and "conditions" in check.missing
    assert check.satisfied == {}


def test_patient_reference_forms() -> None:
    assert patient_reference_id("Patient/a") == "a"
    assert patient_reference_id("https://x.org/fhir/Patient/a") == "a"
    assert patient_reference_id("Patient/a/_history/3") == "a"
    assert patient_reference_id("Group/a") is None


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


def test_summaries_are_short_and_name_the_failing_criteria() -> None:
    for status in ("candidate", "needs-review", "ineligible"):
        text = summary(_assessment(status))
        assert 0 < len(text) < 140
    assert "E3" in summary(_assessment("ineligible"))


def test_detail_escapes_line_breaking_text() -> None:
    text = detail(_assessment("needs-review", reason="a | b\nnew line"))
    assert "- I3 baseline serum IgG4: a \\| b new line" in text.splitlines()


def test_fingerprint_ignores_wording_but_not_decisions() -> None:
    base = fingerprint(_assessment("candidate"))
    assert fingerprint(_assessment("candidate", reason="other words")) == base
    assert fingerprint(_assessment("needs-review")) != base


def test_worklist_link_encodes_the_server() -> None:
    ctx = CardContext(
        card_uuid="u",
        suggestion_uuid="s",
        patient_id="p1",
        fhir_server="https://ehr.example.org/fhir?tenant=a&b=c",
        user_id=None,
        worklist_base_url="https://w.example.org/",
        smart_launch_url=None,
        trial_url="https://clinicaltrials.gov/study/NCT05974683",
        study_team=None,
        now=datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert worklist_link(ctx) == (
        "https://w.example.org/worklist/patients/lookup?"
        "server=https%3A%2F%2Fehr.example.org%2Ffhir%3Ftenant%3Da%26b%3Dc&patient=p1"
    )
    card = screening_card(_assessment("candidate"), ctx)
    resource = card["suggestions"][0]["actions"][0]["resource"]
    assert "requester" not in resource  # no userId: no requester invented
    assert resource["performer"] == [{"display": "Study team of NCT05974683"}]


def test_detail_shows_censored_igg4_values() -> None:
    """docs/criteria.md, censored values: '<70' is never shown as 70, and the course says nothing
    of the line that a censored value does not decide (the I5 reason says how it stands)."""
    a = _assessment("needs-review")
    a["igg4"] = {
        "baseline": {"date": "2022-03-01", "value": 3000.0, "comparator": ">", "ref": "O/b"},
        "nadir": {"date": "2024-06-01", "value": 380.0, "ref": "O/n"},
        "current": {"date": "2026-09-15", "value": 1300.0, "ref": "O/c"},
        "threshold": 900.0,
        "thresholdComparator": ">",
        "rule": "fraction-of-baseline",
    }
    text = detail(a)
    assert "baseline \\>3,000 (2022-03-01)" in text and "current 1,300 mg/L" in text  # escaped ">"
    assert "re-elevation line" not in text
    a["igg4"]["current"] = {"date": "2026-11-01", "value": 70.0, "comparator": "<", "ref": "O/c"}
    assert "current \\<70 mg/L (2026-11-01)" in detail(a)  # markdown-escaped "<"
