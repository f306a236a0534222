"""Conditions not in the value sets (docs/criteria.md, decided 2026-12-01): said, read, bounded.

A SNOMED CT (or local) code the curated lists do not hold must not read as "none recorded": the
Condition is reported in dataIssues, and when its name reads like an exclusion the criterion is
unknown. Each reading below failed on the engine before this change (it answered not-met).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from cds_service.eligibility import assess_resources, load_params
from cds_service.eligibility.uncertain import FAMILIES
from fhir_mappings.extract import UNRECOGNISED_LISTED
from fhir_mappings.valuesets import default_valuesets
from tests.engine.builders import (
    AS_OF,
    SNOMED,
    assess,
    candidate_resources,
    cond,
    obs,
    status_of,
)

LOCAL = "http://hospital.example.org/dx"
WHO = "http://hl7.org/fhir/sid/icd-10"


def local(name: str, **kw: Any) -> dict[str, Any]:
    """A Condition under a hospital's own code: only its name says what it is."""
    res = cond("X-1", system=LOCAL, text=name, **kw)
    res["code"]["coding"][0]["display"] = name
    return res


def sct(code: str, display: str, **kw: Any) -> dict[str, Any]:
    res = cond(code, system=SNOMED, **kw)
    res["code"]["coding"][0]["display"] = display
    return res


def families(name: str) -> set[str]:
    """The families a name alone reads like (no code of any family recognises it)."""
    found, _ = default_valuesets().reads_like((), name, frozenset())
    return set(found)


# --- which names are read, and which are not -----------------------------------------------
@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Malignant neoplasm of colon", {"malignancy"}),
        ("Adenocarcinoma of pancreas", {"malignancy"}),
        ("Triple-negative breast cancer", {"malignancy"}),  # "negative" alone is no veto
        ("Glioblastoma multiforme", {"malignancy"}),
        ("Diffuse large B-cell lymphoma", {"malignancy"}),
        ("Chronic lymphocytic leukaemia", {"malignancy"}),
        ("Suspected lung cancer", {"malignancy"}),
        ("History of malignant melanoma", {"malignancy"}),  # read, timed by its dates (E4)
        ("结肠恶性肿瘤", {"malignancy"}),
        ("肺癌待排", {"malignancy"}),
        ("Normal pregnancy", {"pregnancy"}),
        ("Pre-eclampsia", {"pregnancy"}),
        ("妊娠期糖尿病", {"pregnancy"}),
        ("哺乳期", {"lactation"}),
        ("Breastfeeding", {"lactation"}),
        ("Alcohol dependence syndrome", {"substance-abuse"}),
        ("Opioid use disorder", {"substance-abuse"}),
        ("History of cocaine abuse", {"substance-abuse"}),  # exclusion 9: a history of abuse
        ("Misuses drugs", {"substance-abuse"}),
        ("酒精依赖综合征", {"substance-abuse"}),
        ("阿片类药物依赖", {"substance-abuse"}),
        ("Alcoholic cirrhosis of liver", {"substance-abuse"}),
        ("HIV感染", {"infection"}),
        ("Chronic viral hepatitis B without delta agent", {"infection"}),
        ("慢性乙型病毒性肝炎", {"infection"}),
        ("Pulmonary tuberculosis", {"infection"}),
        ("Gram-negative sepsis", {"infection"}),
        ("脓毒症", {"infection"}),
        ("Common variable immunodeficiency", {"immunodeficiency"}),
        ("原发性免疫缺陷病", {"immunodeficiency"}),
        ("Sjögren's syndrome", {"rheumatic"}),
        ("Seronegative rheumatoid arthritis", {"rheumatic"}),
        ("Giant cell arteritis", {"rheumatic"}),
        ("干燥综合征", {"rheumatic"}),
        ("系统性红斑狼疮", {"rheumatic"}),
    ],
)
def test_names_that_read_like_an_exclusion(name: str, expected: set[str]) -> None:
    assert families(name) == expected


