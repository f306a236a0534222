"""Inclusion criteria I1-I7 (criteria.md, "Inclusion criteria")."""

from __future__ import annotations

from cds_service.eligibility.assessment import CriterionResult, CriterionStatus
from cds_service.eligibility.context import (
    Context,
    labels,
    num,
    result,
    split_by_verification,
)
from cds_service.eligibility.interval import gt, point
from cds_service.eligibility.timeline import Timeline, evaluate_all_rules, iv
from fhir_mappings.dates import age_range
from fhir_mappings.facts import Diagnosis

MAJOR_ORGANS: dict[str, str] = {
    "organ-pancreas": "pancreas",
    "organ-retroperitoneum": "retroperitoneum",
    "organ-bile-duct": "bile ducts",
    "organ-castleman-igg4": "IgG4-related Castleman disease",
    "organ-lung": "lung",
    "organ-kidney": "kidney",
    "organ-sinus": "nasal sinus",
    "organ-cns": "central nervous system",
}
RELAPSE_STATUS = frozenset({"relapse", "recurrence"})


def _voided_note(ctx: Context, *concepts: str) -> str:
    voided = ctx.voided(*concepts)
    if not voided:
        return ""
    return "; not counted: " + ", ".join(f"{d.ref} ({d.problem})" for d in voided)


def i1_diagnosis(ctx: Context) -> CriterionResult:
    igg4rd = ctx.with_concept("igg4rd")
    firm, tentative = split_by_verification(igg4rd)
    note = _voided_note(ctx, "igg4rd")
    if firm:
        return result("I1", "met", f"IgG4-RD recorded: {labels(firm)}{note}", [d.ref for d in firm])
    if tentative:
        states = ", ".join(sorted({str(d.verification_status) for d in tentative}))
        return result(
            "I1",
            "unknown",
            f"IgG4-RD recorded only as {states}: the classification criteria need confirming{note}",
            [d.ref for d in tentative],
        )
    return result("I1", "not-met", f"no IgG4-RD diagnosis recorded (none recorded){note}")


def i2_age(ctx: Context) -> CriterionResult:
    p = ctx.record.patient
    lo_age, hi_age = ctx.params.age_min, ctx.params.age_max
    if p.birth_date is None:
        return result("I2", "unknown", "no birthDate recorded", [p.ref])
    youngest, oldest = age_range(p.birth_date, ctx.as_of)
    ok_young = lo_age <= youngest <= hi_age
    ok_old = lo_age <= oldest <= hi_age
    age_text = f"{youngest}" if youngest == oldest else f"{youngest}-{oldest}"
    where = f"age {age_text} on {ctx.as_of.isoformat()} (birthDate {p.birth_date.text})"
    if ok_young and ok_old:
        return result("I2", "met", f"{where}, within {lo_age}-{hi_age}", [p.ref])
    if youngest > hi_age or oldest < lo_age:
        return result("I2", "not-met", f"{where}, outside {lo_age}-{hi_age}", [p.ref])
    return result(
        "I2",
        "unknown",
        f"{where}: the partial birth date does not decide {lo_age}-{hi_age}",
        [p.ref],
    )


def i3_baseline(ctx: Context, tl: Timeline) -> CriterionResult:
    limit = ctx.params.baseline_igg4_min_mg_l
    if tl.treatment_start is None:
        why = (
            "IgG4-RD therapy recorded without a start date"
            if ctx.therapies
            else "no IgG4-RD therapy recorded"
        )
        return result(
            "I3",
            "unknown",
            f"{why}, so treatment start and the baseline IgG4 before it cannot be placed",
            [t.ref for t in ctx.therapies],
        )
    start = tl.treatment_start.isoformat()
    if tl.baseline is None:
        return result(
            "I3",
            "unknown",
            f"no IgG4 result on or before treatment start {start}{_unusable_note(ctx)}",
            [tl.treatment_ref or ""],
        )
    b, b_range = tl.baseline, tl.baseline_range
    assert b_range is not None
    evidence = [b.ref, tl.treatment_ref or ""]
    text = f"baseline IgG4 {iv(b_range)} mg/L ({b.date_text}, before treatment start {start})"
    above = gt(b_range, point(limit))  # a censored baseline decides only if wholly on one side
    if above is True:
        return result("I3", "met", f"{text} > {num(limit)} mg/L", evidence)
    if above is None:
        return result(
            "I3",
            "unknown",
            f"{text}: a censored value that may or may not be > {num(limit)} mg/L",
            evidence,
        )
    # an unreadable pre-treatment (or undated) result might have been the higher baseline
    hidden = [
        lab
        for lab in ctx.unreadable("igg4")
        if lab.when is None or lab.when.day <= tl.treatment_start
    ]
    if hidden:
        return result(
            "I3",
            "unknown",
            f"{text} ≤ {num(limit)} mg/L, but {len(hidden)} earlier IgG4 result(s) could not be read"
            f" ({'; '.join(f'{h.ref}: {h.problem}' for h in hidden[:3])})",
            evidence + [h.ref for h in hidden],
        )
    return result("I3", "not-met", f"{text} ≤ {num(limit)} mg/L", evidence)


def _unusable_note(ctx: Context) -> str:
    bad = ctx.unusable("igg4")
    if not bad:
        return ""
    return (
        "; not used: "
        + "; ".join(f"{lab.ref} ({lab.problem})" for lab in bad[:3])
        + (f" (+{len(bad) - 3} more)" if len(bad) > 3 else "")
    )


