"""Rendering messages: the words from the gettext catalogs, numbers and dates by Babel.

``STABLE`` renders the English every program reads (the assessment's ``reason`` and ``title``): the
English templates as written, numbers as the engine writes them (``1400``, ``0.905``), ISO dates,
without Babel. ``renderer(locale)`` renders for a reader: the templates translated through the
compiled catalog of that locale (``pgettext``/``npgettext`` with the message id as context),
numbers by ``babel.numbers.format_decimal`` and dates by ``babel.dates.format_date`` in that
locale. Catalogs are loaded once per locale, on first use, and kept (never per request).
"""

from __future__ import annotations

import gettext
import re
import unicodedata
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cds_service.i18n.locales import DEFAULT, SUPPORTED
from cds_service.i18n.message import (
    N_,
    TEMPLATES,
    Arg,
    Fixed,
    Join,
    Msg,
    Template,
    Unit,
    define,
)

if TYPE_CHECKING:
    from babel import Locale

TRANSLATIONS_DIR = Path(__file__).resolve().parent.parent / "translations"
DOMAIN = "messages"

SEPARATORS = define(
    # between the labels of a list ("pancreas, lung")
    N_("sep.comma", ", "),
    # between the clauses of a reason
    N_("sep.semicolon", "; "),
    # between the points of a course (baseline → nadir → current)
    N_("sep.arrow", " → "),
)

# Date formats by locale (Babel patterns or 'short'/'medium'/'long'): ISO in English, as the
# assessment writes them and clinicians read them unambiguously whatever their English; in Chinese
# the medium form (2026年3月2日).
DATE_FORMATS: dict[str, str] = {"en": "yyyy-MM-dd", "zh_Hans": "medium"}

# How units of measure read on cards and pages, in every language (the assessment's English keeps
# the UCUM code: 10*9/L). Units not listed are shown as the lab wrote them.
DISPLAY_UNITS: dict[str, str] = {
    "10*9/L": "×10⁹/L",
    "10*12/L": "×10¹²/L",
    "10*3/uL": "×10³/µL",
    "10*6/uL": "×10⁶/µL",
    "umol/L": "µmol/L",
    "mL/min/{1.73_m2}": "mL/min/1.73m²",
    "m[IU]/mL": "mIU/mL",
    "[IU]/L": "IU/L",
}

_FIELD = re.compile(r"\{(\w+)\}")


def num(value: Decimal | float) -> str:
    """A value for a reason: no trailing zeros, no exponent, at most 3 decimals (1400, 0.3, 0.905)."""
    if isinstance(value, float):
        return f"{value:.1f}"
    if value.as_tuple().exponent < -3:  # type: ignore[operator]
        value = value.quantize(Decimal("0.001"))
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def width(text: str) -> int:
    """Columns ``text`` takes in a terminal (CJK characters take two)."""
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def pad(text: str, columns: int, *, right: bool = False) -> str:
    """``text`` padded with spaces to ``columns`` terminal columns (aligned left, or right)."""
    space = " " * max(columns - width(text), 0)
    return space + text if right else text + space


def fill(template: str, values: Mapping[str, str]) -> str:
    """``{name}`` fields replaced by their values (a missing value stays visible as ``{name}``;
    a translation cannot make rendering fail)."""
    return _FIELD.sub(lambda m: values.get(m.group(1), m.group(0)), template)


class Renderer:
    """Messages and their values as text in one language."""

    def __init__(self, locale: str) -> None:
        self.locale = locale
        self._constants: dict[str, str] = {}  # messages without values, rendered once

    # -- what a language decides ----------------------------------------------------------------
    def template(self, key: str, template: Template, count: int | None) -> str:
        if template.plural is not None and count is not None:
            return template.singular if count == 1 else template.plural
        return template.singular

    def number(self, value: Decimal | int) -> str:
        return str(value) if isinstance(value, int) else num(value)

    def fixed(self, value: Fixed) -> str:
        return f"{value.value:.{value.places}f}"

    def date(self, value: date) -> str:
        return value.isoformat()

    def unit(self, value: Unit) -> str:
        return value.code

    def decimal(self, value: Decimal, pattern: str) -> str:
        """A number by a CLDR pattern (``#,##0.##``); the stable English ignores the pattern."""
        return num(value)

    def percent(self, ratio: Decimal) -> str:
        """A share as a percentage: ``0.3`` -> ``30%``."""
        return f"{num(ratio * 100)}%"

    def words(self, key: str, values: Mapping[str, Any]) -> str:
        """The template of ``key`` in this language, singular or plural by its counter value."""
        template = TEMPLATES[key]
        if template.plural is None:
            return self.template(key, template, None)
        count = values.get(template.counter)
        return self.template(key, template, count if isinstance(count, int) else None)

    def fill(self, words: str, values: dict[str, str]) -> str:
        """The English templates hold only their own ``{name}`` fields: ``str.format_map``."""
        try:
            return words.format_map(values)
        except (KeyError, ValueError, IndexError):
            return fill(words, values)

    # -- rendering --------------------------------------------------------------------------------
    def text(self, key: str, /, **values: Any) -> str:
        """The message ``key`` with ``values`` (each rendered by ``__call__``)."""
        return self(Msg(key, values))

    def __call__(self, value: Arg) -> str:
        kind = type(value)
        if kind is str:
            return value  # type: ignore[return-value]
        if kind is Msg:
            key, args = value.key, value.args  # type: ignore[union-attr]
            if not args:  # a word or a sentence without values: the same text every time
                done = self._constants.get(key)
                if done is None:
                    done = self._constants[key] = self.fill(self.words(key, args), {})
                return done
            words = self.words(key, args)
            return self.fill(words, {k: self(v) for k, v in args.items()})
        if kind is Join:
            return self._join(value)  # type: ignore[arg-type]
        if kind is Decimal or kind is int:
            return self.number(value)  # type: ignore[arg-type]
        if kind is date:
            return self.date(value)  # type: ignore[arg-type]
        if isinstance(value, str):
            return str(value)
        if isinstance(value, Fixed):
            return self.fixed(value)
        if isinstance(value, Unit):
            return self.unit(value)
        if isinstance(value, bool):
            return str(value).lower()
        if isinstance(value, int | Decimal):
            return self.number(value)
        if isinstance(value, date):
            return self.date(value)
        raise TypeError(f"cannot render {type(value).__name__}")

    def _join(self, value: Join) -> str:
        parts = [self(i) for i in value.items]
        if not parts:
            return ""
        key = f"sep.{value.sep}"
        sep = self._constants.get(key)
        if sep is None:
            sep = self._constants[key] = self.template(key, SEPARATORS[key], None)
        return (sep if value.lead else "") + sep.join(parts)


