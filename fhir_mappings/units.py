"""Unit normalisation and conversion to each analyte's canonical unit.

Steps, for a quantity of a known analyte:

1. The unit string is normalised to UCUM: ``Quantity.code`` when the system is UCUM, else the
   ``unit`` text mapped through the table of non-UCUM strings that EHRs send (codes.md table 2) and
   the powers of ten that Chinese and European labs print for counts (``×10⁹/L``, ``10^9/L``,
   ``x10*9/L``, ``10E9/L``). Case is folded only for the strings listed as case-safe: ``M/uL``
   (millions) never becomes milli-.
2. The UCUM unit is read by a small table-driven reader that knows the atoms and prefixes the value
   sets use (g, L, mol, U, [IU], m, s, min, h, 10*n, annotations; k/d/c/m/u/n/p/f... prefixes): it
   costs microseconds, needs no start-up, and is linear in the string (no recursion). Anything it
   does not know goes to ``ucumvert`` (a UCUM grammar on top of pint), imported only then. The two
   agree on every unit the reader accepts (``tests/engine/test_units.py`` checks them against
   each other).
3. Mass and substance concentrations convert through the analyte's declared factor (creatinine
   88.4, bilirubin 17.1, haemoglobin 0.6206), as codes.md gives them. The factor is rounded to 12
   significant digits and applied in ``Decimal`` so that thresholds are exact: 1.40 g/L is 1400
   mg/L, not 1400.0000000000002.

A unit that cannot be parsed, or whose kind does not fit the analyte (international units for a
cell count, grams per litre for a count), is refused with a reason; the caller reports it.

Hostile input costs bounded CPU (issue 10): a unit string longer than ``max_unit_length()``
(setting ``MAX_UNIT_LENGTH``, env ``IGG4_CDS_MAX_UNIT_LENGTH``, default 64 characters) or nested
deeper than ``MAX_UCUM_DEPTH`` parentheses is refused before any parser sees it, and every answer,
refusals included, is cached.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from functools import lru_cache
from typing import Any

UCUM_SYSTEM = "http://unitsofmeasure.org"

DEFAULT_MAX_UNIT_LENGTH = 64
MAX_UNIT_LENGTH_CEILING = 256  # ucumvert's cost grows with the string; never hand it more
MAX_UCUM_DEPTH = 8  # parentheses; real units use one or two
_SHOWN = 24  # characters of a refused unit quoted in its message


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


# --- the limit on unit strings (a setting) ----------------------------------------------------

_max_unit_length: int | None = None


def max_unit_length() -> int:
    """Longest unit string read (``configure`` or env ``IGG4_CDS_MAX_UNIT_LENGTH``; default 64)."""
    global _max_unit_length
    if _max_unit_length is None:
        raw = os.environ.get("IGG4_CDS_MAX_UNIT_LENGTH", "").strip()
        _max_unit_length = _check_limit(int(raw)) if raw else DEFAULT_MAX_UNIT_LENGTH
    return _max_unit_length


def configure(*, max_unit_length: int | None = None) -> None:
    """Set the unit-string limit for this process (the service calls it with MAX_UNIT_LENGTH);
    None goes back to the environment or the default."""
    global _max_unit_length
    _max_unit_length = None if max_unit_length is None else _check_limit(max_unit_length)


def _check_limit(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("MAX_UNIT_LENGTH must be a whole number")
    if not 1 <= value <= MAX_UNIT_LENGTH_CEILING:
        raise ValueError(f"MAX_UNIT_LENGTH must be between 1 and {MAX_UNIT_LENGTH_CEILING}")
    return value


def shown(unit: str) -> str:
    """A unit as quoted in a message: long strings are cut (their length is said)."""
    if len(unit) <= _SHOWN:
        return unit
    return f"{unit[:_SHOWN]}... ({len(unit)} characters)"


# --- normalisation of what EHRs send -----------------------------------------------------------

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
# Strings of the table above that are never valid UCUM codes, whatever their case (no UCUM atom
# "IU", "th", "cells", "#", "cumm", "x10e3", "gm", "mcmol"): read as the lab meant them even when
# sent with the UCUM system.
_NEVER_UCUM = frozenset(
    {
        "iu/l", "iu/ml", "miu/ml", "units/l", "k/ul", "thou/ul", "th/ul", "thousand/ul",
        "x10e3/ul", "x10^3/ul", "x10(3)/ul", "x10e3/cumm", "th/cumm", "x10e9/l", "x10^9/l",
        "cells/ul", "cells/mm3", "cells/mcl", "#/ul", "/cumm", "gm/dl", "gm/l", "mcmol/l",
        "micromol/l",
    }
)  # fmt: skip
_MICRO = str.maketrans({"µ": "u", "μ": "u"})
_SUPERSCRIPT = str.maketrans("⁰¹²³⁴⁵⁶⁷⁸⁹⁺", "0123456789+")
# A count per volume written as a power of ten: "×10⁹/L", "10^9/L", "x10*9/L", "10E9/L", "*10^12/L",
# "10~9/L" (a lost superscript), "×10^9个/L" (个: "items"). The volume is L or uL (mm3, cumm, mcL).
_POWER_OF_TEN = re.compile(
    r"(?:[x×X*·]\s*)?10\s*(?:(?:\^|\*{1,2}|[eE]|~)\s*(?P<exp>\+?\d{1,2})|(?P<sup>⁺?[⁰¹²³⁴⁵⁶⁷⁸⁹]{1,2}))"
    r"\s*(?:个|cells?)?\s*/\s*(?P<vol>[lL]|[uµμ][lL]|mc[lL]|mm3|mm³|cumm)"
)


def normalise_unit(quantity: Mapping[str, Any]) -> str | None:
    """The UCUM code of a FHIR Quantity's unit, or None if it has no unit at all."""
    system = quantity.get("system")
    code = quantity.get("code")
    if isinstance(code, str) and code and system == UCUM_SYSTEM:
        if len(code) <= max_unit_length():
            power = _power_of_ten(code)  # "10^9/L" sent as a UCUM code means 10*9/L
            if power is not None:
                return power
            # a lab's own string sent as a UCUM code (seen in Synthea exports): "K/uL" is not
            # kelvin per microlitre, "IU/L" is not UCUM at all
            if code in _EXACT and code != "G/L":
                return _EXACT[code]
            if code.translate(_MICRO).lower() in _NEVER_UCUM:
                return _FOLDED[code.translate(_MICRO).lower()]
        return code
    for candidate in (quantity.get("unit"), code):
        if isinstance(candidate, str) and candidate.strip():
            return normalise_unit_text(candidate)
    return None


