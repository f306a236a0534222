"""Each criterion met, not met and unknown, on small hand-built records."""

from __future__ import annotations

from datetime import date

import pytest

from .builders import (
    AS_OF,
    SNOMED,
    assess,
    candidate_resources,
    coded_obs,
    cond,
    full_labs,
    igg4,
    med,
    obs,
    patient,
    status_of,
)


def replace_patient(resources: list[dict], **kw: object) -> list[dict]:
    return [patient(**kw)] + [r for r in resources if r["resourceType"] != "Patient"]  # type: ignore[arg-type]


def test_clean_candidate() -> None:
    a = assess(candidate_resources())
    assert a.status == "candidate"
    assert [c.id for c in a.criteria] == [f"I{i}" for i in range(1, 8)] + [
        f"E{i}" for i in range(1, 12)
    ]
    by_id = {c.id: c.status for c in a.criteria}
    assert by_id["I5"] == "met" and by_id["E11"] == "not-met" and by_id["E1"] == "unknown"
    assert a.criterion("I3").evidence[0].startswith("Observation/")


# --- I1 -------------------------------------------------------------------------------------
def test_i1_states() -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    assert status_of(base + [cond("D89.84")], "I1") == "met"
    assert status_of(base + [cond("D8984")], "I1") == "met"  # ICD-10-CM without the dot
    assert status_of(base + [cond("D89.84", verification=None)], "I1") == "met"
    assert status_of(base + [cond("D89.84", verification="provisional")], "I1") == "unknown"
    assert status_of(base + [cond("D89.84", verification="refuted")], "I1") == "not-met"
    assert status_of(base + [cond("D89.84", verification="entered-in-error")], "I1") == "not-met"
    r = assess(base)
    assert r.criterion("I1").status == "not-met" and "none recorded" in r.criterion("I1").reason


# --- I2 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("birth", "expected"),
    [
        ("2008-11-24", "met"),  # 18th birthday on asOf
        ("2008-11-25", "not-met"),  # 17 until tomorrow
        ("1956-11-25", "met"),  # 70 on asOf (71 tomorrow)
        ("1955-11-24", "not-met"),  # 71 today
        (
            "1956",
            "unknown",
        ),  # 69 or 70 → met either way? no: 1956-12-31 gives 69, 1956-01-01 gives 70 → met
        ("1955", "unknown"),  # 70 or 71: does not decide
        ("1960-05", "met"),
        (None, "unknown"),
    ],
)
def test_i2_age(birth: str | None, expected: str) -> None:
    if birth == "1956":
        expected = "met"  # both possible ages (69, 70) are inside 18-70
    assert status_of(replace_patient(candidate_resources(), birth=birth), "I2") == expected


# --- I3 -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "unit", "expected"),
    [
        (1400, "mg/L", "not-met"),  # > is not ≥
        (1401, "mg/L", "met"),
        (140.0, "mg/dL", "not-met"),
        (140.1, "mg/dL", "met"),
        (1.40, "g/L", "not-met"),
        (1.41, "g/L", "met"),
    ],
)
def test_i3_baseline_boundary(value: float, unit: str, expected: str) -> None:
    res = [
        r
        for r in candidate_resources()
        if not (r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "2469-5")
    ]
    res += [igg4(value, "2020-01-15", unit=unit), igg4(100, "2022-01-15"), igg4(450, "2026-10-15")]
    assert status_of(res, "I3") == expected


def test_i3_unknown_without_pre_treatment_result() -> None:
    res = [r for r in candidate_resources() if r.get("effectiveDateTime") != "2020-01-15"]
    a = assess(res)
    assert a.criterion("I3").status == "unknown"
    assert "before treatment start 2020-02-01" in a.criterion("I3").reason


def test_i3_unknown_without_therapy() -> None:
    res = [r for r in candidate_resources() if r["resourceType"] != "MedicationRequest"]
    assert status_of(res, "I3") == "unknown"


