"""Chinese laboratory names, clinical-edition ICD-10 codes and drug names (issue 14, items 2-4)."""

from __future__ import annotations

import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cds_service.eligibility import assess_bundle
from cds_service.screening.records import Selection
from fhir_mappings.facts import Coding
from fhir_mappings.valuesets import (
    ICD10,
    ICD10CM,
    Phrase,
    default_valuesets,
    icd10_stem,
    load_valuesets,
)

VS = default_valuesets()
CN = "http://hl7.org/fhir/sid/icd-10-cn"
CN_OID = "urn:oid:2.16.156.10011.2.3.3.11"
TWIN = (
    Path(__file__).resolve().parents[2] / "fixtures/chinese/02-candidate-mgdl-female-no-ri.zh.json"
)


# --- laboratory names -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "analyte"),
    [
        ("免疫球蛋白G4", "igg4"),
        ("IgG4亚类", "igg4"),
        ("血清IgG4", "igg4"),
        ("免疫球蛋白G亚类4", "igg4"),
        ("ＩｇＧ４", "igg4"),  # full-width
        ("血红蛋白", "hemoglobin"),
        ("血红蛋白(HGB)", "hemoglobin"),
        ("中性粒细胞绝对值", "neutrophils"),
        ("中性粒细胞计数", "neutrophils"),
        ("中性粒细胞", "neutrophils"),
        ("血小板计数", "platelets"),
        ("血小板", "platelets"),
        ("谷丙转氨酶", "alt"),
        ("丙氨酸氨基转移酶", "alt"),
        ("谷草转氨酶", "ast"),
        ("天冬氨酸氨基转移酶", "ast"),
        ("总胆红素", "bilirubin"),
        ("肌酐", "creatinine"),
        ("血清肌酐(酶法)", "creatinine"),
        ("乙肝表面抗原", "hbsag"),
        ("丙肝抗体", "hcv-ab"),
        ("HIV抗原抗体", "hiv"),
        ("结核感染T细胞检测", "igra"),
        ("尿妊娠试验", "hcg"),
        ("妊娠状态", "pregnancy-status"),
        ("IgG4 subclass, serum", "igg4"),  # the Latin names still work
    ],
)
def test_chinese_lab_names(name: str, analyte: str) -> None:
    assert VS.lab_for_text(name) == analyte


@pytest.mark.parametrize(
    "name",
    [
        "IgG4/IgG比值",  # a ratio
        "IgG4占总IgG比例",
        "IgG4百分比",
        "中性粒细胞百分比",  # a percentage, not the absolute count
        "中性粒细胞%",
        "中性粒细胞比率",
        "中性粒细胞/淋巴细胞比值",
        "抗中性粒细胞胞浆抗体",  # ANCA
        "糖化血红蛋白",  # HbA1c
        "平均红细胞血红蛋白含量",  # MCH
        "平均血小板体积",  # MPV
        "血小板分布宽度",  # PDW
        "谷草转氨酶/谷丙转氨酶比值",
        "线粒体天冬氨酸氨基转移酶",
        "直接胆红素",
        "尿总胆红素",  # a urine dipstick
        "尿肌酐",
        "内生肌酐清除率",
        "尿白蛋白/肌酐比值",
        "乙肝表面抗体",  # anti-HBs is not HBsAg
        "免疫球蛋白G",  # total IgG
    ],
)
def test_ratios_percentages_and_look_alikes_are_not_labs(name: str) -> None:
    assert VS.lab_for_text(name) is None


def test_latin_word_boundaries_are_unchanged() -> None:
    assert VS.lab_for_text("salt") is None
    assert VS.lab_for_text("Basalt") is None
    assert VS.lab_for_text("ALT") == "alt"
    assert VS.lab_for_text("ALT(谷丙转氨酶)") == "alt"


@pytest.mark.parametrize(
    ("text", "finding"),
    [
        ("阴性", "negative"),
        ("阴性(-)", "negative"),
        ("阳性(+)", "positive"),
        ("弱阳性", "indeterminate"),
        ("未检出", "negative"),
        ("检出", "positive"),
        ("未妊娠", "not-pregnant"),
        ("妊娠", "pregnant"),
    ],
)
def test_chinese_coded_results(text: str, finding: str) -> None:
    assert VS.finding_of((), text) == finding


# --- a site's LIS codes -----------------------------------------------------------------------

SITE_FILE = """
labs:
  igg4:
    other:
      - {system: "http://pumch.example.cn/lis", code: "10086"}
  hemoglobin:
    other:
      - {system: "http://pumch.example.cn/lis", code: "1001"}
icd10_clinical_systems:
  - "http://pumch.example.cn/fhir/CodeSystem/icd10"
"""