@pytest.mark.parametrize(
    "name",
    [
        "Family history of malignant neoplasm of breast",
        "FH: colon cancer",
        "Screening for malignant neoplasm of colon",
        "Benign neoplasm of colon",
        "IgG4-related inflammatory pseudotumour of orbit",
        "Malignant hypertension",
        "Neuroleptic malignant syndrome",
        "Colon cancer ruled out",
        "No evidence of malignancy",
        "Fear of cancer",
        "乳腺癌家族史",
        "恶性高血压",
        "胃癌前病变",
        "肿瘤标志物升高",
        "Not pregnant",
        "Pregnancy test negative",
        "Contraception to prevent pregnancy",
        "History of pregnancy",
        "Postpartum pre-eclampsia",
        "避孕咨询",
        "未孕",
        "Non-alcoholic fatty liver disease",
        "非酒精性脂肪性肝病",
        "Nicotine dependence, cigarettes",
        "Tobacco use disorder",
        "Fetal alcohol syndrome",
        "Victim of intimate partner abuse",
        "Drug allergy",
        "Latent tuberculosis",
        "History of pulmonary tuberculosis",
        "陈旧性肺结核",
        "Hepatitis B vaccination",
        "乙肝疫苗接种",
        "HIV antibody negative",
        "乙肝表面抗原阴性",
        "Aseptic meningitis",
        "Aseptic necrosis of femoral head",
        "Rheumatoid factor positive",
        "Lupus anticoagulant positive",
        "IgG4-related arteritis",
        "类风湿因子阳性",
        "Sprain of ankle",
        "Miscarriage in first trimester",
        "Drug overdose",
    ],
)
def test_look_alikes_are_not_read(name: str) -> None:
    assert families(name) == set()


def test_hiv_is_not_an_immunodeficiency_of_exclusion_5() -> None:
    assert families("Human immunodeficiency virus infection") == {"infection"}
    assert families("Acquired immune deficiency syndrome") == {"infection"}


def test_a_code_of_the_family_decides_instead_of_the_name() -> None:
    vs = default_valuesets()
    found, _ = vs.reads_like((), "Malignant neoplasm of breast", frozenset({"malignancy"}))
    assert found == frozenset()  # decided by its code (E4's own rules), not read
    found, _ = vs.reads_like((), "Hepatocellular carcinoma", frozenset({"severe-comorbidity"}))
    assert found == {"malignancy"}  # a code of another family does not stop the reading


# --- criteria ------------------------------------------------------------------------------
def test_unlisted_snomed_malignancy_makes_e4_unknown_not_silently_not_met() -> None:
    res = candidate_resources()
    assert status_of(res, "E4") == "not-met"
    lung = sct("93880001", "Primary malignant neoplasm of lung (disorder)", onset="2025-03-01")
    a = assess([*res, lung])
    e4 = a.criterion("E4")
    assert e4.status == "unknown"
    assert "reads like a malignancy" in e4.reason and "93880001" in e4.reason
    assert "from the rest: no malignancy recorded" in e4.reason
    assert lung["id"] and f"Condition/{lung['id']}" in e4.evidence
    assert a.status == "needs-review"
    issue = next(i for i in a.data_issues if "93880001" in i)
    assert "not recognised; reads like a malignancy (E4)" in issue


def test_recognised_synthea_snomed_codes_decide() -> None:
    res = candidate_resources()
    for code, display, cid in [
        ("363406005", "Malignant tumor of colon", "E4"),
        ("254637007", "Non-small cell lung cancer (disorder)", "E4"),
        ("92691004", "Carcinoma in situ of prostate (disorder)", "E4"),
        ("7200002", "Alcoholism", "E9"),
        ("5602001", "Opioid abuse (disorder)", "E9"),
        ("62479008", "Acquired immune deficiency syndrome (disorder)", "E3"),
    ]:
        a = assess([*res, sct(code, display, onset="2024-01-01")])
        assert a.criterion(cid).status == "met", code
        assert not any(code in i for i in a.data_issues), code  # recognised: not reported
    pregnancy = sct("72892002", "Normal pregnancy", onset="2026-09-01")
    assert status_of([*res, pregnancy], "E10") == "met"


def test_undecided_codes_make_their_criterion_unknown() -> None:
    res = candidate_resources()
    for code, display, cid in [
        ("126906006", "Neoplasm of prostate", "E4"),
        ("162573006", "Suspected lung cancer (situation)", "E4"),
        ("361055000", "Misuses drugs (finding)", "E9"),
        ("10939881000119105", "Unhealthy alcohol drinking behavior (finding)", "E9"),
        ("91302008", "Sepsis (disorder)", "E3"),
        ("200936003", "Lupus erythematosus", "E7"),
    ]:
        c = assess([*res, sct(code, display, onset="2026-06-01")]).criterion(cid)
        assert c.status == "unknown", code
        assert "may be" in c.reason and "confirm" in c.reason, code