# --- I4 / E2 --------------------------------------------------------------------------------
def test_i4_and_mirror() -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    a = assess(base + [cond("D89.84", body_site="Submandibular gland")])
    assert (a.criterion("I4").status, a.criterion("E2").status) == ("not-met", "met")
    a = assess(base + [cond("D89.84"), cond("K66.2")])
    assert (a.criterion("I4").status, a.criterion("E2").status) == ("met", "not-met")
    a = assess(base + [cond("D89.84"), cond("D47.Z2")])  # Castleman: IgG4-related or not?
    assert (a.criterion("I4").status, a.criterion("E2").status) == ("unknown", "unknown")
    assert a.criterion("E7").status == "unknown"
    a = assess(base + [cond("D89.84"), cond("K83.01")])  # PSC is a mimic, not IgG4-SC
    assert a.criterion("I4").status == "not-met"


# --- I5 -------------------------------------------------------------------------------------
def test_i5_relapse_and_therapy() -> None:
    res = candidate_resources()
    relapse = [r for r in res if r["resourceType"] != "Condition"] + [
        cond("D89.84", clinical="relapse", body_site="Pancreas")
    ]
    assert status_of(relapse, "I5") == "not-met"
    stopped = [r for r in res if r["resourceType"] != "MedicationRequest"] + [
        med("prednisone", status="stopped")
    ]
    assert status_of(stopped, "I5") == "not-met"
    # docs/criteria.md "therapy status wins": a stopped or completed record is never active
    # maintenance, whatever its dosage period says; another status with a covering period is
    for status, expected in (("completed", "not-met"), ("stopped", "not-met"), ("on-hold", "met")):
        covering = [r for r in res if r["resourceType"] != "MedicationRequest"] + [
            med("prednisone", status=status, period=("2020-02-01", "2027-01-01"))
        ]
        assert status_of(covering, "I5") == expected, status
    statement = [r for r in res if r["resourceType"] != "MedicationRequest"] + [
        med("x", rxnorm="8640", kind="MedicationStatement", authored="2020-02-01")
    ]
    assert status_of(statement, "I5") == "met"


def test_i5_unknown_without_current() -> None:
    res = [
        r
        for r in candidate_resources()
        if r.get("effectiveDateTime") != "2026-10-15" or r["code"]["coding"][0]["code"] != "2469-5"
    ]
    a = assess(res)
    assert a.criterion("I5").status == "unknown"
    assert a.status == "needs-review"


def test_i5_says_when_rules_disagree_and_switches_rule() -> None:
    a = assess(candidate_resources())  # nadir 400, current 800, baseline 2350 → line 705
    reason = a.criterion("I5").reason
    assert (
        "fraction-of-baseline" in reason
        and "rules disagree" in reason
        and "rise-vs-baseline" in reason
    )
    assert status_of(candidate_resources(), "I5", reelevation_rule="rise-vs-baseline") == "not-met"
    assert status_of(candidate_resources(), "I5", reelevation_rule="ratio-vs-nadir") == "met"


def test_data_after_as_of_is_ignored() -> None:
    a = assess(candidate_resources(), as_of=date(2026, 10, 14))  # before the current IgG4
    assert a.criterion("I5").status != "met"


# --- E1 -------------------------------------------------------------------------------------
def ri(score: int, day: str, organ: str) -> dict:
    return {
        "resourceType": "Observation",
        "id": f"ri-{organ}-{day}-{score}",
        "status": "final",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [
                {
                    "system": "http://igg4-cds.org/fhir/CodeSystem/responder-index",
                    "code": "organ-score",
                }
            ]
        },
        "bodySite": {"text": organ},
        "effectiveDateTime": day,
        "valueInteger": score,
    }


def test_e1_latest_assessment_decides() -> None:
    res = candidate_resources()
    assert (
        status_of(res + [ri(0, "2026-10-01", "Pancreas"), ri(1, "2026-10-01", "Kidney")], "E1")
        == "not-met"
    )
    assert status_of(res + [ri(2, "2026-10-01", "Pancreas")], "E1") == "met"
    # an older assessment with a 2 is superseded by the latest
    assert (
        status_of(res + [ri(2, "2026-08-01", "Pancreas"), ri(1, "2026-10-01", "Pancreas")], "E1")
        == "not-met"
    )
    # older than 180 days: none recorded
    assert status_of(res + [ri(3, "2026-05-01", "Pancreas")], "E1") == "unknown"


