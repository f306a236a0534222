"""docs/criteria.md, "Readings of messy data": one test (or more) per reading, on small records.

The candidate of builders.candidate_resources: prednisone from 2020-02-01, IgG4 2350 (2020-01-15,
baseline) → 400 (2022-01-15, nadir) → 800 mg/L (2026-10-15, current); line 0.30 × 2350 = 705.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from cds_service.eligibility import BundleError, assess_bundle, assess_resources
from cds_service.eligibility.api import bundle_resources
from cds_service.eligibility.interval import Interval, ge, gt, highest, le, lowest, lt, point

from .builders import (
    AS_OF,
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


def _is_igg4(res: dict[str, Any]) -> bool:
    return res["resourceType"] == "Observation" and res["code"]["coding"][0]["code"] == "2469-5"


def without_igg4() -> list[dict[str, Any]]:
    return [r for r in candidate_resources() if not _is_igg4(r)]


def censored(value: float, comparator: str, day: str, unit: str = "mg/L") -> dict[str, Any]:
    res = igg4(value, day, unit=unit)
    res["valueQuantity"]["comparator"] = comparator
    return res


def string_value(loinc: str, text: str, day: str) -> dict[str, Any]:
    res = obs(loinc, None, None, day)
    res["valueString"] = text
    return res


# --- intervals ------------------------------------------------------------------------------
def test_interval_comparisons_are_three_valued() -> None:
    below70 = Interval.of(Decimal(70), "<")
    assert lt(below70, point(Decimal(70))) is True  # every value < 70
    assert lt(below70, point(Decimal(69))) is None  # 69.5 is not, 10 is
    assert ge(below70, point(Decimal(705))) is False
    over3000 = Interval.of(Decimal(3000), ">")
    assert gt(over3000, point(Decimal(1400))) is True
    assert gt(over3000, point(Decimal(3000))) is True  # > 3000 is strictly above 3000
    assert gt(Interval.of(Decimal(3000), ">="), point(Decimal(3000))) is None
    assert le(Interval.of(Decimal("7.5"), "<="), point(Decimal("7.5"))) is True
    # the highest of 300 and <500 is somewhere in [300, 500); of >1000 and 1500, at least 1500
    top = highest([point(Decimal(300)), Interval.of(Decimal(500), "<")])
    assert (top.lo, top.hi, top.hi_open) == (300, 500, True)
    top = highest([Interval.of(Decimal(1000), ">"), point(Decimal(1500))])
    assert top.lo == 1500 and not top.lo_open and gt(top, point(Decimal(1400))) is True
    low = lowest([point(Decimal(300)), Interval.of(Decimal(70), "<")])
    assert (low.lo, low.hi) == (0, 70)


# --- censored values ------------------------------------------------------------------------
def test_censored_baseline_above_the_limit_meets_i3() -> None:
    """'>3000 mg/L as baseline is > 1400 (I3 met)'; its line is >900, so a current 1000 is
    undecided, a current 880 is below the whole line."""
    res = without_igg4() + [
        censored(3000, ">", "2020-01-15"),
        igg4(400, "2022-01-15"),
        igg4(1000, "2026-10-15"),
    ]
    a = assess(res)
    assert a.criterion("I3").status == "met"
    assert ">3000 mg/L" in a.criterion("I3").reason
    assert a.criterion("I5").status == "unknown"
    assert "undecided" in a.criterion("I5").reason and ">900" in a.criterion("I5").reason
    res[-1] = igg4(880, "2026-10-15")
    assert status_of(res, "I5") == "not-met"  # 880 < every line above 900
    assert a.igg4["baseline"]["comparator"] == ">" and a.igg4["thresholdComparator"] == ">"
    assert a.igg4["threshold"] == 900.0


def test_censored_baseline_below_the_limit() -> None:
    res = without_igg4() + [
        censored(1000, "<", "2020-01-15"),
        igg4(100, "2022-01-15"),
        igg4(800, "2026-10-15"),
    ]
    assert status_of(res, "I3") == "not-met"
    res[-3] = censored(1400, "<=", "2020-01-15")
    assert status_of(res, "I3") == "not-met"  # ≤ 1400 is never > 1400
    res[-3] = censored(1400, ">=", "2020-01-15")
    assert status_of(res, "I3") == "unknown"  # 1400 itself is not > 1400, 1401 is


def test_censored_current_is_the_latest_and_below_the_line() -> None:
    """'a current IgG4 of <70 mg/L is below any re-elevation line (I5 not-met by the value)'; the
    older readable 800 is not current any more (today I5 was unknown: issue 11)."""
    res = candidate_resources() + [censored(70, "<", "2026-11-01")]
    a = assess(res)
    assert a.criterion("I5").status == "not-met"
    assert "current <70" in a.criterion("I5").reason
    assert a.igg4["current"] == {
        "date": "2026-11-01",
        "value": 70.0,
        "comparator": "<",
        "ref": res[-1]["resourceType"] + "/" + res[-1]["id"],
    }
    assert not any("censored" in i for i in a.data_issues)


def test_censored_nadir() -> None:
    # a nadir of <70 is below any line (705); current 800 ≥ 705: met by fraction-of-baseline
    res = without_igg4() + [
        igg4(2350, "2020-01-15"),
        censored(70, "<", "2022-01-15"),
        igg4(800, "2026-10-15"),
    ]
    a = assess(res)
    assert a.criterion("I5").status == "met"
    # ratio-vs-nadir: 800 ≥ 1.3 × (<70) = <91: met too; rise-vs-baseline: 800 − <70 > 730 ≥ 705
    assert "disagree" not in a.criterion("I5").reason


def test_censored_string_values_of_a_lab() -> None:
    """A lab's own format: ">60" (eGFR, no unit: its unit is not in doubt) is ≥ 30."""
    labs_no_creat = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] != "2160-0"
    ]
    a = assess(labs_no_creat + [string_value("77147-7", ">60", "2026-11-01")])
    assert a.criterion("E11").status == "not-met"
    assert ">60 mL/min/{1.73_m2}" in a.criterion("E11").reason
    a = assess(labs_no_creat + [string_value("77147-7", "<15", "2026-11-01")])
    assert a.criterion("E11").status == "met"
    a = assess(labs_no_creat + [string_value("77147-7", "<45", "2026-11-01")])
    assert a.criterion("E11").status == "unknown"  # 20 or 40: either side of 30
    # a string with its unit; a unitless string for an analyte whose unit is in doubt
    hb = full_labs(hb=string_value("718-7", "< 7.0 g/dL", "2026-11-01"))
    assert status_of([r for r in candidate_resources() if not _lab(r)] + hb, "E11") == "met"
    hb = full_labs(hb=string_value("718-7", "<7", "2026-11-01"))
    a = assess([r for r in candidate_resources() if not _lab(r)] + hb)
    assert a.criterion("E11").status == "unknown"  # the latest Hb could not be read
    assert any("'<7' has no unit" in i for i in a.data_issues)