STABLE = Renderer("en")
"""The English of the assessment's ``reason`` and ``title`` fields (what programs read)."""


class LocaleRenderer(Renderer):
    """Words from the locale's compiled catalog, numbers and dates by Babel."""

    def __init__(self, locale: str, translations: gettext.NullTranslations) -> None:
        super().__init__(locale)
        self.translations = translations
        self._babel_locale: Locale | None = None

    @property
    def babel_locale(self) -> Locale:
        if self._babel_locale is None:
            from babel import Locale

            self._babel_locale = Locale.parse(self.locale)
        return self._babel_locale

    def fill(self, words: str, values: dict[str, str]) -> str:
        """A translation may hold any text: only ``{name}`` fields are filled."""
        return fill(words, values)

    def template(self, key: str, template: Template, count: int | None) -> str:
        if template.plural is not None:
            return self.translations.npgettext(
                key, template.singular, template.plural, 1 if count is None else count
            )
        return self.translations.pgettext(key, template.singular)

    def gettext(self, text: str) -> str:
        return self.translations.gettext(text)

    # English numbers are written here as Babel writes them (the same CLDR patterns, rounding half
    # to even; tests/i18n compare the two), without loading Babel's locale data (~85 ms, a
    # quarter of a CLI run's wall time).
    def number(self, value: Decimal | int) -> str:
        if self.locale == "en" and (text := english_number(value, 0, 3)) is not None:
            return text
        from babel.numbers import format_decimal

        return format_decimal(value, locale=self.babel_locale)

    def decimal(self, value: Decimal, pattern: str) -> str:
        english = self.locale == "en" and pattern == "#,##0.##"
        if english and (text := english_number(value, 0, 2)) is not None:
            return text
        from babel.numbers import format_decimal

        return format_decimal(value, format=pattern, locale=self.babel_locale)

    def percent(self, ratio: Decimal) -> str:
        if self.locale == "en" and (text := english_number(ratio * 100, 0, 2)) is not None:
            return text + "%"
        from babel.numbers import format_percent

        return format_percent(ratio, format="#,##0.##%", locale=self.babel_locale)

    def fixed(self, value: Fixed) -> str:
        if self.locale == "en":
            text = english_number(value.value, value.places, value.places)
            if text is not None:
                return text
        from babel.numbers import format_decimal

        pattern = "#,##0." + "0" * value.places if value.places > 0 else "#,##0"
        return format_decimal(value.value, format=pattern, locale=self.babel_locale)

    def unit(self, value: Unit) -> str:
        return DISPLAY_UNITS.get(value.code, value.code)

    def date(self, value: date) -> str:
        pattern = DATE_FORMATS.get(self.locale, "medium")
        if pattern == "yyyy-MM-dd":  # what Babel writes for it, without loading babel.dates
            return value.isoformat()
        from babel.dates import format_date

        return format_date(value, format=pattern, locale=self.babel_locale)


def english_number(value: Decimal | int, min_places: int, max_places: int) -> str | None:
    """``value`` with thousands separators and ``min_places``..``max_places`` decimals, rounded half
    to even (CLDR ``#,##0.##``-style patterns in English); None where Babel should decide (a
    value that is not finite, or too large to round exactly)."""
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, Decimal) and value.is_finite():
        number = value
    else:
        return None
    try:
        rounded = number.quantize(Decimal(1).scaleb(-max_places), rounding=ROUND_HALF_EVEN)
    except InvalidOperation:
        return None
    text = f"{rounded:,f}"
    if max_places > min_places and "." in text:
        whole, frac = text.split(".")
        frac = frac.rstrip("0").ljust(min_places, "0")
        text = f"{whole}.{frac}" if frac else whole
    return text


def load_translations(locale: str) -> gettext.NullTranslations:
    """The compiled catalog of ``locale`` (``translations/<locale>/LC_MESSAGES/messages.mo``);
    without one, the English templates as written."""
    path = TRANSLATIONS_DIR / locale / "LC_MESSAGES" / f"{DOMAIN}.mo"
    try:
        with path.open("rb") as fp:
            return gettext.GNUTranslations(fp)
    except OSError:
        return gettext.NullTranslations()


@cache
def renderer(locale: str | None = None) -> LocaleRenderer:
    """The renderer of a supported locale (``en``, ``zh_Hans``), made once per locale."""
    chosen = locale if locale in SUPPORTED else DEFAULT
    return LocaleRenderer(chosen, load_translations(chosen))