# --- E3 -------------------------------------------------------------------------------------
def test_e3() -> None:
    res = candidate_resources()
    assert status_of(res + [cond("B20")], "E3") == "met"
    assert status_of(res + [cond("B18.1", clinical="resolved")], "E3") == "not-met"
    assert status_of(res + [coded_obs("5196-1", "10828004", "2025-01-01")], "E3") == "met"
    assert (
        status_of(
            res
            + [
                coded_obs("5196-1", "10828004", "2024-01-01"),
                coded_obs("5196-1", "260385009", "2025-01-01"),
            ],
            "E3",
        )
        == "not-met"
    )
    assert status_of(res + [coded_obs("16128-1", "10828004", "2025-01-01")], "E3") == "unknown"
    assert (
        status_of(
            res
            + [
                coded_obs("16128-1", "10828004", "2025-01-01"),
                coded_obs("11259-9", "260415000", "2025-02-01"),
            ],
            "E3",
        )
        == "not-met"
    )
    assert status_of(res + [cond("Z22.7")], "E3") == "unknown"
    assert status_of(res + [cond("Z22.7"), cond("A15.0")], "E3") == "met"


# --- E4 -------------------------------------------------------------------------------------
def prostatectomy(day: str) -> dict:
    return {
        "resourceType": "Procedure",
        "id": f"pr-{day}",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {"coding": [{"system": SNOMED, "code": "26294005"}]},
        "performedDateTime": day,
    }


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ([cond("C50.911", onset="2023-01-01", clinical="remission")], "met"),  # within 5 years
        (
            [cond("C50.911", onset="2019-01-01", clinical="resolved", abatement="2020-06-01")],
            "not-met",
        ),
        ([cond("C50.911", onset="2015-01-01", clinical="active")], "met"),  # active
        (
            [cond("D06.9", onset="2023-01-01", clinical="resolved", abatement="2025-11-24")],
            "not-met",
        ),  # 12 months exactly
        (
            [cond("D06.9", onset="2023-01-01", clinical="resolved", abatement="2025-11-25")],
            "met",
        ),  # < 12 months
        (
            [cond("C44.91", onset="2025-01-01", clinical="resolved", abatement="2025-03-01")],
            "not-met",
        ),  # BCC resolved
        ([cond("C44.91", onset="2025-01-01", clinical="active")], "met"),  # BCC active
        (
            [cond("C44.99", onset="2025-01-01", clinical="resolved", abatement="2025-03-01")],
            "met",
        ),  # not BCC/SCC
        # prostate cancer within 5 years: excepted only after prostatectomy MORE than 3 years ago
        (
            [cond("C61", onset="2022-01-01", clinical="remission"), prostatectomy("2023-11-23")],
            "not-met",
        ),
        (
            [cond("C61", onset="2022-01-01", clinical="remission"), prostatectomy("2023-11-24")],
            "met",
        ),  # exactly 3 years
        ([cond("C61", onset="2022-01-01", clinical="remission")], "met"),  # no treatment recorded
        (
            [cond("C61", onset="2022-01-01", clinical="active"), prostatectomy("2022-03-01")],
            "met",
        ),  # active
        ([cond("Z85.3", onset=None)], "unknown"),  # dateless history
        (
            [cond("C50.911", onset=None, clinical="resolved")],
            "unknown",
        ),  # no usable date, not active
        ([], "not-met"),
    ],
)
def test_e4_malignancy(extra: list[dict], expected: str) -> None:
    a = assess(candidate_resources() + extra)
    assert a.criterion("E4").status == expected, a.criterion("E4").reason


# --- E5-E9 ----------------------------------------------------------------------------------
def test_e5_e7_e9() -> None:
    res = candidate_resources()
    assert status_of(res + [cond("D84.9")], "E5") == "met"
    assert status_of(res, "E5") == "not-met"  # IgG4-RD (D89.84) is not an immunodeficiency
    assert status_of(res + [cond("M06.9")], "E7") == "met"
    assert status_of(res + [cond("M32.9", verification="provisional")], "E7") == "unknown"
    assert status_of(res + [cond("F10.20")], "E9") == "met"
    assert status_of(res + [cond("F17.210")], "E9") == "not-met"


def test_e6_always_unknown_and_lists_conditions() -> None:
    a = assess(candidate_resources() + [cond("I50.9", text="Heart failure")])
    assert a.criterion("E6").status == "unknown" and "Heart failure" in a.criterion("E6").reason
    assert a.status == "candidate"