def _lab(res: dict[str, Any]) -> bool:
    return res["resourceType"] == "Observation" and not _is_igg4(res)


def test_censored_labs_in_e11() -> None:
    base = [r for r in candidate_resources() if not _lab(r)]
    alt = obs("1742-6", 1000, "U/L", "2026-11-01")
    alt["valueQuantity"]["comparator"] = ">"
    assert status_of(base + full_labs(alt=alt), "E11") == "met"  # > 1000 > 80
    creat = obs("2160-0", 0.5, "mg/dL", "2026-11-01")
    creat["valueQuantity"]["comparator"] = "<"
    a = assess(base + full_labs(creat=creat))
    assert a.criterion("E11").status == "not-met"  # creatinine < 0.5: eGFR > MDRD(0.5) ≥ 30
    assert "eGFR (MDRD, from creatinine <0.5 mg/dL" in a.criterion("E11").reason
    creat = obs("2160-0", 10, "mg/dL", "2026-11-01")
    creat["valueQuantity"]["comparator"] = ">"
    assert status_of(base + full_labs(creat=creat), "E11") == "met"  # eGFR < MDRD(10) < 30


def test_censored_hcg() -> None:
    woman = candidate_resources()
    for comparator, value, expected in (
        ("<", 5, "not-met"),
        (">", 25, "met"),
        ("<", 25, "unknown"),
    ):
        hcg = obs("21198-7", value, "m[IU]/mL", "2026-11-10")
        hcg["valueQuantity"]["comparator"] = comparator
        assert status_of(woman + [hcg], "E10") == expected, (comparator, value)