def site_valuesets(tmp_path: Path) -> Any:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_FILE, encoding="utf-8")
    return load_valuesets(extra=path)


def test_site_file_adds_lis_codes(tmp_path: Path) -> None:
    vs = site_valuesets(tmp_path)
    assert vs.lab_for_coding("http://pumch.example.cn/lis", "10086") == "igg4"
    assert vs.lab_for_coding("http://pumch.example.cn/lis", "1001") == "hemoglobin"
    assert vs.lab_for_coding("http://loinc.org", "2469-5") == "igg4"  # added, not replaced
    assert VS.lab_for_coding("http://pumch.example.cn/lis", "10086") is None
    # the bulk screen selects patients by the site's IgG4 code too
    tokens = Selection.from_valuesets(vs).observation_tokens
    assert ("http://pumch.example.cn/lis", "10086") in tokens


def test_site_file_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "site.yaml"
    path.write_text(SITE_FILE, encoding="utf-8")
    monkeypatch.setenv("IGG4_CDS_VALUESETS", str(path))
    assert load_valuesets().lab_for_coding("http://pumch.example.cn/lis", "10086") == "igg4"


def test_site_lis_code_without_a_name_decides_igg4(tmp_path: Path) -> None:
    bundle = json.loads(TWIN.read_text(encoding="utf-8"))
    for entry in bundle["entry"]:
        res = entry["resource"]
        if res["resourceType"] == "Observation" and res["code"]["coding"][0]["code"] == "IGG4":
            res["code"] = {"coding": [{"system": "http://pumch.example.cn/lis", "code": "10086"}]}
    unnamed = assess_bundle(bundle, as_of=date(2026, 11, 24)).to_dict()
    i3 = next(c for c in unnamed["criteria"] if c["id"] == "I3")
    assert i3["status"] == "unknown"  # a bare local code is not recognised...
    site = assess_bundle(bundle, as_of=date(2026, 11, 24), valuesets=site_valuesets(tmp_path))
    assert site.to_dict()["status"] == "candidate"  # ...until the site's value-set file adds it


# --- clinical-edition ICD-10 ------------------------------------------------------------------


def concepts(
    system: str, code: str, display: str | None = None, text: str | None = None
) -> set[str]:
    return set(VS.concepts_of(VS.conditions, [Coding(system, code, display)], text))


@pytest.mark.parametrize(
    ("code", "stem"),
    [
        ("D89.800x011", "D898"),
        ("C25.900x001", "C259"),
        ("C61.x00", "C61"),
        ("K86.100", "K861"),
        ("N12.x00x002", "N12"),
        ("A15.000x001", "A150"),
    ],
)
def test_stem(code: str, stem: str) -> None:
    assert icd10_stem(code) == stem


@pytest.mark.parametrize("system", [CN, CN_OID])
def test_igg4rd_under_d89_8_only_by_its_name(system: str) -> None:
    assert "igg4rd" not in concepts(system, "D89.800x011", "其他特指的免疫机制疾患")
    assert "igg4rd" not in concepts(system, "D89.800")
    assert "igg4rd" in concepts(system, "D89.800x011", "IgG4相关性疾病")
    assert "igg4rd" in concepts(system, "D89.800x011", None, "IgG4相关性疾病")
    assert "igg4rd" in concepts(system, "D89.800x011", "IgG4-related disease")
    assert "igg4rd" in concepts(system, "D89.800", None, "IgG4相关疾病(胰腺、颌下腺受累)")