def research_subject(status: str, nct: str) -> dict:
    return {
        "resourceType": "ResearchSubject",
        "id": f"rs-{status}-{nct}",
        "status": status,
        "individual": {"reference": "Patient/p1"},
        "study": {"identifier": {"value": nct}, "display": nct},
    }


def test_e8() -> None:
    res = candidate_resources()
    assert status_of(res + [research_subject("on-study", "NCT01234567")], "E8") == "met"
    assert status_of(res + [research_subject("off-study", "NCT01234567")], "E8") == "not-met"
    assert (
        status_of(res + [research_subject("on-study", "NCT05974683")], "E8") == "not-met"
    )  # this trial


def test_e10() -> None:
    res = candidate_resources()
    assert status_of(res + [cond("Z33.1", onset="2026-09-01")], "E10") == "met"
    # docs/criteria.md E10: a pregnancy still "current" 300 days after its onset is over (not counted)
    assert status_of(res + [cond("Z33.1", onset="2026-01-28")], "E10") == "met"  # 300 days
    stale = assess(res + [cond("Z33.1", onset="2026-01-27")]).criterion("E10")  # 301 days
    assert stale.status == "not-met" and "longer than a pregnancy lasts" in stale.reason
    assert status_of(res + [cond("Z33.1", onset=None)], "E10") == "met"  # dateless: counts
    assert (
        status_of(res + [coded_obs("82810-3", "77386006", "2026-01-28")], "E10") == "met"
    )  # 300 days
    assert (
        status_of(res + [coded_obs("82810-3", "77386006", "2026-01-27")], "E10") == "not-met"
    )  # 301 days
    assert status_of(res + [coded_obs("2106-3", "10828004", "2026-11-01")], "E10") == "met"
    # docs/criteria.md: E10 whatever the recorded gender (administrative gender is not biology)
    for gender in ("male", "other", "unknown", None):
        recorded = replace_patient(res, gender=gender)
        a = assess(recorded + [cond("Z33.1", onset="2026-09-01")])
        assert a.criterion("E10").status == "met", gender
        assert status_of(recorded, "E10") == "not-met"
        assert "none recorded" in assess(recorded).criterion("E10").reason
    male = replace_patient(res, gender="male")
    assert status_of(male + [cond("Z39.1")], "E10") == "met"  # lactation
    assert status_of(male + [coded_obs("2106-3", "10828004", "2026-11-01")], "E10") == "met"


# --- E11 ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "resource", "expected"),
    [
        ("hb", obs("718-7", 7.5, "g/dL", "2026-11-01"), "not-met"),
        ("hb", obs("718-7", 7.4, "g/dL", "2026-11-01"), "met"),
        ("hb", obs("718-7", 74, "g/L", "2026-11-01"), "met"),
        ("neut", obs("751-8", 1.0, "10*9/L", "2026-11-01"), "not-met"),
        ("neut", obs("751-8", 0.99, "K/uL", "2026-11-01", ucum=False), "met"),
        ("neut", obs("751-8", 990, "/uL", "2026-11-01"), "met"),
        ("plt", obs("777-3", 100, "10*3/uL", "2026-11-01"), "not-met"),
        ("plt", obs("777-3", 99, "10*3/uL", "2026-11-01"), "met"),
        ("alt", obs("1742-6", 80, "U/L", "2026-11-01"), "not-met"),  # = 2 × default 40
        ("alt", obs("1742-6", 81, "U/L", "2026-11-01"), "met"),
        ("alt", obs("1742-6", 71, "U/L", "2026-11-01", high=35), "met"),  # own range: 2 × 35 = 70
        ("ast", obs("1920-8", 70, "U/L", "2026-11-01", high=35), "not-met"),
        ("tbil", obs("14631-6", 42, "umol/L", "2026-11-01"), "not-met"),  # = 2 × 21
        ("tbil", obs("1975-2", 2.5, "mg/dL", "2026-11-01"), "met"),  # 42.75 µmol/L
        ("creat", obs("2160-0", 3.0, "mg/dL", "2026-11-01"), "met"),  # MDRD ≈ 15
        ("creat", obs("14682-9", 70, "umol/L", "2026-11-01"), "not-met"),
        ("hb", obs("718-7", 7.0, "g/dL", "2026-08-25"), "unknown"),  # 91 days old: missing
        ("hb", obs("718-7", 7.0, "g/dL", "2026-08-26"), "met"),  # 90 days old: inside
        ("hb", None, "unknown"),
        ("hb", obs("718-7", 7.0, "furlongs", "2026-11-01", ucum=False), "unknown"),
    ],
)
def test_e11(name: str, resource: dict | None, expected: str) -> None:
    res = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] == "2469-5"
    ]
    a = assess(res + full_labs(**{name: resource}))
    assert a.criterion("E11").status == expected, a.criterion("E11").reason