# --- dates ----------------------------------------------------------------------------------
def test_issued_dates_a_result_without_effective() -> None:
    res = without_igg4() + [igg4(2350, "2020-01-15"), igg4(400, "2022-01-15")]
    current = igg4(800, None)  # type: ignore[arg-type]
    current["issued"] = "2026-10-15T09:30:00+08:00"
    a = assess([*res, current])
    assert a.criterion("I5").status == "met"
    assert "(2026-10-15, issued)" in a.criterion("I5").reason
    # issued after asOf is after asOf
    current["issued"] = "2026-11-25T09:30:00Z"
    assert status_of([*res, current], "I5") == "unknown"


@pytest.mark.parametrize(
    ("effective", "inside"),
    [
        ("2026-05-28T01:00:00+09:00", True),  # 27 May in UTC, 28 May (180 days) where drawn
        ("2026-05-27T23:30:00-05:00", False),  # 28 May in UTC, 27 May (181 days) where drawn
        ("2026-05-28", True),
    ],
)
def test_windows_are_inclusive_by_the_results_own_calendar_date(
    effective: str, inside: bool
) -> None:
    res = without_igg4() + [igg4(2350, "2020-01-15"), igg4(400, "2022-01-15"), igg4(800, effective)]
    assert status_of(res, "I5") == ("met" if inside else "unknown")


def test_effective_period_start_dates_a_result() -> None:
    current = igg4(800, None)  # type: ignore[arg-type]
    current["effectivePeriod"] = {"start": "2026-10-15T08:00:00Z", "end": "2026-10-16T08:00:00Z"}
    current["issued"] = "2026-12-01T00:00:00Z"  # effective[x] wins over issued
    res = without_igg4() + [igg4(2350, "2020-01-15"), igg4(400, "2022-01-15"), current]
    assert status_of(res, "I5") == "met"


# --- therapy status -------------------------------------------------------------------------
@pytest.mark.parametrize("status", ["stopped", "completed", "cancelled", "not-taken"])
def test_therapy_status_wins_over_its_period(status: str) -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "MedicationRequest"]
    statement = med(
        "prednisone", kind="MedicationStatement", status=status, period=("2020-02-01", "2027-12-31")
    )
    a = assess([*base, statement])
    assert a.criterion("I5").status == "not-met"
    assert "no active maintenance therapy" in a.criterion("I5").reason
    if status in ("stopped", "completed"):  # it was given: it still dates the treatment start
        assert a.criterion("I3").status == "met"


@pytest.mark.parametrize(
    "name",
    [
        "Iguratimod 25 mg tablet",
        "艾拉莫德 25mg 口服 每日两次",
        "艾拉莫德片 25mg",  # "tablet" written on, as Chinese records do: no word boundary
        "口服艾拉莫德",
        "T-614 (iguratimod)",
    ],
)
def test_iguratimod_is_maintenance_therapy_by_name(name: str) -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "MedicationRequest"]
    a = assess([*base, med("prednisone", status="completed"), med(name)])
    assert a.criterion("I5").status == "met"
    assert "iguratimod" in a.criterion("I5").reason


def test_rituximab_is_maintenance_therapy() -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "MedicationRequest"]
    a = assess([*base, med("prednisone", status="completed"), med("Rituximab 500 mg infusion")])
    assert a.criterion("I5").status == "met" and "rituximab" in a.criterion("I5").reason


# --- HCV ------------------------------------------------------------------------------------
HCV_AB, HCV_RNA = "16128-1", "11259-9"
POSITIVE, NOT_DETECTED = "10828004", "260415000"


@pytest.mark.parametrize(
    ("rna_day", "expected"),
    [
        ("2026-10-01", "not-met"),
        ("2026-10-20", "not-met"),
        ("2026-09-30", "unknown"),
        (None, "unknown"),
    ],
)
def test_hcv_antibody_with_later_or_same_day_rna_not_detected_is_cleared(
    rna_day: str | None, expected: str
) -> None:
    res = [*candidate_resources(), coded_obs(HCV_AB, POSITIVE, "2026-10-01")]
    if rna_day is not None:
        res.append(coded_obs(HCV_RNA, NOT_DETECTED, rna_day))
    assert status_of(res, "E3") == expected
    # a viral load below the limit of detection is "not detected" too
    load = obs("11011-4", 15, "[IU]/mL", "2026-10-02")
    load["valueQuantity"]["comparator"] = "<"
    res = [*candidate_resources(), coded_obs(HCV_AB, POSITIVE, "2026-10-01"), load]
    assert status_of(res, "E3") == "not-met"


