"""The IgG4 timeline and the three re-elevation rules (criteria.md "IgG4 timeline")."""

from datetime import date
from decimal import Decimal

import pytest

from cds_service.eligibility import load_params
from cds_service.eligibility.timeline import build_timeline, evaluate_all_rules, evaluate_rule
from fhir_mappings.facts import FuzzyDate, LabResult, Quantity, Therapy

from .builders import AS_OF

P = load_params(None)


def d(text: str) -> FuzzyDate:
    day = date.fromisoformat(text)
    return FuzzyDate(day, day, text)


def lab(value: str, day: str, ref: str) -> LabResult:
    v = Decimal(value)
    return LabResult(
        ref=ref,
        analyte="igg4",
        code=None,
        status="final",
        when=d(day),
        quantity=Quantity(v, "mg/L", v, "mg/L"),
    )


def therapy(start: str, ref: str = "MedicationRequest/t") -> Therapy:
    return Therapy(
        ref=ref,
        ingredients=frozenset({"prednisone"}),
        groups=frozenset({"glucocorticoid"}),
        status="active",
        start=d(start),
        period_start=None,
        period_end=None,
    )


def tl(values: list[tuple[str, str]], start: str = "2020-02-01"):
    labs = [lab(v, day, f"Observation/{i}") for i, (v, day) in enumerate(values)]
    return build_timeline(labs, [therapy(start)], AS_OF, P)


def test_baseline_is_highest_on_or_before_start() -> None:
    t = tl(
        [
            ("1800", "2019-06-01"),
            ("2350", "2020-01-15"),
            ("2000", "2020-02-01"),
            ("3000", "2020-03-01"),
        ]
    )
    assert t.baseline is not None and t.baseline.value == Decimal(2350)
    # a result on the start day itself counts as before ("on or before")
    t = tl([("1800", "2019-06-01"), ("2500", "2020-02-01")])
    assert t.baseline is not None and t.baseline.value == Decimal(2500)


def test_current_is_latest_within_180_days() -> None:
    t = tl(
        [
            ("2000", "2020-01-01"),
            ("300", "2022-01-01"),
            ("700", "2026-05-28"),
            ("650", "2026-06-01"),
        ]
    )
    assert t.current is not None and t.current.value == Decimal(650)
    # exactly 180 days before asOf is inside; 181 is outside
    assert tl([("700", "2026-05-28")]).current is not None  # 2026-11-24 - 180 days
    assert tl([("700", "2026-05-27")]).current is None


def test_nadir_between_start_and_current() -> None:
    t = tl(
        [
            ("2000", "2020-01-01"),
            ("150", "2020-01-20"),
            ("300", "2022-01-01"),
            ("200", "2023-01-01"),
            ("700", "2026-10-01"),
        ]
    )
    # 150 is before treatment start (2020-02-01), so it is not the nadir
    assert t.nadir is not None and t.nadir.value == Decimal(200)


def test_no_therapy_means_no_baseline() -> None:
    labs = [lab("2000", "2020-01-01", "Observation/a")]
    t = build_timeline(labs, [], AS_OF, P)
    assert t.treatment_start is None and t.baseline is None


# baseline 2000 → threshold 600 (0.30 × 2000)
@pytest.mark.parametrize(
    ("nadir", "current", "fraction", "rise", "ratio"),
    [
        (
            "500",
            "600",
            True,
            False,
            False,
        ),  # fell below 600, back to exactly 600 (≥); rise 100 < 600; 600 < 650
        ("500", "599", False, False, False),  # one below the line
        ("100", "700", True, True, True),  # rise 600 ≥ 600; 700 ≥ 130
        ("700", "1400", False, True, True),  # never fell below the line, but rose by 700
        ("200", "260", False, False, True),  # 260 = 1.3 × 200 exactly
        ("200", "259", False, False, False),
    ],
)
def test_three_rules(nadir: str, current: str, fraction: bool, rise: bool, ratio: bool) -> None:
    t = tl([("2000", "2020-01-01"), (nadir, "2022-01-01"), (current, "2026-10-01")])
    out = evaluate_all_rules(t, P)
    assert out["fraction-of-baseline"].met is fraction
    assert out["rise-vs-baseline"].met is rise
    assert out["ratio-vs-nadir"].met is ratio


def test_rules_without_baseline() -> None:
    labs = [lab("300", "2022-01-01", "Observation/n"), lab("500", "2026-10-01", "Observation/c")]
    t = build_timeline(labs, [therapy("2020-02-01")], AS_OF, P)
    assert evaluate_rule("fraction-of-baseline", t, P).met is None
    assert evaluate_rule("rise-vs-baseline", t, P).met is None
    assert evaluate_rule("ratio-vs-nadir", t, P).met is True  # needs no baseline
