"""Unit normalisation and conversion to each analyte's canonical unit.

Steps, for a quantity of a known analyte:

1. The unit string is normalised to UCUM: ``Quantity.code`` when the system is UCUM, else the
   ``unit`` text mapped through the table of non-UCUM strings that EHRs send (codes.md table 2).
   Case is folded only for the strings listed as case-safe: ``M/uL`` (millions) never becomes milli-.
2. The UCUM unit is parsed by ``ucumvert`` (a maintained UCUM grammar on top of pint) and converted
   to the analyte's canonical unit. Mass and substance concentrations convert through the analyte's
   declared factor (creatinine 88.4, bilirubin 17.1, haemoglobin 0.6206), as codes.md gives them.
3. The factor is rounded to 12 significant digits and applied in ``Decimal`` so that thresholds are
   exact: 1.40 g/L is 1400 mg/L, not 1400.0000000000002.

A unit that cannot be parsed, or whose kind does not fit the analyte (international units for a
cell count, grams per litre for a count), is refused with a reason; the caller reports it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from typing import Any

UCUM_SYSTEM = "http://unitsofmeasure.org"


class UnitError(ValueError):
    """A unit that cannot be converted to the analyte's unit; the message says why."""


@dataclass(frozen=True, slots=True)
class UnitSpec:
    """How one analyte's quantities are converted.

    ``kind`` is ``mass`` (mass/volume), ``substance``, ``count`` (number/volume), ``catalytic``
    (enzyme activity/volume), ``arbitrary`` (international units/volume) or ``rate`` (eGFR).
    ``molar`` gives (mass unit, substance unit, factor): 1 <mass unit> = factor <substance unit>.
    """

    canonical: str
    kind: str
    molar: tuple[str, str, Decimal] | None = None
    aliases: tuple[tuple[str, str], ...] = ()  # analyte-specific UCUM synonyms, e.g. [IU]/L -> U/L


# codes.md table 2, "Non-UCUM strings seen in EHR feeds". Keys are matched exactly first; the
# case-insensitive map holds only strings whose meaning does not depend on case.
_EXACT: dict[str, str] = {
    "M/uL": "10*6/uL",
    "mil/uL": "10*6/uL",
    "x10E6/uL": "10*6/uL",
    "10^6/uL": "10*6/uL",
    "10^12/L": "10*12/L",
    "Tera/l": "10*12/L",
    "K/uL": "10*3/uL",
    "K/µL": "10*3/uL",
    "K/μL": "10*3/uL",
    "K/mm3": "10*3/uL",
    "G/L": "G/L",  # ambiguous: giga/L for counts, g/L for mass; resolved by the analyte's kind
    "Giga/l": "10*9/L",
}
_FOLDED: dict[str, str] = {
    "mg/dl": "mg/dL",
    "mg/100ml": "mg/dL",
    "mg%": "mg/dL",
    "gm/dl": "g/dL",
    "g/dl": "g/dL",
    "g%": "g/dL",
    "g/l": "g/L",
    "gm/l": "g/L",
    "mg/l": "mg/L",
    "umol/l": "umol/L",
    "micromol/l": "umol/L",
    "mcmol/l": "umol/L",
    "mmol/l": "mmol/L",
    "k/ul": "10*3/uL",
    "x10e3/ul": "10*3/uL",
    "10^3/ul": "10*3/uL",
    "10e3/ul": "10*3/uL",
    "x10^3/ul": "10*3/uL",
    "x10(3)/ul": "10*3/uL",
    "thou/ul": "10*3/uL",
    "th/ul": "10*3/uL",
    "thousand/ul": "10*3/uL",
    "1000/ul": "10*3/uL",
    "10*3/ul": "10*3/uL",
    "10^3/mm3": "10*3/uL",
    "x10e3/cumm": "10*3/uL",
    "th/cumm": "10*3/uL",
    "10*3/mm3": "10*3/uL",
    "10^9/l": "10*9/L",
    "x10^9/l": "10*9/L",
    "10e9/l": "10*9/L",
    "x10e9/l": "10*9/L",
    "10*9/l": "10*9/L",
    "/ul": "/uL",
    "/mm3": "/uL",
    "cells/ul": "/uL",
    "cells/mm3": "/uL",
    "#/ul": "/uL",
    "/cumm": "/uL",
    "cells/mcl": "/uL",
    "iu/l": "U/L",
    "u/l": "U/L",
    "units/l": "U/L",
    "ml/min/1.73m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m2": "mL/min/{1.73_m2}",
    "ml/min/1.73 m²": "mL/min/{1.73_m2}",
    "ml/min/1.73m²": "mL/min/{1.73_m2}",
    "ml/min/1.73m^2": "mL/min/{1.73_m2}",
    "ml/min/{1.73m2}": "mL/min/{1.73_m2}",
    "ml/min/{1.73_m2}": "mL/min/{1.73_m2}",
    "miu/ml": "m[IU]/mL",
    "iu/ml": "[IU]/mL",
    "copies/ml": "{copies}/mL",
}
_MICRO = str.maketrans({"µ": "u", "μ": "u"})