# --- MDRD without sex -----------------------------------------------------------------------
@pytest.mark.parametrize("gender", ["other", "unknown", None])
def test_mdrd_without_sex_falls_back_to_reported_egfr(gender: str | None) -> None:
    res = [patient(gender=gender)] + [
        r for r in candidate_resources() if r["resourceType"] != "Patient"
    ]
    a = assess(res + [obs("77147-7", 55, "mL/min/{1.73_m2}", "2026-11-01")])
    e11 = a.criterion("E11")
    assert e11.status == "not-met"
    assert "MDRD needs sex" in e11.reason and "the reported eGFR is used" in e11.reason
    a = assess(res)  # the creatinine alone: eGFR cannot be had, and the reason says why
    e11 = a.criterion("E11")
    assert e11.status == "unknown"
    assert "MDRD needs sex" in e11.reason and "no reported eGFR" in e11.reason


# --- PSC, WHO ICD-10 ------------------------------------------------------------------------
def test_psc_alone_is_not_major_organ_involvement() -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    a = assess([*base, cond("D89.84"), cond("K83.01")])
    assert a.criterion("I4").status == "not-met" and a.criterion("E2").status == "met"
    assert "PSC" in a.criterion("E7").reason or "K83.01" in a.criterion("E7").reason
    # PSC beside IgG4-related sclerosing cholangitis: the latter counts
    a = assess([*base, cond("D89.84"), cond("K83.01"), cond("K83.09")])
    assert a.criterion("I4").status == "met"


WHO = "http://hl7.org/fhir/sid/icd-10"


@pytest.mark.parametrize(
    ("code", "criterion", "expected"),
    [
        ("C50.9", "E4", "met"),
        ("D84.9", "E5", "met"),
        ("M32.9", "E7", "met"),
        ("F10.2", "E9", "met"),
        ("F17.2", "E9", "not-met"),
        ("O26.9", "E10", "met"),
        ("A15.0", "E3", "met"),
        ("K66.2", "I4", "met"),
    ],
)
def test_who_icd10_counts_like_icd10cm(code: str, criterion: str, expected: str) -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    # a recent onset: a pregnancy recorded as current since 2020 would be over (E10, pregnancy_max_days)
    recent = cond(code, system=WHO, onset="2026-09-01")
    assert status_of([*base, cond("D89.84"), recent], criterion) == expected


# --- bundles with urn:uuid fullUrls ---------------------------------------------------------
def transaction(resources: list[dict[str, Any]], drop_ids: bool = True) -> dict[str, Any]:
    """A transaction Bundle as EHR exports write it: urn:uuid fullUrls, references to them, and
    (here) no ids at all, the Patient's included."""
    urls = {f"{r['resourceType']}/{r['id']}": f"urn:uuid:00000000-0000-4000-8000-{i:012d}"
            for i, r in enumerate(resources)}  # fmt: skip

    def rewrite(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (urls.get(v, v) if k == "reference" and isinstance(v, str) else rewrite(v))
                for k, v in node.items()
                if not (drop_ids and k == "id")
            }
        if isinstance(node, list):
            return [rewrite(v) for v in node]
        return node

    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": urls[f"{r['resourceType']}/{r['id']}"],
                "resource": rewrite(r),
                "request": {"method": "POST", "url": r["resourceType"]},
            }
            for r in resources
        ],
    }


def test_resources_without_id_in_a_urn_uuid_bundle() -> None:
    res = candidate_resources()
    medication = {"resourceType": "Medication", "id": "med-aza", "code": {"text": "Azathioprine"}}
    aza = med("x", rid="aza-order")
    del aza["medicationCodeableConcept"]
    aza["medicationReference"] = {"reference": "Medication/med-aza"}
    bundle = transaction([*res, medication, aza])
    a = assess_bundle(bundle, as_of=AS_OF)
    patient_url = bundle["entry"][0]["fullUrl"]
    assert a.patient == patient_url
    assert a.status == "candidate", [(c.id, c.status, c.reason) for c in a.criteria]
    assert all(e.startswith("urn:uuid:") for c in a.criteria for e in c.evidence)
    assert a.criterion("I3").evidence[0] == bundle["entry"][3]["fullUrl"]  # the 2350 baseline
    assert "azathioprine" in a.criterion("I5").reason  # medicationReference resolved by fullUrl
    assert not any("no id" in i or "not found" in i for i in a.data_issues), a.data_issues
    # the same bundle with ids: the ids are cited, references by fullUrl still resolve
    a = assess_bundle(transaction([*res, medication, aza], drop_ids=False), as_of=AS_OF)
    assert a.patient == "Patient/p1" and "azathioprine" in a.criterion("I5").reason