def test_a_met_exclusion_stays_met() -> None:
    res = candidate_resources()
    a = assess([*res, cond("C50.9"), local("Malignant neoplasm of pancreas")])
    assert a.criterion("E4").status == "met"
    a = assess([*res, cond("F10.20"), local("Substance use disorder")])
    assert a.criterion("E9").status == "met"


def test_e4_timing_of_a_malignancy_read_by_name() -> None:
    res = candidate_resources()
    old = local("Malignant neoplasm of colon", clinical="resolved", onset="2010-01-01",
                abatement="2011-01-01")  # fmt: skip
    assert status_of([*res, old], "E4") == "not-met"  # more than 5 years ago, not active
    dateless = local("Malignant neoplasm of colon", clinical="resolved", onset=None)
    assert status_of([*res, dateless], "E4") == "unknown"
    recent = local("Malignant neoplasm of colon", clinical="resolved", onset="2023-01-01",
                   abatement="2023-06-01")  # fmt: skip
    assert status_of([*res, recent], "E4") == "unknown"
    # "history of" is timed by its dates (as Z85 is), not by an "active" problem-list status
    history = local("History of malignant neoplasm of breast", onset="2009-05-01")
    assert status_of([*res, history], "E4") == "not-met"
    assert status_of([*res, local("Malignant neoplasm of colon", onset="2009-05-01")], "E4") == (
        "unknown"  # active: counts whatever its date
    )


def test_e3_reads_only_current_infections() -> None:
    res = candidate_resources()
    assert status_of([*res, local("Pulmonary tuberculosis, smear positive")], "E3") == "met"
    assert status_of([*res, local("Disseminated tuberculosis of lymph nodes")], "E3") == "met"
    hiv = local("HIV disease resulting in multiple infections")
    assert status_of([*res, hiv], "E3") == "unknown"
    resolved = local("Septic shock", clinical="resolved", abatement="2025-01-01")
    assert status_of([*res, resolved], "E3") == "not-met"
    assert status_of([*res, local("Septic shock")], "E3") == "unknown"


def test_e10_pregnancy_read_by_name_is_current_and_recent_lactation_any_time() -> None:
    res = candidate_resources()
    assert status_of([*res, local("妊娠期高血压", onset="2026-10-01")], "E10") == "unknown"
    assert status_of([*res, local("妊娠期高血压", onset="2024-10-01")], "E10") == "not-met"
    ended = local("Pregnancy, ectopic", onset="2026-10-01", clinical="resolved")
    assert status_of([*res, ended], "E10") == "not-met"
    assert status_of([*res, local("Lactating mother", onset="2024-10-01")], "E10") == "unknown"


def test_e10_a_pregnancy_current_for_decades_is_over() -> None:
    res = candidate_resources()
    stale = sct("72892002", "Normal pregnancy", onset="1959-04-02")
    e10 = assess([*res, stale]).criterion("E10")
    assert e10.status == "not-met"
    assert "since 1959-04-02, longer than a pregnancy lasts (300 days)" in e10.reason
    assert status_of([*res, stale], "E10", pregnancy_max_days=30000) == "met"  # a parameter


def test_e5_e7_e9_read_any_time() -> None:
    res = candidate_resources()
    old = {"clinical": "resolved", "onset": "1990-01-01", "abatement": "1991-01-01"}
    assert status_of([*res, local("X-linked agammaglobulinaemia", **old)], "E5") == "unknown"
    assert status_of([*res, local("Primary Sjögren syndrome", **old)], "E7") == "unknown"
    assert status_of([*res, local("Alcohol abuse, in remission", **old)], "E9") == "unknown"


def test_tentative_and_unreadable_conditions_keep_what_the_rest_says() -> None:
    res = candidate_resources()
    params = load_params(None)
    a = assess_resources(
        [*res, local("Malignant neoplasm of colon")],
        as_of=AS_OF,
        params=params,
        unavailable={"Procedure": "timeout"},
    )
    e4 = a.criterion("E4")
    assert e4.status == "unknown"
    assert "Procedure could not be read" in e4.reason and "reads like a malignancy" in e4.reason


