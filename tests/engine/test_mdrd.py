"""MDRD eGFR (exclusion 11)."""

from decimal import Decimal

import pytest

from cds_service.eligibility.egfr import mdrd_egfr


def test_reference_values() -> None:
    # worked by hand: 175 × exp(-0.203 × ln 50) = 175 × 0.45197 = 79.09 (male, non-Black)
    assert mdrd_egfr(Decimal("1.0"), 50, female=False, black=False) == pytest.approx(
        79.09, abs=0.02
    )
    assert mdrd_egfr(Decimal("1.0"), 50, female=True, black=False) == pytest.approx(58.69, abs=0.02)
    assert mdrd_egfr(Decimal("1.0"), 50, female=True, black=True) == pytest.approx(71.13, abs=0.02)
    # 175 × exp(-1.154 × ln 2.5) × exp(-0.203 × ln 60) = 175 × 0.34737 × 0.43557 = 26.48
    assert mdrd_egfr(Decimal("2.5"), 60, female=False, black=False) == pytest.approx(
        26.48, abs=0.02
    )


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        mdrd_egfr(Decimal(0), 50, female=False, black=False)
