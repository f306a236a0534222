"""Unit normalisation and conversion (codes.md table 2)."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from fhir_mappings import units
from fhir_mappings.units import (
    UCUM_SYSTEM,
    UnitError,
    UnitSpec,
    conversion_factor,
    normalise_unit,
    normalise_unit_text,
)
from fhir_mappings.valuesets import default_valuesets

VS = default_valuesets()
FIXTURE = (
    Path(__file__).resolve().parents[2] / "fixtures/patients/02-candidate-mgdl-female-no-ri.json"
)


def factor(unit: str, analyte: str) -> Decimal:
    return conversion_factor(unit, VS.lab_units[analyte])


@pytest.mark.parametrize(
    ("unit", "analyte", "expected"),
    [
        ("mg/L", "igg4", "1"),
        ("mg/dL", "igg4", "10"),
        ("g/L", "igg4", "1000"),
        ("g/dL", "hemoglobin", "1"),
        ("g/L", "hemoglobin", "0.1"),
        ("10*3/uL", "neutrophils", "1"),
        ("10*9/L", "platelets", "1"),
        ("/uL", "platelets", "0.001"),
        ("10*6/uL", "platelets", "1000"),
        ("mg/dL", "creatinine", "1"),
        ("mg/dL", "bilirubin", "17.1"),
        ("U/L", "alt", "1"),
        ("[IU]/L", "ast", "1"),
        ("mL/min/{1.73_m2}", "egfr-mdrd", "1"),
    ],
)
def test_factors(unit: str, analyte: str, expected: str) -> None:
    assert factor(unit, analyte) == Decimal(expected)


def test_molar_conversions_use_the_codes_md_factors() -> None:
    # creatinine: µmol/L ÷ 88.4 = mg/dL (criteria.md MDRD)
    assert Decimal("88.4") * factor("umol/L", "creatinine") == pytest.approx(Decimal(1))
    assert Decimal("176.8") * factor("umol/L", "creatinine") == Decimal("2")
    # haemoglobin mmol/L -> g/dL: ÷ 0.6206
    assert (Decimal("6.206") * factor("mmol/L", "hemoglobin")).quantize(
        Decimal("0.001")
    ) == Decimal("10.000")


def test_decimal_arithmetic_keeps_thresholds_exact() -> None:
    # 1.40 g/L is exactly 1400 mg/L (a float would give 1400.0000000000002 > 1400)
    assert Decimal("1.40") * factor("g/L", "igg4") == Decimal(1400)
    assert Decimal("140.0") * factor("mg/dL", "igg4") == Decimal(1400)


@pytest.mark.parametrize(
    ("sent", "ucum"),
    [
        ("mg/dl", "mg/dL"),
        ("MG/DL", "mg/dL"),
        ("mg%", "mg/dL"),
        ("µmol/L", "umol/L"),
        ("μmol/l", "umol/L"),
        ("K/uL", "10*3/uL"),
        ("x10E3/uL", "10*3/uL"),
        ("10^9/L", "10*9/L"),
        ("cells/mm3", "/uL"),
        ("M/uL", "10*6/uL"),
        ("IU/L", "U/L"),
        ("ml/min/1.73m2", "mL/min/{1.73_m2}"),
    ],
)
def test_non_ucum_strings(sent: str, ucum: str) -> None:
    assert normalise_unit_text(sent) == ucum


def test_millions_are_not_milli() -> None:
    assert normalise_unit_text("M/uL") == "10*6/uL"
    assert normalise_unit_text("m/uL") != "10*6/uL"


def test_ucum_code_wins_over_unit_text() -> None:
    assert (
        normalise_unit(
            {
                "value": 1,
                "unit": "milligrams per decilitre",
                "system": "http://unitsofmeasure.org",
                "code": "mg/dL",
            }
        )
        == "mg/dL"
    )


def test_g_per_litre_is_a_count_only_for_counts() -> None:
    assert factor("G/L", "platelets") == Decimal(1)  # giga per litre
    assert factor("G/L", "igg4") == Decimal(1000)  # grams per litre


@pytest.mark.parametrize(
    ("unit", "analyte"),
    [
        ("mg/dL", "platelets"),  # a mass is not a count
        ("[IU]/L", "platelets"),  # international units are not cells
        ("mmol/L", "igg4"),  # no molar mass declared for IgG4
        ("foo", "igg4"),  # not UCUM
        ("U/L", "igg4"),
    ],
)
def test_refused(unit: str, analyte: str) -> None:
    with pytest.raises(UnitError):
        factor(unit, analyte)


def test_custom_spec() -> None:
    spec = UnitSpec("mg/L", "mass")
    assert conversion_factor("ug/mL", spec) == Decimal(1)


# --- Chinese and European spellings of counts (issue 14) ------------------------------------------


@pytest.mark.parametrize(
    ("sent", "ucum"),
    [
        ("×10⁹/L", "10*9/L"),
        ("×10^9/L", "10*9/L"),
        ("x10*9/L", "10*9/L"),
        ("10E9/L", "10*9/L"),
        ("10⁹/L", "10*9/L"),
        ("10~9/L", "10*9/L"),
        ("×10^9个/L", "10*9/L"),
        ("*10^12/L", "10*12/L"),
        ("×10¹²/L", "10*12/L"),
        ("×10³/μL", "10*3/uL"),
        ("X10^3/mm3", "10*3/uL"),
        ("ｇ／Ｌ", "g/L"),  # full-width forms
        ("μmol/L", "umol/L"),
    ],
)
def test_power_of_ten_spellings(sent: str, ucum: str) -> None:
    assert normalise_unit_text(sent) == ucum


def test_power_of_ten_sent_as_a_ucum_code() -> None:
    # "10^9/L" is not how UCUM writes it, but it can only mean 10*9/L
    assert normalise_unit({"value": 4, "system": UCUM_SYSTEM, "code": "10^9/L"}) == "10*9/L"
    assert normalise_unit({"value": 4, "system": UCUM_SYSTEM, "code": "10*9/L"}) == "10*9/L"


@pytest.mark.parametrize(
    ("unit", "analyte", "expected"),
    [
        ("×10⁹/L", "neutrophils", "1"),
        ("×10^9/L", "platelets", "1"),
        ("g/L", "hemoglobin", "0.1"),
        ("g/L", "igg4", "1000"),
        ("μmol/L", "bilirubin", "1"),
    ],
)
def test_chinese_lab_units_convert(unit: str, analyte: str, expected: str) -> None:
    ucum = normalise_unit({"value": 1, "unit": unit})
    assert ucum is not None
    assert factor(ucum, analyte) == Decimal(expected)


# --- the fast reader agrees with ucumvert (issue 13) ----------------------------------------------

_METRIC = ["g", "L", "l", "m", "s", "mol", "U", "[IU]", "[iU]"]
_PREFIXES = ["", "G", "M", "k", "h", "da", "d", "c", "m", "u", "n", "p", "f"]


def _generated_units() -> list[str]:
    singles = [p + a for a in _METRIC for p in _PREFIXES] + ["min", "h", "10*3", "10*-2", "10^6"]
    out = list(singles) + [f"{a}2" for a in ("m", "cm", "dm")] + ["s-1", "L-1", "{rbc}"]
    numerators = ["g", "mg", "ug", "ng", "mol", "mmol", "umol", "U", "mU", "[IU]", "m[IU]", "10*3"]
    numerators += ["10*6", "10*9", "10*12", "{copies}", "mL", "L", "kg"]
    denominators = [
        "L",
        "dL",
        "mL",
        "uL",
        "nL",
        "l",
        "dl",
        "ml",
        "ul",
        "min",
        "h",
        "s",
        "mm3",
        "m2",
    ]
    out += [f"{n}/{d}" for n in numerators for d in denominators]
    out += [f"/{d}" for d in denominators]
    out += ["mL/min/{1.73_m2}", "mL/min/1.73", "L/h/{1.73_m2}", "g.L-1", "mg.dL-1", "U.L-1"]
    out += ["mmol/mol{creat}", "mg{total}/dL", "umol/(min.L)", "g/(L)", "%", "mm[Hg]", "kat/L"]
    return out


def _pint_kind(ucum: str) -> str | None:
    q = units._pint_parse(ucum)
    if q is None:
        return None
    dims = dict(q.dimensionality)
    table = {
        (("[length]", -3), ("[mass]", 1)): "mass",
        (("[length]", -3), ("[substance]", 1)): "substance",
        (("[length]", -3),): "count",
        (("[length]", -3), ("[substance]", 1), ("[time]", -1)): "catalytic",
        (("[length]", 3), ("[time]", -1)): "rate",
    }
    return table.get(tuple(sorted(dims.items())), "other")


def test_fast_reader_agrees_with_ucumvert() -> None:
    accepted = 0
    canonicals = {spec.canonical for spec in VS.lab_units.values()} | {"mmol/L", "umol/L"}
    for unit in _generated_units():
        fast = units._fast(unit)
        if fast is None:
            continue
        accepted += 1
        assert units._pint_parse(unit) is not None, f"{unit}: fast reader accepts, ucumvert refuses"
        if "[IU]" in unit or "[iU]" in unit:
            assert units.unit_kind(unit) == "arbitrary"
        elif fast[0] in units._KINDS:
            assert units.unit_kind(unit) == _pint_kind(unit), unit
        for canonical in canonicals:
            other = units._fast(canonical)
            assert other is not None
            if other[0] != fast[0]:
                continue
            pint = (1 * units._pint_parse(unit)).to(units._pint_parse(canonical)).magnitude
            assert units._factor(unit, canonical) == Decimal(f"{float(pint):.12g}"), (
                unit,
                canonical,
            )
    assert accepted > 150


def test_every_value_set_unit_is_read_without_ucumvert() -> None:
    for spec in VS.lab_units.values():
        for unit in [spec.canonical, *(spec.molar[:2] if spec.molar else ())]:
            assert units._fast(unit) is not None, unit
    for ucum in set(units._EXACT.values()) | set(units._FOLDED.values()):
        if ucum != "G/L":
            assert units._fast(ucum) is not None, ucum


def test_importing_and_assessing_a_fixture_does_not_load_pint() -> None:
    code = (
        "import sys, json\n"
        "from datetime import date\n"
        "from cds_service.eligibility import assess_bundle\n"
        f"bundle = json.load(open({str(FIXTURE)!r}))\n"
        "assert assess_bundle(bundle, as_of=date(2026, 11, 24)).status == 'candidate'\n"
        "print(sorted(m for m in ('pint', 'ucumvert', 'lark') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )
    assert out.stdout.strip() == "[]"


# --- the unit-string limit (issue 10) -------------------------------------------------------------


def test_unit_longer_than_the_limit_is_refused_with_the_limit() -> None:
    with pytest.raises(UnitError, match="longer than the limit of 64"):
        factor("g" * 65, "igg4")


def test_limit_is_a_setting() -> None:
    try:
        units.configure(max_unit_length=8)
        with pytest.raises(UnitError, match="limit of 8"):
            factor("mg/dL{ab}", "igg4")
        assert factor("mg/dL", "igg4") == Decimal(10)
    finally:
        units.configure(max_unit_length=None)
    assert units.max_unit_length() == units.DEFAULT_MAX_UNIT_LENGTH
    with pytest.raises(ValueError, match="between 1 and 256"):
        units.configure(max_unit_length=10_000)


def test_limit_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IGG4_CDS_MAX_UNIT_LENGTH", "12")
    units.configure(max_unit_length=None)  # forget, so the environment is read again
    try:
        assert units.max_unit_length() == 12
    finally:
        monkeypatch.delenv("IGG4_CDS_MAX_UNIT_LENGTH")
        units.configure(max_unit_length=None)


def test_deep_nesting_under_the_limit_never_reaches_ucumvert() -> None:
    nested = "(" * 20 + "g" + ")" * 20
    with pytest.raises(UnitError, match="deeper than 8"):
        factor(nested, "igg4")
    assert units._pint_parse(nested) is None  # refused before the grammar