def normalise_unit_text(text: str) -> str:
    if len(text) > max_unit_length():  # refused later, with the limit in the message
        return text
    text = text.strip()
    if text in _EXACT:
        return _EXACT[text]
    folded = text.translate(_MICRO)
    if folded in _EXACT:
        return _EXACT[folded]
    mapped = _FOLDED.get(folded.lower())
    if mapped is not None:
        return mapped
    power = _power_of_ten(text)
    if power is not None:
        return power
    if not folded.isascii():  # full-width forms ("ｇ/Ｌ", "／"), then the tables again
        wide = unicodedata.normalize("NFKC", text).translate(_MICRO)
        if wide != folded:
            return normalise_unit_text(wide)
    return folded


def _power_of_ten(text: str) -> str | None:
    m = _POWER_OF_TEN.fullmatch(text.strip())
    if m is None:
        return None
    exp = (m["exp"] or m["sup"].translate(_SUPERSCRIPT)).lstrip("+")
    volume = "L" if m["vol"] in ("l", "L") else "uL"
    return f"10*{int(exp)}/{volume}"


# --- a fast, linear reader for the units the value sets use ------------------------------------

# Dimensions: (mass, length, time, substance, international unit); base units g, m, s, mol, [IU].
_Dims = tuple[int, int, int, int, int]
_Parsed = tuple[_Dims, Fraction]
_ATOMS: dict[str, _Parsed] = {
    "g": ((1, 0, 0, 0, 0), Fraction(1)),
    "L": ((0, 3, 0, 0, 0), Fraction(1, 1000)),
    "l": ((0, 3, 0, 0, 0), Fraction(1, 1000)),
    "m": ((0, 1, 0, 0, 0), Fraction(1)),
    "s": ((0, 0, 1, 0, 0), Fraction(1)),
    "mol": ((0, 0, 0, 1, 0), Fraction(1)),
    "U": ((0, 0, -1, 1, 0), Fraction(1, 60_000_000)),  # UCUM: 1 U = 1 umol/min
    "[IU]": ((0, 0, 0, 0, 1), Fraction(1)),
    "[iU]": ((0, 0, 0, 0, 1), Fraction(1)),
    "min": ((0, 0, 1, 0, 0), Fraction(60)),  # not metric: no prefix
    "h": ((0, 0, 1, 0, 0), Fraction(3600)),  # not metric: no prefix
}
_PREFIXES: dict[str, Fraction] = {
    "G": Fraction(10**9),
    "M": Fraction(10**6),
    "k": Fraction(1000),
    "h": Fraction(100),
    "da": Fraction(10),
    "d": Fraction(1, 10),
    "c": Fraction(1, 100),
    "m": Fraction(1, 1000),
    "u": Fraction(1, 10**6),
    "n": Fraction(1, 10**9),
    "p": Fraction(1, 10**12),
    "f": Fraction(1, 10**15),
}
_COMPONENT = re.compile(
    r"(?:(?P<ten>10[*^])(?P<power>[+-]?\d{1,2})"
    r"|(?P<prefix>da|[GMkhdcmunpf])?(?P<atom>\[IU\]|\[iU\]|mol|min|g|L|l|m|s|h|U)(?P<exp>[+-]?\d)?)"
    r"(?:\{[^{}]*\})?"  # an annotation on a unit means nothing to its value
)
_ANNOTATION = re.compile(r"\{[^{}]*\}")
_KINDS: dict[_Dims, str] = {
    (1, -3, 0, 0, 0): "mass",
    (0, -3, 0, 1, 0): "substance",
    (0, -3, 0, 0, 0): "count",
    (0, -3, -1, 1, 0): "catalytic",
    (0, 3, -1, 0, 0): "rate",
    (0, -3, 0, 0, 1): "arbitrary",
}
_FAST_MAX = 32  # longer strings are not among the value sets' units