def test_prostate_carcinoma_in_situ_takes_the_prostate_exception() -> None:
    res = candidate_resources()
    proc = {
        "resourceType": "Procedure",
        "id": "pr1",
        "status": "completed",
        "subject": {"reference": "Patient/p1"},
        "code": {
            "coding": [{"system": SNOMED, "code": "26294005"}],
            "text": "Radical prostatectomy",
        },
        "performedDateTime": "2022-03-01",
    }
    cis = sct("92691004", "Carcinoma in situ of prostate (disorder)", clinical="resolved",
              onset="2022-01-10", abatement="2022-03-01")  # fmt: skip
    assert status_of([*res, cis], "E4") == "met"  # within 5 years, no treatment recorded
    assert status_of([*res, cis, proc], "E4") == "not-met"  # prostatectomy > 3 years ago
    d075 = cond("D07.5", clinical="resolved", onset="2022-01-10", abatement="2022-03-01")
    assert status_of([*res, d075, proc], "E4") == "not-met"


# --- I4: WHO K83.0, Chinese body sites -------------------------------------------------------
@pytest.mark.parametrize(
    ("code", "system", "text", "expected"),
    [
        ("K83.0", WHO, "Cholangitis", "unknown"),
        ("K83.000x001", WHO, "胆管炎", "unknown"),  # clinical-edition long form under the WHO URI
        ("K83.0", "http://hl7.org/fhir/sid/icd-10-cn", "胆管炎", "unknown"),
        ("K83.0", WHO, "原发性硬化性胆管炎", "not-met"),  # PSC by name
        ("K83.0", WHO, "Primary sclerosing cholangitis", "not-met"),
        ("K83.0", WHO, "IgG4相关性硬化性胆管炎", "met"),  # sclerosing cholangitis by name
        ("K83.09", "http://hl7.org/fhir/sid/icd-10-cm", "Other cholangitis", "met"),
        (
            "K83.01",
            "http://hl7.org/fhir/sid/icd-10-cm",
            "Primary sclerosing cholangitis",
            "not-met",
        ),
    ],
)
def test_i4_who_k83_0_cannot_tell_igg4_sc_from_psc(
    code: str, system: str, text: str, expected: str
) -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    a = assess([*base, cond("D89.84"), cond(code, system=system, text=text)])
    assert a.criterion("I4").status == expected
    mirror = {"met": "not-met", "not-met": "met", "unknown": "unknown"}
    assert a.criterion("E2").status == mirror[expected]
    if expected == "unknown":
        assert "K83.0" in a.criterion("I4").reason


@pytest.mark.parametrize(
    ("site", "expected"),
    [
        ("胰腺", "met"),
        ("胰头", "met"),
        ("腹膜后", "met"),
        ("肝内胆管", "met"),
        ("双肺", "met"),
        ("左肾", "met"),
        ("上颌窦及鼻窦", "met"),
        ("中枢神经系统", "met"),
        ("垂体", "met"),
        ("胰周淋巴结", "not-met"),  # a lymph node beside the pancreas is not the pancreas
        ("肺门淋巴结", "not-met"),
        ("左肾上腺", "not-met"),  # the adrenal gland is not the kidney
        ("Peripancreatic lymph node", "not-met"),
        ("颌下腺", "not-met"),  # submandibular gland: not a major organ
    ],
)
def test_i4_chinese_body_sites(site: str, expected: str) -> None:
    base = [r for r in candidate_resources() if r["resourceType"] != "Condition"]
    assert status_of([*base, cond("D89.84", body_site=site)], "I4") == expected


@pytest.mark.parametrize("name", ["估算肾小球滤过率", "估算肾小球滤过率(CKD-EPI)", "eGFR(估算)"])
def test_e11_chinese_egfr_name(name: str) -> None:
    res = [r for r in candidate_resources() if "2160-0" not in str(r.get("code"))]
    res = [
        r for r in res if not (r["resourceType"] == "Observation" and "14682-9" in str(r["code"]))
    ]
    egfr = obs("X", 25, "mL/min/{1.73_m2}", "2026-11-01")
    egfr["code"] = {"coding": [{"system": "http://hospital.example.cn/lis", "code": "EGFR",
                                "display": name}]}  # fmt: skip
    e11 = assess([*res, egfr]).criterion("E11")
    assert e11.status == "met", e11.reason  # 25 < 30
    assert "reported eGFR" in e11.reason


def test_measured_gfr_is_not_egfr() -> None:
    vs = default_valuesets()
    assert vs.lab_for_text("肾小球滤过率") is None  # may be a measured GFR (isotope)
    assert vs.lab_for_text("估算肾小球滤过率") == "egfr-other"


