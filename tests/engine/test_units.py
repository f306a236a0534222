"""Unit normalisation and conversion (codes.md table 2)."""

from decimal import Decimal

import pytest

from fhir_mappings.units import (
    UnitError,
    UnitSpec,
    conversion_factor,
    normalise_unit,
    normalise_unit_text,
)
from fhir_mappings.valuesets import default_valuesets

VS = default_valuesets()


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
