"""Inclusion criteria I1-I7 (criteria.md, "Inclusion criteria")."""

from __future__ import annotations

from cds_service.eligibility.assessment import CriterionResult, CriterionStatus
from cds_service.eligibility.context import (
    Context,
    labels,
    listing,
    notes,
    problems,
    result,
    split_by_verification,
    word,
)
from cds_service.eligibility.interval import gt, point
from cds_service.eligibility.timeline import Point, Timeline, evaluate_all_rules, iv
from cds_service.i18n.message import Arg, Msg, join, msg
from fhir_mappings.dates import age_range
from fhir_mappings.facts import Diagnosis
from fhir_mappings.quote import clip

# concept -> the organ's message (reasons.py, "organ.*")
MAJOR_ORGANS: dict[str, str] = {
    c: f"organ.{c.removeprefix('organ-')}"
    for c in (
        "organ-pancreas",
        "organ-retroperitoneum",
        "organ-bile-duct",
        "organ-castleman-igg4",
        "organ-lung",
        "organ-kidney",
        "organ-sinus",
        "organ-cns",
    )
}
RELAPSE_STATUS = frozenset({"relapse", "recurrence"})


def _voided_note(ctx: Context, *concepts: str) -> Msg | None:
    voided = ctx.voided(*concepts)
    if not voided:
        return None
    return msg("note.not-counted", items=problems(voided, len(voided), "comma"))


def _date_of(point: Point) -> Arg:
    return msg("date.issued", date=point.day) if point.issued else point.day


def i1_diagnosis(ctx: Context) -> CriterionResult:
    igg4rd = ctx.with_concept("igg4rd")
    firm, tentative = split_by_verification(igg4rd)
    note = notes(_voided_note(ctx, "igg4rd"))
    if firm:
        return result(
            "I1", "met", msg("I1.met", labels=labels(firm), notes=note), [d.ref for d in firm]
        )
    if tentative:
        states = [
            word("verification", s) for s in sorted({str(d.verification_status) for d in tentative})
        ]
        return result(
            "I1",
            "unknown",
            msg("I1.tentative", states=join(states), notes=note),
            [d.ref for d in tentative],
        )
    return result("I1", "not-met", msg("I1.none", notes=note))


def i2_age(ctx: Context) -> CriterionResult:
    p = ctx.record.patient
    lo_age, hi_age = ctx.params.age_min, ctx.params.age_max
    if p.birth_date is None:
        return result("I2", "unknown", msg("I2.no-birthdate"), [p.ref])
    youngest, oldest = age_range(p.birth_date, ctx.as_of)
    ok_young = lo_age <= youngest <= hi_age
    ok_old = lo_age <= oldest <= hi_age
    age: Arg = youngest if youngest == oldest else msg("span", lo=youngest, hi=oldest)
    values: dict[str, Arg] = {
        "age": age,
        "date": ctx.as_of,
        "birth": p.birth_date.text,
        "min": lo_age,
        "max": hi_age,
    }
    if ok_young and ok_old:
        return result("I2", "met", msg("I2.met", **values), [p.ref])
    if youngest > hi_age or oldest < lo_age:
        return result("I2", "not-met", msg("I2.not-met", **values), [p.ref])
    return result("I2", "unknown", msg("I2.unknown", **values), [p.ref])


def i3_baseline(ctx: Context, tl: Timeline) -> CriterionResult:
    limit = ctx.params.baseline_igg4_min_mg_l
    if tl.treatment_start is None:
        key = "I3.therapy-undated" if ctx.therapies else "I3.no-therapy"
        return result("I3", "unknown", msg(key), [t.ref for t in ctx.therapies])
    start = tl.treatment_start
    if tl.baseline is None:
        return result(
            "I3",
            "unknown",
            msg("I3.no-baseline", start=start, notes=notes(_unusable_note(ctx))),
            [tl.treatment_ref or ""],
        )
    b, b_range = tl.baseline, tl.baseline_range
    assert b_range is not None
    evidence = [b.ref, tl.treatment_ref or ""]
    text = msg("I3.baseline", value=iv(b_range), date=_date_of(b), start=start)
    above = gt(b_range, point(limit))  # a censored baseline decides only if wholly on one side
    if above is True:
        return result("I3", "met", msg("I3.met", baseline=text, limit=limit), evidence)
    if above is None:
        return result("I3", "unknown", msg("I3.censored", baseline=text, limit=limit), evidence)
    # an unreadable pre-treatment (or undated) result might have been the higher baseline
    hidden = [
        lab
        for lab in ctx.unreadable("igg4")
        if lab.when is None or lab.when.day <= tl.treatment_start
    ]
    if hidden:
        problem_list = join(
            (msg("ref.colon-problem", ref=h.ref, problem=h.problem or "") for h in hidden[:3]),
            "semicolon",
        )
        return result(
            "I3",
            "unknown",
            msg("I3.hidden", baseline=text, limit=limit, count=len(hidden), problems=problem_list),
            evidence + [h.ref for h in hidden],
        )
    return result("I3", "not-met", msg("I3.not-met", baseline=text, limit=limit), evidence)


def _unusable_note(ctx: Context) -> Msg | None:
    bad = ctx.unusable("igg4")
    if not bad:
        return None
    return msg("note.not-used", items=problems(bad, 3))