def major_organ_involvement(ctx: Context) -> CriterionResult:
    """Inclusion 4; exclusion 2 is its mirror."""
    firm_hits: list[tuple[Diagnosis, str]] = []
    tentative_hits: list[tuple[Diagnosis, str]] = []
    for d in ctx.diagnoses:
        organs = [MAJOR_ORGANS[c] for c in sorted(d.concepts) if c in MAJOR_ORGANS]
        if "igg4rd" in d.concepts:
            organs += [MAJOR_ORGANS[c] for c in sorted(d.body_site_concepts) if c in MAJOR_ORGANS]
        for organ in dict.fromkeys(organs):
            tentative = d.verification_status in ("provisional", "differential", "unconfirmed")
            (tentative_hits if tentative else firm_hits).append((d, organ))
    if firm_hits:
        found = ", ".join(dict.fromkeys(o for _, o in firm_hits))
        return result(
            "I4", "met", f"major organ involvement: {found}", [d.ref for d, _ in firm_hits]
        )
    castleman = ctx.with_concept("castleman")
    if tentative_hits or castleman:
        parts = []
        if tentative_hits:
            parts.append(
                "only tentative diagnoses of "
                + ", ".join(dict.fromkeys(o for _, o in tentative_hits))
            )
        if castleman:
            parts.append(
                "Castleman disease recorded: IgG4-related Castleman counts, idiopathic does not"
            )
        return result(
            "I4",
            "unknown",
            "; ".join(parts),
            [d.ref for d, _ in tentative_hits] + [d.ref for d in castleman],
        )
    igg4rd = ctx.with_concept("igg4rd")
    if igg4rd:
        sites = sorted({c.display or c.code for d in igg4rd for c in d.body_sites})
        where = f" (involvement recorded: {', '.join(sites)})" if sites else ""
        return result(
            "I4",
            "not-met",
            f"IgG4-RD recorded without major organ involvement{where}",
            [d.ref for d in igg4rd],
        )
    return result("I4", "not-met", "no major organ involvement recorded (none recorded)")


def i5_reelevation(ctx: Context, tl: Timeline) -> CriterionResult:
    params = ctx.params
    active = ctx.active_therapies()
    if not active:
        return result(
            "I5",
            "not-met",
            f"no active maintenance therapy on {ctx.as_of.isoformat()}",
            [t.ref for t in ctx.therapies],
        )
    drugs = ", ".join(sorted({i for t in active for i in t.ingredients}))
    relapses = [d for d in ctx.with_concept("igg4rd") if d.clinical_status in RELAPSE_STATUS]
    if relapses:
        return result(
            "I5",
            "not-met",
            f"IgG4-RD relapse recorded ({', '.join(sorted({str(d.clinical_status) for d in relapses}))})",
            [d.ref for d in relapses],
        )
    therapy = f"on maintenance {drugs}; no relapse recorded"
    therapy_refs = [t.ref for t in active]
    if tl.current is None:
        return result(
            "I5",
            "unknown",
            f"{therapy}; no IgG4 result in the {params.igg4_lookback_days} days before"
            f" {ctx.as_of.isoformat()}{_unusable_note(ctx)}",
            therapy_refs,
        )
    cur = tl.current
    cur_text = f"current IgG4 {iv(cur.interval)} mg/L ({cur.date_text})"
    newer = [
        lab for lab in ctx.unreadable("igg4") if lab.when is not None and lab.when.day > cur.day
    ]
    if newer:
        h = newer[-1]
        return result(
            "I5",
            "unknown",
            f"{therapy}; a later IgG4 result {h.ref} could not be read ({h.problem}), so the"
            f" current value is not known (last readable: {iv(cur.interval)} mg/L,"
            f" {cur.date_text})",
            [*therapy_refs, cur.ref, h.ref],
        )
    if tl.nadir is None:
        return result(
            "I5",
            "unknown",
            f"{therapy}; {cur_text} but no earlier IgG4 after treatment start to give a nadir",
            [*therapy_refs, cur.ref],
        )
    outcomes = evaluate_all_rules(tl, params)
    chosen = outcomes[params.reelevation_rule]
    evidence = [*therapy_refs, cur.ref, tl.nadir.ref]
    if tl.baseline is not None:
        evidence.append(tl.baseline.ref)
    if chosen.met is None and chosen.missing:
        return result(
            "I5",
            "unknown",
            f"{therapy}; {cur_text}; no baseline IgG4 for rule {chosen.rule}",
            evidence,
        )
    if chosen.met is None:  # a censored value on the line (docs/criteria.md, censored values)
        return result(
            "I5",
            "unknown",
            f"{therapy}; {cur_text}; undecided by {chosen.rule}: {chosen.detail}",
            evidence,
        )
    others = [o for r, o in outcomes.items() if r != chosen.rule]
    disagree = [o for o in others if o.met is not None and o.met != chosen.met]
    note = ""
    if disagree:
        note = "; rules disagree: " + ", ".join(
            f"{o.rule} says {'met' if o.met else 'not met'} ({o.detail})" for o in disagree
        )
    status: CriterionStatus = "met" if chosen.met else "not-met"
    verdict = "re-elevation" if chosen.met else "no re-elevation"
    return result(
        "I5",
        status,
        f"{therapy}; {cur_text}; {verdict} by {chosen.rule}: {chosen.detail}{note}",
        evidence,
    )


def i6_consent(ctx: Context) -> CriterionResult:
    return result("I6", "unknown", "obtained at the screening visit")


def i7_contraception(ctx: Context) -> CriterionResult:
    return result("I7", "unknown", "confirmed at the screening visit")