@lru_cache(maxsize=2048)
def _fast(ucum: str) -> _Parsed | None:
    """(dimensions, factor to the base units) of a simple UCUM unit, or None for anything else.

    Reads ``[/]component ([./]component)*`` left to right as UCUM does, without recursion; a
    component is a prefixed atom with an optional exponent (``mg``, ``uL``, ``m2``, ``s-1``),
    ``10*n``, or an annotation (``{1.73_m2}``, worth 1). Parentheses and unknown atoms: None.
    """
    if not ucum or len(ucum) > _FAST_MAX or (ucum.startswith("{") and ucum.endswith("}")):
        return None
    dims = [0, 0, 0, 0, 0]
    factor = Fraction(1)
    pos, sign = 0, 1
    if ucum[0] == "/":
        pos, sign = 1, -1
    while True:
        end = pos
        while end < len(ucum) and ucum[end] not in "./{":
            end += 1
        if end < len(ucum) and ucum[end] == "{":  # an annotation ends the component
            close = ucum.find("}", end)
            if close < 0:
                return None
            end = close + 1
        one = _component(ucum[pos:end])
        if one is None:
            return None
        part_dims, part_factor = one
        for i in range(5):
            dims[i] += sign * part_dims[i]
        factor = factor * part_factor if sign > 0 else factor / part_factor
        if end == len(ucum):
            break
        if ucum[end] not in "./":
            return None
        sign = 1 if ucum[end] == "." else -1
        pos = end + 1
    return (dims[0], dims[1], dims[2], dims[3], dims[4]), factor


def _component(part: str) -> _Parsed | None:
    if _ANNOTATION.fullmatch(part):
        return (0, 0, 0, 0, 0), Fraction(1)
    m = _COMPONENT.fullmatch(part)
    if m is None:
        return None
    if m["ten"]:
        return (0, 0, 0, 0, 0), Fraction(10) ** int(m["power"])
    atom_dims, atom_factor = _ATOMS[m["atom"]]
    prefix = m["prefix"]
    if prefix is not None:
        if m["atom"] in ("min", "h"):
            return None
        atom_factor = atom_factor * _PREFIXES[prefix]
    exp = int(m["exp"]) if m["exp"] else 1
    mass, length, time, substance, iu = atom_dims
    return (mass * exp, length * exp, time * exp, substance * exp, iu * exp), atom_factor**exp