@pytest.mark.parametrize(
    ("code", "display", "expected", "not_expected"),
    [
        ("C25.900x001", "胰腺恶性肿瘤", {"malignancy"}, set()),
        ("C61.x00", "前列腺恶性肿瘤", {"malignancy", "prostate-cancer"}, set()),
        ("C44.300x001", "面部皮肤恶性肿瘤", {"malignancy"}, {"skin-bcc-scc"}),
        ("C44.312", "面部皮肤恶性肿瘤", {"malignancy"}, {"skin-bcc-scc"}),  # 12: a serial, not SCC
        ("C44.300x002", "面部皮肤基底细胞癌", {"malignancy", "skin-bcc-scc"}, set()),
        ("D06.900", "宫颈原位癌", {"in-situ", "cervix-cis"}, set()),
        ("Z85.300", "乳腺恶性肿瘤个人史", {"malignancy-history"}, set()),
        ("D84.900", "免疫缺陷", {"immunodeficiency"}, set()),
        ("D89.800x011", "IgG4相关性疾病", {"igg4rd"}, {"immunodeficiency"}),
        ("M32.100x001", "系统性红斑狼疮", {"sle"}, set()),
        ("M05.900", "类风湿关节炎", {"ra"}, set()),
        ("M31.300", "肉芽肿性多血管炎", {"vasculitis"}, set()),
        ("D86.000", "肺结节病", {"sarcoidosis"}, set()),
        ("D76.300x001", "Rosai-Dorfman病", {"rosai-dorfman"}, set()),
        ("D47.700x001", "Castleman病", {"castleman"}, set()),
        ("B18.100x001", "慢性乙型病毒性肝炎", {"hbv"}, set()),
        ("B18.200", "慢性丙型病毒性肝炎", {"hcv"}, set()),
        ("B20.x00", "HIV病", {"hiv"}, set()),
        ("A15.000x001", "肺结核", {"tb-active"}, set()),
        ("Z22.700", "潜伏结核感染", {"tb-latent"}, set()),
        ("F10.200", "酒精依赖综合征", {"substance-abuse"}, set()),
        ("F17.200", "尼古丁依赖", set(), {"substance-abuse"}),
        ("O09.900", "高危妊娠监督", {"pregnancy"}, set()),
        ("Z33.x00", "妊娠状态", {"pregnancy"}, set()),
        ("Z39.100", "哺乳期", {"lactation"}, set()),
        ("K86.100x002", "自身免疫性胰腺炎", {"organ-pancreas"}, set()),
        ("K86.800x001", "胰腺其他特指的疾病", set(), {"organ-pancreas"}),  # K86.8 is not K86.89
        ("K66.200", "腹膜后纤维化", {"organ-retroperitoneum"}, set()),
        ("K83.000x003", "原发性硬化性胆管炎", {"psc"}, {"organ-bile-duct"}),  # K83.0 holds PSC
        ("K83.000x004", "IgG4相关性硬化性胆管炎", {"organ-bile-duct", "igg4rd"}, {"psc"}),
        ("N12.x00", "肾小管间质性肾炎", {"organ-kidney"}, set()),
        ("J32.900", "慢性鼻窦炎", {"organ-sinus"}, set()),
        ("G03.800x001", "肥厚性硬脑膜炎", {"organ-cns"}, set()),
        ("I50.900x007", "心力衰竭", {"severe-comorbidity"}, set()),
    ],
)
def test_clinical_edition_codes_read_by_stem(
    code: str, display: str, expected: set[str], not_expected: set[str]
) -> None:
    found = concepts(CN, code, display)
    assert expected <= found, found
    assert not found & not_expected, found


def test_who_system_reads_clinical_edition_form_by_stem() -> None:
    assert "igg4rd" not in concepts(ICD10, "D89.800x011")
    assert concepts(ICD10, "C25.900x001") == {"malignancy"}
    assert "skin-bcc-scc" in concepts(ICD10, "C44.31")  # the short form is read as before
    assert "pregnancy" in concepts(ICD10, "Z33")  # WHO Z33: pregnant state


def test_icd10_cm_is_read_as_before() -> None:
    assert "igg4rd" in concepts(ICD10CM, "D89.84")
    assert "pregnancy" not in concepts(ICD10CM, "Z33.2")  # CM: termination of pregnancy encounter
    assert "skin-bcc-scc" in concepts(ICD10CM, "C44.121")
    assert concepts(ICD10CM, "T36.0X1A") == set()  # CM placeholders are not clinical-edition x


def test_a_long_code_is_read_but_not_remembered() -> None:
    from fhir_mappings.valuesets import _icd10_reading

    before = _icd10_reading.cache_info().currsize
    assert concepts(CN, "C25.9" + "0" * 10_000) == {"malignancy"}
    assert _icd10_reading.cache_info().currsize == before


def test_clinical_edition_systems_are_configurable(tmp_path: Path) -> None:
    local = "http://pumch.example.cn/fhir/CodeSystem/icd10"
    assert concepts(local, "C25.900x001") == set()  # an unknown system is not ICD-10
    vs = site_valuesets(tmp_path)
    assert CN in vs.icd10_clinical_systems  # the packaged systems stay
    found = vs.concepts_of(vs.conditions, [Coding(local, "C25.900x001", None)], None)
    assert found == {"malignancy"}


