"""eGFR by the MDRD study equation (exclusion 11, as the protocol requires: NIDDK's MDRD)."""

from __future__ import annotations

from decimal import Decimal


def mdrd_egfr(scr_mg_dl: Decimal, age_years: int, female: bool, black: bool) -> float:
    """175 × Scr^-1.154 × age^-0.203 × 0.742 (female) × 1.212 (Black); Scr in mg/dL (IDMS-traceable)."""
    if scr_mg_dl <= 0 or age_years <= 0:
        raise ValueError("creatinine and age must be positive")
    value: float = 175.0 * float(scr_mg_dl) ** -1.154 * float(age_years) ** -0.203
    if female:
        value *= 0.742
    if black:
        value *= 1.212
    return value
