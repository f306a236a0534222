"""English numbers are written without Babel's locale data (``render.english_number``), exactly as
Babel writes them: the same patterns, rounding half to even, every sign and size the engine meets."""

from __future__ import annotations

import random
from decimal import Decimal

import pytest
from babel import Locale
from babel.numbers import format_decimal, format_percent

from cds_service.i18n.message import Fixed
from cds_service.i18n.render import renderer

EN = Locale.parse("en")


def _values() -> list[Decimal]:
    rng = random.Random(20261201)
    fixed = [
        "0", "-0", "1", "-1", "0.125", "0.135", "2.675", "2.665", "0.0005", "0.0015", "1e-7",
        "999.995", "999.9949", "1000", "1234.5678", "-1234.5678", "123456789.9995", "1E+3",
        "1400", "1400.00", "0.3", "780", "90.74999", "0.05", "1.005", "-0.004", "7.5",
    ]  # fmt: skip
    drawn = [Decimal(rng.randint(-(10**9), 10**9)).scaleb(-rng.randint(0, 7)) for _ in range(3000)]
    return [Decimal(v) for v in fixed] + drawn


VALUES = _values()


def test_numbers_as_babel_writes_them() -> None:
    en = renderer("en")
    for v in VALUES:
        assert en.number(v) == format_decimal(v, locale=EN), v
        assert en.decimal(v, "#,##0.##") == format_decimal(v, format="#,##0.##", locale=EN), v
        assert en.percent(v) == format_percent(v, format="#,##0.##%", locale=EN), v
        for places in (0, 1, 2, 3):
            pattern = "#,##0." + "0" * places if places else "#,##0"
            expected = format_decimal(v, format=pattern, locale=EN)
            assert en.fixed(Fixed(v, places)) == expected, (v, places)
    for i in (0, 7, -12, 1400, 10**12):
        assert en.number(i) == format_decimal(i, locale=EN)


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity")])
def test_what_it_cannot_write_exactly_goes_to_babel(value: Decimal) -> None:
    assert renderer("en").number(value) == format_decimal(value, locale=EN)