def test_e11_reported_egfr_when_no_creatinine() -> None:
    res = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] == "2469-5"
    ]
    no_creat = full_labs(creat=None)
    assert (
        status_of(res + no_creat + [obs("77147-7", 30, "mL/min/{1.73_m2}", "2026-11-01")], "E11")
        == "not-met"
    )
    a = assess(res + no_creat + [obs("33914-3", 29.9, "mL/min/1.73m2", "2026-11-01", ucum=False)])
    assert a.criterion("E11").status == "met" and "MDRD" in a.criterion("E11").reason
    a = assess(res + no_creat + [obs("98979-8", 25, "mL/min/{1.73_m2}", "2026-11-01")])
    assert a.criterion("E11").status == "met" and "not MDRD" in a.criterion("E11").reason


def test_e11_mdrd_race_unknown_straddles_threshold() -> None:
    # female, 51, creatinine 1.85 mg/dL: non-Black 27.9, Black 33.8 → cannot decide without race
    res = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] == "2469-5"
    ]
    labs = full_labs(creat=obs("2160-0", 1.85, "mg/dL", "2026-11-01"))
    assert assess(res + labs).criterion("E11").status == "unknown"
    assert assess(replace_patient(res, black=True) + labs).criterion("E11").status == "not-met"
    assert assess(replace_patient(res, black=False) + labs).criterion("E11").status == "met"
    # no sex: MDRD cannot be computed
    assert assess(replace_patient(res, gender=None) + labs).criterion("E11").status == "unknown"


def test_unusable_data_is_said() -> None:
    res = candidate_resources() + [
        igg4(5000, "2019-01-01", status="entered-in-error"),
        igg4(5000, None),  # type: ignore[arg-type]
        igg4(5, "2026-11-01", unit="mmol/L"),
        obs("99999-9", 1, "mg/L", "2026-11-01"),
    ]
    a = assess(res)
    issues = " | ".join(a.data_issues)
    assert "entered-in-error" in issues
    assert "no usable date (effective[x] or issued)" in issues
    assert "mmol/L" in issues
    assert "99999-9" in issues and "not recognised" in issues
    assert a.criterion("I3").reason.startswith("baseline IgG4 2350")  # the 5000s were not used


def test_local_igg4_code_matched_by_text() -> None:
    res = [r for r in candidate_resources() if r.get("effectiveDateTime") != "2026-10-15"]
    local = obs("X", 800, "mg/L", "2026-10-15")
    local["code"] = {
        "coding": [
            {
                "system": "http://hospital.example.org/lab",
                "code": "IGG4S",
                "display": "IgG4 subclass, serum",
            }
        ]
    }
    assert status_of(res + [local], "I5") == "met"
    ratio = obs("X", 8, "%", "2026-10-15")
    ratio["code"] = {"text": "IgG4/IgG ratio"}
    assert status_of(res + [ratio], "I5") == "unknown"


def test_as_of_default_is_today() -> None:
    from cds_service.eligibility import assess_resources

    assert assess_resources(candidate_resources()).as_of == date.today()
    assert AS_OF.isoformat() == "2026-11-24"