# --- the full UCUM grammar, for everything else ------------------------------------------------


@lru_cache(maxsize=1)
def _registry() -> Any:
    from ucumvert import PintUcumRegistry  # imported lazily: building the grammar takes ~0.4 s

    return PintUcumRegistry()


def _depth(ucum: str) -> int:
    depth = deepest = 0
    for ch in ucum:
        if ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth -= 1
    return deepest


@lru_cache(maxsize=4096)
def _pint_parse(ucum: str) -> Any | None:
    """ucumvert's reading of a unit, or None (failures are cached too: issue 10)."""
    if len(ucum) > MAX_UNIT_LENGTH_CEILING or _depth(ucum) > MAX_UCUM_DEPTH:
        return None
    try:
        return _registry().from_ucum(ucum)
    except Exception:  # ucumvert raises several types for bad strings (RecursionError included)
        return None


def _parse(ucum: str) -> Any:
    parsed = _pint_parse(ucum)
    if parsed is None:
        raise UnitError(f"'{shown(ucum)}' is not a valid UCUM unit")
    return parsed


def unit_kind(ucum: str) -> str:
    """The kind of quantity a UCUM unit measures (see UnitSpec.kind)."""
    if "[IU]" in ucum or "[iU]" in ucum:
        return "arbitrary"
    fast = _fast(ucum)
    if fast is not None and fast[0] in _KINDS:
        return _KINDS[fast[0]]
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
def _factor(src: str, dst: str) -> Decimal:
    """Multiply a value in ``src`` by this to get ``dst`` (same kind), to 12 significant digits."""
    a, b = _fast(src), _fast(dst)
    if a is not None and b is not None and a[0] == b[0]:
        exact: Any = a[1] / b[1]
    else:
        try:
            exact = (1 * _parse(src)).to(_parse(dst)).magnitude
        except UnitError:
            raise
        except Exception as exc:  # pint: dimensionality errors
            raise UnitError(f"unit '{shown(src)}' cannot be converted to {dst}") from exc
    return Decimal(f"{float(exact):.12g}")


def conversion_factor(ucum: str, spec: UnitSpec) -> Decimal:
    """Multiply a value in ``ucum`` by this to get the analyte's canonical unit."""
    limit = _max_unit_length or max_unit_length()
    if len(ucum) > limit:  # refused at once, and never kept in a cache
        raise UnitError(
            f"unit string of {len(ucum)} characters is longer than the limit of {limit} "
            "(MAX_UNIT_LENGTH); not read"
        )
    answer = _conversion(ucum, spec)
    if answer.__class__ is str:
        raise UnitError(answer)
    return answer  # type: ignore[return-value]


@lru_cache(maxsize=4096)
def _conversion(ucum: str, spec: UnitSpec) -> Decimal | str:
    """The factor, or why there is none (cached either way: a refusal is never computed twice)."""
    if _depth(ucum) > MAX_UCUM_DEPTH:
        return f"unit '{shown(ucum)}' nests parentheses deeper than {MAX_UCUM_DEPTH}; not read"
    try:
        return _convert(ucum, spec)
    except UnitError as exc:
        return str(exc)


def _convert(ucum: str, spec: UnitSpec) -> Decimal:
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
        return _factor(ucum, spec.canonical)
    if spec.molar is not None and {kind, spec.kind} == {"mass", "substance"}:
        mass_unit, substance_unit, per_mass = spec.molar
        if kind == "substance":  # substance -> mass unit -> canonical (mass)
            return (_factor(ucum, substance_unit) / per_mass) * _factor(mass_unit, spec.canonical)
        return (_factor(ucum, mass_unit) * per_mass) * _factor(substance_unit, spec.canonical)
    raise UnitError(f"unit '{shown(ucum)}' ({kind}) cannot be converted to {spec.canonical}")


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