# --- drug names -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "ingredients"),
    [
        ("醋酸泼尼松片", {"prednisone"}),
        ("强的松", {"prednisone"}),
        ("醋酸泼尼松龙片", {"prednisolone"}),  # 泼尼松 inside 泼尼松龙 is prednisolone's
        ("甲泼尼龙片", {"methylprednisolone"}),
        ("注射用甲泼尼龙琥珀酸钠", {"methylprednisolone"}),
        ("甲基强的松龙", {"methylprednisolone"}),
        ("地塞米松磷酸钠注射液", {"dexamethasone"}),
        ("吗替麦考酚酯胶囊", {"mycophenolate mofetil"}),
        ("霉酚酸酯", {"mycophenolate mofetil"}),  # 霉酚酸 inside 霉酚酸酯 is MMF's
        ("霉酚酸", {"mycophenolic acid"}),
        ("麦考酚钠肠溶片", {"mycophenolic acid"}),
        ("注射用环磷酰胺", {"cyclophosphamide"}),
        ("硫唑嘌呤片", {"azathioprine"}),
        ("甲氨蝶呤片", {"methotrexate"}),
        ("来氟米特片", {"leflunomide"}),
        ("他克莫司胶囊", {"tacrolimus"}),
        ("环孢素软胶囊", {"cyclosporine"}),
        ("利妥昔单抗注射液", {"rituximab"}),
        ("托珠单抗注射液", {"tocilizumab"}),
        ("艾拉莫德片", {"iguratimod"}),
        ("泼尼松 5mg + 硫唑嘌呤 50mg", {"prednisone", "azathioprine"}),
        ("氢化可的松", set()),  # hydrocortisone is not among codes.md table 4's ingredients
        ("mycophenolate mofetil 500 mg", {"mycophenolate mofetil"}),
        ("Prednisone 5 MG Oral Tablet", {"prednisone"}),
    ],
)
def test_chinese_drug_names(text: str, ingredients: set[str]) -> None:
    assert VS.ingredients_in_text(text) == ingredients


def test_every_ingredient_has_a_chinese_name() -> None:
    for ingredient in VS.ingredients.values():
        assert any(any("\u4e00" <= ch <= "\u9fff" for ch in p.pattern) for p in ingredient.names), (
            ingredient.name
        )


# --- the phrase matcher is the old regular expression for Latin text ---------------------------

LATIN_PHRASES = sorted(
    {
        p.pattern
        for group in (VS.labs, VS.conditions, VS.findings, VS.procedures, VS.body_sites)
        for m in group.values()
        for p in m.text
        if p.pattern.isascii()
    }
    | {p.pattern for ing in VS.ingredients.values() for p in ing.names if p.pattern.isascii()}
)


@settings(max_examples=300, deadline=None)
@given(
    phrase=st.sampled_from(LATIN_PHRASES),
    before=st.text(alphabet="ab _-/1é(", max_size=3),
    after=st.text(alphabet="ab _-/1é)", max_size=3),
    repeat=st.integers(min_value=1, max_value=3),
)
def test_phrase_matches_like_the_word_bounded_regex(
    phrase: str, before: str, after: str, repeat: int
) -> None:
    text = (before + phrase + after) * repeat
    old = re.compile(r"(?<![\w])" + re.escape(phrase) + r"(?![\w])")
    new = Phrase(phrase)
    assert list(new.spans(text)) == [m.span() for m in old.finditer(text)]
    assert (new.search(text) is None) == (old.search(text) is None)


def test_memoised_identification_gives_the_first_answer_again() -> None:
    from fhir_mappings.extract import build_record

    fixtures = sorted((Path(__file__).resolve().parents[2] / "fixtures").glob("*/*.json"))
    bundles = [json.loads(p.read_text(encoding="utf-8")) for p in fixtures]
    bundles = [b for b in bundles if b.get("resourceType") == "Bundle" and "entry" in b]

    def facts(vs: Any) -> list[Any]:
        out = []
        for bundle in bundles:
            try:
                record = build_record([e["resource"] for e in bundle["entry"]], vs)
            except ValueError:
                continue
            out.append(
                (
                    [(lab.analyte, lab.matched_by) for lab in record.labs],
                    [(d.concepts, d.body_site_concepts) for d in record.diagnoses],
                    [t.ingredients for t in record.therapies],
                    [p.concepts for p in record.procedures],
                )
            )
        return out

    vs = load_valuesets()
    cold = facts(vs)
    assert facts(vs) == cold  # the memos are warm now
    assert vs.identified and vs._concepts_memo and vs._lab_memo
    foreign = dict(vs.conditions)  # not the value set's own mapping: computed, never remembered
    before = len(vs._concepts_memo)
    vs.concepts_of(foreign, [Coding(ICD10CM, "D89.84")], None)
    assert len(vs._concepts_memo) == before