# --- data issues: said, grouped, bounded -----------------------------------------------------
def test_unrecognised_conditions_are_said_once_per_code() -> None:
    res = candidate_resources()
    sprains = [sct("44465007", "Sprain of ankle", rid=f"sp{i}") for i in range(3)]
    a = assess([*res, *sprains])
    said = [i for i in a.data_issues if "44465007" in i]
    assert said == [
        "Condition/sp0 and 2 more: code http://snomed.info/sct|44465007 'Sprain of ankle' not"
        " recognised; not used"
    ]
    assert a.status == "candidate"  # said, and nothing else changes


def test_unrecognised_codes_are_bounded_in_number() -> None:
    res = candidate_resources()
    many = [
        sct(str(100000 + i), f"Local finding {i}", rid=f"lf{i}")
        for i in range(UNRECOGNISED_LISTED + 7)
    ]
    labs = [
        obs(f"9{i:04d}-0", 1, "mg/L", "2026-11-01", rid=f"lo{i}")
        for i in range(UNRECOGNISED_LISTED + 2)
    ]
    a = assess([*res, *many, *labs])
    conditions = [i for i in a.data_issues if i.startswith("Condition/lf")]
    assert len(conditions) == UNRECOGNISED_LISTED + 1
    assert conditions[-1].endswith("7 more Condition codes not recognised; not used")
    observations = [i for i in a.data_issues if i.startswith("Observation/lo")]
    assert len(observations) == UNRECOGNISED_LISTED + 1
    assert "2 more Observation codes not recognised" in observations[-1]


def test_quoted_data_text_is_bounded() -> None:
    """A hostile record cannot put a megabyte into every issue and reason that quotes it."""
    res = candidate_resources()
    big = "x" * 100_000
    odd = sct("C" * 5000, "Malignant neoplasm " + big, rid="big1")
    lab = obs("X", 1, "mg/L", "2026-11-01", rid="big2")
    lab["code"] = {"coding": [{"system": "http://l/" + big, "code": "9" * 5000, "display": big}]}
    text_only = obs("X", 1, "mg/L", "2026-11-01", rid="big3")
    text_only["code"] = {"text": "line one\nline two " + big}
    igg4_bad = obs("2469-5", 1, "mg/L", "2026-11-01", rid="big4", status="z" * 5000)
    cmp_bad = obs("2469-5", 1, "mg/L", "2026-11-01", rid="big5")
    cmp_bad["valueQuantity"]["comparator"] = "<" * 5000
    ver_bad = cond("C50.9", rid="big6")
    ver_bad["verificationStatus"] = {"text": "q" * 5000}
    rx = {
        "resourceType": "MedicationRequest", "id": "big7", "status": "active",
        "subject": {"reference": "Patient/p1"},
        "medicationReference": {"reference": "Medication/" + "m" * 5000},
    }  # fmt: skip
    site = cond("D89.84", rid="big8")
    site["bodySite"] = [{"coding": [{"system": SNOMED, "code": str(i), "display": big}]}
                        for i in range(50)]  # fmt: skip
    base = [r for r in res if r["resourceType"] != "Condition"]
    study = {
        "resourceType": "ResearchSubject", "id": "big9", "status": "on-study",
        "individual": {"reference": "Patient/p1"},
        "study": {"reference": "ResearchStudy/s1", "display": "Trial " + big},
    }  # fmt: skip
    a = assess([*res, odd, lab, text_only, igg4_bad, cmp_bad, ver_bad, rx, study])
    for line in [*a.data_issues, *(c.reason for c in a.criteria)]:
        assert len(line) < 2000, line[:200]
    a = assess([*base, site])  # I4 names the IgG4-RD sites it found (none major)
    assert a.criterion("I4").status == "not-met" and len(a.criterion("I4").reason) < 1000
    a = assess([*res, odd, lab, text_only, igg4_bad, cmp_bad, ver_bad, rx])
    for line in [*a.data_issues, *(c.reason for c in a.criteria)]:
        assert len(line) < 2000, line[:200]
        assert "\n" not in line
    assert any("…" in i and "big1" in i for i in a.data_issues)


def test_families_of_the_engine_and_the_value_sets_agree() -> None:
    path = Path(__file__).resolve().parents[2] / "fhir_mappings/valuesets/valuesets.yaml"
    hints = yaml.safe_load(path.read_text(encoding="utf-8"))["condition_hints"]
    engine = {f: fam.criterion for fam in FAMILIES for f in fam.reads}
    assert engine == {name: h["criterion"] for name, h in hints.items()}
