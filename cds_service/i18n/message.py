"""Messages as data: a message id with named values, rendered at the edges in the reader's language.

The engine (and every other part) says *what* to tell as a ``Msg``: an id such as ``"I3.met"`` and
named values kept in their own types (``Decimal`` numbers, ``date`` dates, ``Fixed`` numbers shown
with a fixed number of decimals, ``Unit`` units of measure, nested messages, ``Join`` lists, ``str``
for text from the record: a diagnosis label, a FHIR reference). *How* it reads (the words, the language, the number
and date formats) is decided later by a renderer (``cds_service.i18n.render``).

Each message's English template is written once, in the module that owns the message, with the
markers ``N_(id, template)`` and ``NN_(id, singular, plural)``: Babel extracts them (keywords
``N_:1c,2`` and ``NN_:1c,2,3``: the id becomes the gettext context, the English template the msgid),
and ``define`` registers them here. Pure: no Babel, no Flask.

A message travels as JSON (the assessment's ``reasonCode``/``reasonArgs``, stored by the worklist)
through ``encode`` and ``decode``, so a page can render a stored reason in another language.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, NamedTuple, TypeAlias

Separator = Literal["comma", "semicolon", "arrow"]


@dataclass(frozen=True, slots=True)
class Fixed:
    """A number shown with exactly ``places`` decimals (an eGFR: ``62.0``)."""

    value: Decimal
    places: int = 1


@dataclass(frozen=True, slots=True)
class Unit:
    """A unit of measure as UCUM (or the lab) wrote it: ``10*9/L``. The assessment's English keeps
    the code; a reader sees its display form (``×10⁹/L``, ``render.DISPLAY_UNITS``)."""

    code: str


@dataclass(frozen=True, slots=True)
class Join:
    """Items shown one after the other: ``comma`` (a list of labels), ``semicolon`` (clauses),
    ``arrow`` (a course). ``lead`` puts the separator before the first item too (a clause added to
    a sentence: ``"…; not counted: …"``), and nothing at all when there are no items."""

    items: tuple[Arg, ...]
    sep: Separator = "comma"
    lead: bool = False


@dataclass(frozen=True, slots=True)
class Msg:
    """A message id and its named values."""

    key: str
    args: Mapping[str, Arg] = field(default_factory=dict)


Arg: TypeAlias = str | int | Decimal | date | Fixed | Unit | Join | Msg


class Template(NamedTuple):
    singular: str
    plural: str | None = None  # set for messages chosen by a count (``NN_``)
    counter: str = "count"  # the named value that chooses singular or plural


TEMPLATES: dict[str, Template] = {}


def N_(key: str, text: str) -> tuple[str, Template]:
    """Marks an English template for extraction (context ``key``, msgid ``text``)."""
    return key, Template(text)


def NN_(key: str, singular: str, plural: str, count: str = "count") -> tuple[str, Template]:
    """Marks a singular/plural pair for extraction; the value named ``count`` chooses."""
    return key, Template(singular, plural, count)


def define(*entries: tuple[str, Template]) -> dict[str, Template]:
    """Registers message templates (each id once in the whole program)."""
    out: dict[str, Template] = {}
    for key, template in entries:
        if key in TEMPLATES and TEMPLATES[key] != template:
            raise ValueError(f"message id {key!r} defined twice")
        TEMPLATES[key] = out[key] = template
    return out


def msg(key: str, /, **args: Arg) -> Msg:
    """A message; the id must be defined (a typo fails where it is made, in tests)."""
    if key not in TEMPLATES:
        raise KeyError(f"message id {key!r} is not defined")
    return Msg(key, args)


def join(items: Iterable[Arg], sep: Separator = "comma", *, lead: bool = False) -> Join:
    return Join(tuple(items), sep, lead)


# ---- JSON --------------------------------------------------------------------------------------


def encode(value: Arg) -> Any:
    """A value as JSON: text and integers as themselves, the other types tagged."""
    kind = type(value)
    if kind is str or kind is int:
        return value
    if kind is Msg:
        args = value.args  # type: ignore[union-attr]
        return {"msg": value.key, "args": {k: encode(v) for k, v in args.items()} if args else {}}  # type: ignore[union-attr]
    if kind is Decimal:
        return {"decimal": str(value)}
    if kind is date:
        return {"date": value.isoformat()}  # type: ignore[union-attr]
    if isinstance(value, Msg):
        return {"msg": value.key, "args": {k: encode(v) for k, v in value.args.items()}}
    if isinstance(value, Join):
        out: dict[str, Any] = {"join": value.sep, "items": [encode(i) for i in value.items]}
        if value.lead:
            out["lead"] = True
        return out
    if isinstance(value, Fixed):
        return {"decimal": str(value.value), "places": value.places}
    if isinstance(value, Unit):
        return {"unit": value.code}
    if isinstance(value, bool):  # never meant as a number
        return str(value).lower()
    if isinstance(value, int | str):
        return value
    if isinstance(value, Decimal):
        return {"decimal": str(value)}
    if isinstance(value, date):
        return {"date": value.isoformat()}
    raise TypeError(f"cannot encode {type(value).__name__} in a message")


def encode_args(m: Msg) -> dict[str, Any]:
    return {k: encode(v) for k, v in m.args.items()}


class DecodeError(ValueError):
    """JSON that is not an encoded message (stored by another version, or damaged)."""


def decode(data: Any) -> Arg:
    if isinstance(data, str):
        return data
    if isinstance(data, int) and not isinstance(data, bool):
        return data
    if isinstance(data, Mapping):
        try:
            if "msg" in data:
                return decode_msg(data["msg"], data.get("args") or {})
            if "join" in data:
                sep = data["join"]
                if sep not in ("comma", "semicolon", "arrow"):
                    raise DecodeError(f"unknown separator {sep!r}")
                return Join(tuple(decode(i) for i in data["items"]), sep, bool(data.get("lead")))
            if "decimal" in data:
                number = Decimal(str(data["decimal"]))
                if "places" in data:
                    return Fixed(number, int(data["places"]))
                return number
            if "date" in data:
                return date.fromisoformat(str(data["date"]))
            if "unit" in data:
                return Unit(str(data["unit"]))
        except (KeyError, TypeError, ValueError, InvalidOperation) as exc:
            raise DecodeError(str(exc)) from exc
    raise DecodeError(f"not an encoded message value: {type(data).__name__}")


def decode_msg(key: Any, args: Any) -> Msg:
    """The message of a stored ``reasonCode``/``reasonArgs``; DecodeError when the id is unknown
    (a reason stored by another version) or the values are not ours."""
    if not isinstance(key, str) or key not in TEMPLATES:
        raise DecodeError(f"unknown message id {key!r}")
    if not isinstance(args, Mapping):
        raise DecodeError("message values are not an object")
    return Msg(key, {str(k): decode(v) for k, v in args.items()})