def major_organ_involvement(ctx: Context) -> CriterionResult:
    """Inclusion 4; exclusion 2 is its mirror."""
    firm_hits: list[tuple[Diagnosis, str]] = []  # (diagnosis, organ's message id)
    tentative_hits: list[tuple[Diagnosis, str]] = []
    for d in ctx.diagnoses:
        organs = [MAJOR_ORGANS[c] for c in sorted(d.concepts) if c in MAJOR_ORGANS]
        if "igg4rd" in d.concepts:
            organs += [MAJOR_ORGANS[c] for c in sorted(d.body_site_concepts) if c in MAJOR_ORGANS]
        for organ in dict.fromkeys(organs):
            tentative = d.verification_status in ("provisional", "differential", "unconfirmed")
            (tentative_hits if tentative else firm_hits).append((d, organ))
    if firm_hits:
        found = join(msg(o) for o in dict.fromkeys(o for _, o in firm_hits))
        return result("I4", "met", msg("I4.met", organs=found), [d.ref for d, _ in firm_hits])
    castleman = ctx.with_concept("castleman")
    # WHO ICD-10 K83.0 "cholangitis" holds IgG4-related sclerosing cholangitis and PSC alike: unless
    # its name says which (docs/criteria.md, I4)
    cholangitis = [
        d
        for d in ctx.with_concept("bile-duct-uncertain")
        if not d.concepts & {"psc", "organ-bile-duct"}
    ]
    if tentative_hits or castleman or cholangitis:
        parts: list[Arg] = []
        if tentative_hits:
            tentative_organs = join(msg(o) for o in dict.fromkeys(o for _, o in tentative_hits))
            parts.append(msg("I4.tentative", organs=tentative_organs))
        if castleman:
            parts.append(msg("I4.castleman"))
        if cholangitis:
            parts.append(msg("I4.cholangitis", labels=labels(cholangitis)))
        return result(
            "I4",
            "unknown",
            msg("I4.unknown", parts=join(parts, "semicolon")),
            [d.ref for d, _ in tentative_hits] + [d.ref for d in castleman + cholangitis],
        )
    igg4rd = ctx.with_concept("igg4rd")
    if igg4rd:
        sites = sorted({clip(c.display or c.code) for d in igg4rd for c in d.body_sites})
        reason = (
            msg("I4.not-met.sites", sites=listing(sites, "comma", 6))
            if sites
            else msg("I4.not-met")
        )
        return result("I4", "not-met", reason, [d.ref for d in igg4rd])
    return result("I4", "not-met", msg("I4.none"))


def i5_reelevation(ctx: Context, tl: Timeline) -> CriterionResult:
    params = ctx.params
    active = ctx.active_therapies()
    if not active:
        return result(
            "I5",
            "not-met",
            msg("I5.no-therapy", date=ctx.as_of),
            [t.ref for t in ctx.therapies],
        )
    drugs = join(word("drug", i) for i in sorted({i for t in active for i in t.ingredients}))
    relapses = [d for d in ctx.with_concept("igg4rd") if d.clinical_status in RELAPSE_STATUS]
    if relapses:
        statuses = join(
            word("clinical", s) for s in sorted({str(d.clinical_status) for d in relapses})
        )
        return result(
            "I5", "not-met", msg("I5.relapse", statuses=statuses), [d.ref for d in relapses]
        )
    therapy = msg("I5.therapy", drugs=drugs)
    therapy_refs = [t.ref for t in active]
    if tl.current is None:
        return result(
            "I5",
            "unknown",
            msg(
                "I5.no-current",
                therapy=therapy,
                days=params.igg4_lookback_days,
                date=ctx.as_of,
                notes=notes(_unusable_note(ctx)),
            ),
            therapy_refs,
        )
    cur = tl.current
    cur_text = msg("I5.current", value=iv(cur.interval), date=_date_of(cur))
    newer = [
        lab for lab in ctx.unreadable("igg4") if lab.when is not None and lab.when.day > cur.day
    ]
    if newer:
        h = newer[-1]
        return result(
            "I5",
            "unknown",
            msg(
                "I5.later-unreadable",
                therapy=therapy,
                ref=h.ref,
                problem=h.problem or "",
                value=iv(cur.interval),
                date=_date_of(cur),
            ),
            [*therapy_refs, cur.ref, h.ref],
        )
    if tl.nadir is None:
        return result(
            "I5",
            "unknown",
            msg("I5.no-nadir", therapy=therapy, current=cur_text),
            [*therapy_refs, cur.ref],
        )
    outcomes = evaluate_all_rules(tl, params)
    chosen = outcomes[params.reelevation_rule]
    evidence = [*therapy_refs, cur.ref, tl.nadir.ref]
    if tl.baseline is not None:
        evidence.append(tl.baseline.ref)
    values: dict[str, Arg] = {"therapy": therapy, "current": cur_text, "rule": chosen.rule}
    if chosen.met is None and chosen.missing:
        return result("I5", "unknown", msg("I5.no-baseline", **values), evidence)
    if chosen.met is None:  # a censored value on the line (docs/criteria.md, censored values)
        return result(
            "I5", "unknown", msg("I5.undecided", **values, detail=chosen.detail), evidence
        )
    others = [o for r, o in outcomes.items() if r != chosen.rule]
    disagree = [o for o in others if o.met is not None and o.met != chosen.met]
    note = None
    if disagree:
        note = msg(
            "I5.disagree",
            rules=join(
                msg("I5.rule-met" if o.met else "I5.rule-not-met", rule=o.rule, detail=o.detail)
                for o in disagree
            ),
        )
    status: CriterionStatus = "met" if chosen.met else "not-met"
    return result(
        "I5",
        status,
        msg(
            "I5.met" if chosen.met else "I5.not-met",
            **values,
            detail=chosen.detail,
            notes=notes(note),
        ),
        evidence,
    )


def i6_consent(ctx: Context) -> CriterionResult:
    return result("I6", "unknown", msg("I6.visit"))


def i7_contraception(ctx: Context) -> CriterionResult:
    return result("I7", "unknown", msg("I7.visit"))