def test_unreadable_results_that_could_change_the_answer_make_it_unknown() -> None:
    base = candidate_resources()
    # E11: the latest Hb in the window has a unit we cannot convert; the older one is not used
    labs_only = [
        r
        for r in base
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] == "2469-5"
    ]
    hidden_hb = full_labs(hb=obs("718-7", 12.0, "g/dL", "2026-10-01")) + [
        obs("718-7", 7.0, "bananas", "2026-11-10", ucum=False)
    ]
    a = assess(labs_only + hidden_hb)
    assert (
        a.criterion("E11").status == "unknown" and "could not be read" in a.criterion("E11").reason
    )
    # I3: baseline 1300 mg/L, but an earlier IgG4 with no readable unit might have been higher
    no_igg4 = [
        r
        for r in base
        if not (r["resourceType"] == "Observation" and r["code"]["coding"][0]["code"] == "2469-5")
    ]
    res = no_igg4 + [
        igg4(1300, "2020-01-15"),
        igg4(9, "2019-06-01", unit="mmol/L"),
        igg4(100, "2022-01-01"),
        igg4(500, "2026-10-15"),
    ]
    assert status_of(res, "I3") == "unknown"
    assert (
        status_of(
            no_igg4 + [igg4(1300, "2020-01-15"), igg4(100, "2022-01-01"), igg4(500, "2026-10-15")],
            "I3",
        )
        == "not-met"
    )
    # I5: a later IgG4 than the last readable one could not be read
    assert status_of(base + [igg4(5, "2026-11-01", unit="mmol/L")], "I5") == "unknown"
    # entered-in-error is excluded, not unreadable: it changes nothing
    assert status_of(base + [igg4(50, "2026-11-01", status="entered-in-error")], "I5") == "met"


def test_unreadable_resource_types_turn_absences_into_unknowns() -> None:
    from cds_service.eligibility import assess_resources, load_params

    res = candidate_resources()
    params = load_params(None)
    a = assess_resources(
        res, as_of=AS_OF, params=params, unavailable={"Condition": "no read scope"}
    )
    by_id = {c.id: c for c in a.criteria}
    assert by_id["I1"].status == "met"  # a diagnosis found stays found
    assert by_id["I5"].status == "unknown"  # a relapse Condition might exist
    assert (
        by_id["E5"].status == "unknown"
        and "Condition could not be read (no read scope)" in by_id["E5"].reason
    )
    assert by_id["E11"].status == "not-met"  # reads Observations only
    assert a.status == "needs-review"
    assert "Condition: could not be read (no read scope)" in a.data_issues
    # a presence-based exclusion stays met
    a = assess_resources(
        [*res, cond("B20")], as_of=AS_OF, params=params, unavailable={"Observation": "timeout"}
    )
    assert a.criterion("E3").status == "met" and a.status == "ineligible"
    assert a.criterion("E11").status == "unknown"


def test_a_result_without_a_value_hides_nothing() -> None:
    """A later Hb with a dataAbsentReason (e.g. haemolysed) is reported, and the previous Hb in the
    window decides; a later Hb with an unconvertible unit makes E11 unknown."""
    labs_only = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] == "2469-5"
    ]
    absent = obs("718-7", None, None, "2026-11-10", dataAbsentReason={"text": "haemolysed"})
    a = assess(labs_only + full_labs() + [absent])
    assert a.criterion("E11").status == "not-met"
    assert any("no value" in i for i in a.data_issues)


def test_unreadable_data_is_said_even_where_the_answer_was_already_unknown() -> None:
    """issue 11: a failed Observation search is the truth for I3, I5 and E11, not "no result"."""
    from cds_service.eligibility import assess_resources, load_params

    # no IgG4 at all and no labs: I3, I5, E11 (and E1) are unknown for want of results
    res = [r for r in candidate_resources() if r["resourceType"] != "Observation"]
    a = assess_resources(
        res, as_of=AS_OF, params=load_params(None), unavailable={"Observation": "timeout"}
    )
    for cid in ("I3", "I5", "E1", "E11"):
        c = a.criterion(cid)
        assert c.status == "unknown"
        assert c.reason.startswith("Observation could not be read (timeout); from the rest:"), c
    # E6 (always unknown) reads Conditions: it says so when they could not be read
    a = assess_resources(
        candidate_resources(), as_of=AS_OF, params=load_params(None),
        unavailable={"Condition": "no read scope"},
    )  # fmt: skip
    assert a.criterion("E6").reason.startswith("Condition could not be read (no read scope)")
    # what reads nothing unreadable is untouched; what more data could not overturn stands
    assert a.criterion("I6").reason == "obtained at the screening visit"
    assert a.criterion("I1").status == "met" and "could not be read" not in a.criterion("I1").reason
