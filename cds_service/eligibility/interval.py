"""Values as intervals: a censored result (``<70 mg/L``, ``>60``) is every value it allows.

docs/criteria.md, "Readings of messy data": a value decides a criterion only when every value it
allows gives the same answer. Comparisons are therefore three-valued: ``True`` when every value in
the interval satisfies it, ``False`` when none does, ``None`` when the interval straddles the line.
An exact value is the interval [v, v], and then every comparison is decided.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal

INF = Decimal("Infinity")
ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Interval:
    """From ``lo`` to ``hi`` (``hi`` may be infinite); an open end excludes its bound."""

    lo: Decimal
    hi: Decimal
    lo_open: bool = False
    hi_open: bool = False

    @staticmethod
    def of(value: Decimal, comparator: str | None = None) -> Interval:
        """The values a result allows: ``<v`` is [0, v), ``>=v`` is [v, ∞); no comparator: v."""
        if comparator == "<":
            return Interval(ZERO, value, hi_open=True)
        if comparator == "<=":
            return Interval(ZERO, value)
        if comparator == ">":
            return Interval(value, INF, lo_open=True, hi_open=True)
        if comparator == ">=":
            return Interval(value, INF, hi_open=True)
        return Interval(value, value)

    @property
    def exact(self) -> bool:
        return self.lo == self.hi

    def scale(self, k: Decimal) -> Interval:
        """k × every value (k ≥ 0)."""
        if k == 0:
            return Interval(ZERO, ZERO)
        return Interval(self.lo * k, self.hi * k, self.lo_open, self.hi_open)

    def minus(self, other: Interval) -> Interval:
        """Every difference a − b of a value here and a value of ``other``."""
        lo = self.lo - other.hi if other.hi != INF else -INF
        hi = self.hi - other.lo if self.hi != INF else INF
        return Interval(lo, hi, self.lo_open or other.hi_open, self.hi_open or other.lo_open)

    def text(self, fmt: Callable[[Decimal], str]) -> str:
        """The interval for a reason: 600, <70, ≥3000, 300 to <500."""
        if self.exact:
            return fmt(self.lo)
        if self.hi == INF:
            return (">" if self.lo_open else "≥") + fmt(self.lo)
        upper = ("<" if self.hi_open else "≤") + fmt(self.hi)
        if self.lo == ZERO and not self.lo_open:
            return upper
        return f"{'>' if self.lo_open else ''}{fmt(self.lo)} to {upper}"


def lt(a: Interval, b: Interval) -> bool | None:
    """Is every a < every b (True), no a < any b (False), or some and not others (None)?"""
    if a.hi < b.lo or (a.hi == b.lo and (a.hi_open or b.lo_open)):
        return True
    if a.lo >= b.hi:
        return False
    return None


def le(a: Interval, b: Interval) -> bool | None:
    if a.hi <= b.lo:
        return True
    if a.lo > b.hi or (a.lo == b.hi and (a.lo_open or b.hi_open)):
        return False
    return None


def ge(a: Interval, b: Interval) -> bool | None:
    return negate(lt(a, b))


def gt(a: Interval, b: Interval) -> bool | None:
    return negate(le(a, b))


def negate(v: bool | None) -> bool | None:
    return None if v is None else not v


def all_of(*values: bool | None) -> bool | None:
    """Three-valued AND: False if any is False, True if all are True, else None."""
    if any(v is False for v in values):
        return False
    if all(v is True for v in values):
        return True
    return None


def point(value: Decimal) -> Interval:
    return Interval(value, value)


def highest(intervals: Iterable[Interval]) -> Interval:
    """The interval of the maximum of values drawn from each interval."""
    items = list(intervals)
    lo = max(i.lo for i in items)
    hi = max(i.hi for i in items)
    return Interval(
        lo,
        hi,
        any(i.lo_open for i in items if i.lo == lo),
        all(i.hi_open for i in items if i.hi == hi),
    )


def lowest(intervals: Iterable[Interval]) -> Interval:
    """The interval of the minimum of values drawn from each interval."""
    items = list(intervals)
    lo = min(i.lo for i in items)
    hi = min(i.hi for i in items)
    return Interval(
        lo,
        hi,
        all(i.lo_open for i in items if i.lo == lo),
        any(i.hi_open for i in items if i.hi == hi),
    )