def test_urn_uuid_reference_to_another_patient_is_not_used() -> None:
    other = {"resourceType": "Patient", "id": "p2"}
    hiv = cond("B20")
    hiv["subject"] = {"reference": "Patient/p2"}
    bundle = transaction([*candidate_resources(), other, hiv])
    with pytest.raises(BundleError):  # two Patients: which one is meant must be said
        assess_bundle(bundle, as_of=AS_OF)
    first = bundle["entry"][0]["fullUrl"]
    a = assess_resources(list(bundle_resources(bundle)), as_of=AS_OF, patient_ref=first)
    assert a.patient == first
    assert a.criterion("E3").status == "not-met"  # the HIV diagnosis is the other patient's
    assert any("belongs to another patient" in i for i in a.data_issues)


def test_resource_without_id_or_fullurl_is_cited_by_place() -> None:
    res = candidate_resources()
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in res],
    }
    del bundle["entry"][0]["resource"]["id"]  # the Patient: no id, no fullUrl
    a = assess_bundle(bundle, as_of=AS_OF)
    assert a.patient == "Patient/no-id-1" and a.status == "candidate"
    assert any("cited by its place" in i for i in a.data_issues)


# --- seen in a Synthea export ---------------------------------------------------------------
def test_urine_bilirubin_is_not_serum_total_bilirubin() -> None:
    """A urine dipstick (LOINC 5770-3, not in the value set) named "Bilirubin.total [...] in Urine"
    must not be matched by its name as serum total bilirubin: neither used (1 mg/dL) nor taken
    for an unreadable later bilirubin (a coded "Negative" made E11 unknown)."""
    quantity = obs("5770-3", 1, "mg/dL", "2026-11-10")
    quantity["code"]["coding"][0]["display"] = (
        "Bilirubin.total [Mass/volume] in Urine by Test strip"
    )
    coded = obs("5770-3", None, None, "2026-11-10")
    coded["code"]["coding"][0]["display"] = "Bilirubin.total [Presence] in Urine by Test strip"
    coded["valueCodeableConcept"] = {"text": "Negative"}
    for urine in (quantity, coded):
        a = assess([*candidate_resources(), urine])
        assert a.criterion("E11").status == "not-met"
        assert "TBil 10 umol/L (2026-11-01)" in a.criterion("E11").reason


def test_a_string_value_beyond_any_result_is_not_a_number() -> None:
    """'>' and 150 nines is not an eGFR: the same limit as a JSON number (no 1e999 in reasons)."""
    labs_no_creat = [
        r
        for r in candidate_resources()
        if r["resourceType"] != "Observation" or r["code"]["coding"][0]["code"] != "2160-0"
    ]
    a = assess([*labs_no_creat, string_value("77147-7", ">" + "9" * 150, "2026-11-01")])
    assert a.criterion("E11").status == "unknown"
    assert any("is not a number" in i for i in a.data_issues)


def test_lab_strings_sent_as_ucum_codes_are_read_as_meant() -> None:
    """Synthea sends ALT/AST as {system: UCUM, code: "IU/L"} (not UCUM) and platelets as
    {system: UCUM, code: "K/uL"} (kelvin per microlitre, to a UCUM parser): read as the lab meant."""
    base = [r for r in candidate_resources() if not _lab(r)]
    alt = obs("1742-6", 142.3, "IU/L", "2026-11-01")  # UCUM system with the non-UCUM code
    a = assess(base + full_labs(alt=alt))
    assert a.criterion("E11").status == "met" and "ALT 142.3 U/L" in a.criterion("E11").reason
    plt = obs("777-3", 250, "K/uL", "2026-11-01")
    a = assess(base + full_labs(plt=plt))
    assert a.criterion("E11").status == "not-met", a.criterion("E11").reason
    assert not a.data_issues