def normalise_unit(quantity: Mapping[str, Any]) -> str | None:
    """The UCUM code of a FHIR Quantity's unit, or None if it has no unit at all."""
    system = quantity.get("system")
    code = quantity.get("code")
    if isinstance(code, str) and code and system == UCUM_SYSTEM:
        return code
    for candidate in (quantity.get("unit"), code):
        if isinstance(candidate, str) and candidate.strip():
            return normalise_unit_text(candidate)
    return None


def normalise_unit_text(text: str) -> str:
    text = text.strip()
    if text in _EXACT:
        return _EXACT[text]
    folded = text.translate(_MICRO)
    if folded in _EXACT:
        return _EXACT[folded]
    return _FOLDED.get(folded.lower(), folded)


@lru_cache(maxsize=1)
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # imported lazily: building the grammar takes ~0.3 s

    return PintUcumRegistry()


@lru_cache(maxsize=4096)
def _parse(ucum: str) -> Any:
    try:
        return _registry().from_ucum(ucum)
    except Exception as exc:  # ucumvert raises several types for bad strings
        raise UnitError(f"'{ucum}' is not a valid UCUM unit") from exc


def unit_kind(ucum: str) -> str:
    """The kind of quantity a UCUM unit measures (see UnitSpec.kind)."""
    if "[IU]" in ucum or "[iU]" in ucum:
        return "arbitrary"
    q = _parse(ucum)
    dims = dict(getattr(q, "dimensionality", {}) or {})
    if dims == {"[mass]": 1, "[length]": -3}:
        return "mass"
    if dims == {"[substance]": 1, "[length]": -3}:
        return "substance"
    if dims == {"[length]": -3}:
        return "count"
    if dims == {"[substance]": 1, "[time]": -1, "[length]": -3}:
        return "catalytic"
    if dims == {"[length]": 3, "[time]": -1}:
        return "rate"
    return "other:" + ",".join(f"{k}{v}" for k, v in sorted(dims.items()))


@lru_cache(maxsize=4096)
def _pint_factor(src: str, dst: str) -> Decimal:
    factor = (1 * _parse(src)).to(_parse(dst)).magnitude
    return Decimal(f"{float(factor):.12g}")


@lru_cache(maxsize=4096)
def conversion_factor(ucum: str, spec: UnitSpec) -> Decimal:
    """Multiply a value in ``ucum`` by this to get the analyte's canonical unit."""
    for alias, target in spec.aliases:
        if ucum == alias:
            ucum = target
            break
    if ucum == "G/L":  # codes.md: giga-per-litre for counts, grams per litre for chemistry
        ucum = "10*9/L" if spec.kind == "count" else "g/L"
    if ucum == spec.canonical:
        return Decimal(1)
    kind = unit_kind(ucum)
    if kind == spec.kind:
        return _pint_factor(ucum, spec.canonical)
    if spec.molar is not None and {kind, spec.kind} == {"mass", "substance"}:
        mass_unit, substance_unit, per_mass = spec.molar
        if kind == "substance":  # substance -> mass unit -> canonical (mass)
            return (_pint_factor(ucum, substance_unit) / per_mass) * _pint_factor(
                mass_unit, spec.canonical
            )
        return (_pint_factor(ucum, mass_unit) * per_mass) * _pint_factor(
            substance_unit, spec.canonical
        )
    raise UnitError(f"unit '{ucum}' ({kind}) cannot be converted to {spec.canonical}")


def to_decimal(value: Any) -> Decimal | None:
    """A JSON number as an exact Decimal (floats via their shortest repr: 1.4 -> Decimal('1.4'))."""
    if isinstance(value, bool) or value is None:
        return None
    number: Decimal
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        number = Decimal(repr(value))
    elif isinstance(value, Decimal):
        number = value
    elif isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except ArithmeticError:
            return None
    else:
        return None
    # "NaN", "Infinity" and 1e999 are not results (and would not survive conversion to JSON)
    return number if number.is_finite() and abs(number) < _MAX_MAGNITUDE else None


_MAX_MAGNITUDE = Decimal("1e100")
