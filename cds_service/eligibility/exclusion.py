"""Exclusion criteria E1-E11 (criteria.md, "Exclusion criteria"). ``met`` means the exclusion applies."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from cds_service.eligibility.assessment import CriterionResult, CriterionStatus
from cds_service.eligibility.context import (
    Context,
    interval_of,
    is_current,
    labels,
    notes,
    qty,
    result,
    split_by_verification,
    when,
    word,
)
from cds_service.eligibility.egfr import mdrd_egfr
from cds_service.eligibility.interval import INF, ge, gt, lt, point
from cds_service.i18n.message import Arg, Fixed, Msg, join, msg
from fhir_mappings.dates import add_months, add_years, age_range
from fhir_mappings.facts import Diagnosis, LabResult
from fhir_mappings.quote import CODE_MAX, clip

ACTIVE_MALIGNANCY = frozenset({"active", "recurrence", "relapse"})
ON_STUDY = frozenset({"on-study", "on-study-intervention", "pending-on-study"})


def _diagnosis_exclusion(cid: str, ctx: Context, concepts: Sequence[str]) -> CriterionResult:
    """An exclusion decided by a recorded diagnosis: firm → met, tentative only → unknown
    (messages ``<cid>.met``, ``<cid>.tentative``, ``<cid>.none``)."""
    found = ctx.with_concept(*concepts)
    firm, tentative = split_by_verification(found)
    if firm:
        return result(cid, "met", msg(f"{cid}.met", labels=labels(firm)), [d.ref for d in firm])
    if tentative:
        return result(
            cid,
            "unknown",
            msg(f"{cid}.tentative", labels=labels(tentative)),
            [d.ref for d in tentative],
        )
    return result(cid, "not-met", msg(f"{cid}.none"))


# --- E1 ----------------------------------------------------------------------------------------


def e1_responder_index(ctx: Context) -> CriterionResult:
    days = ctx.params.responder_index_lookback_days
    since = ctx.days_before(days)
    scores = [
        lab for lab in ctx.labs("responder-index") if lab.integer is not None and lab.day >= since
    ]
    if not scores:
        return result("E1", "unknown", msg("E1.none", days=days, date=ctx.as_of))
    day = scores[-1].day
    assessment = [lab for lab in scores if lab.day == day]
    limit = ctx.params.responder_index_max_score

    def organ(lab: LabResult) -> Arg:
        if lab.body_site_text:
            return clip(lab.body_site_text)
        for c in lab.body_site:
            return clip(c.display or c.code)
        return msg("E1.organ-not-stated")

    high = [lab for lab in assessment if lab.integer is not None and lab.integer >= limit]
    listed = join(
        msg("E1.organ-score", organ=organ(lab), score=lab.integer or 0)
        for lab in (high or assessment)
    )
    if high:
        return result(
            "E1",
            "met",
            msg("E1.met", date=day, scores=listed, limit=limit),
            [lab.ref for lab in high],
        )
    return result(
        "E1",
        "not-met",
        msg("E1.not-met", date=day, scores=listed, limit=limit),
        [lab.ref for lab in assessment],
    )


def e2_no_major_organ(i4: CriterionResult) -> CriterionResult:
    mirror: dict[str, CriterionStatus] = {"met": "not-met", "not-met": "met", "unknown": "unknown"}
    assert i4.message is not None
    return result("E2", mirror[i4.status], msg("E2.mirror", reason=i4.message), i4.evidence)


# --- E3 ----------------------------------------------------------------------------------------

_INFECTION_CONDITIONS = ("hiv", "hbv", "hcv", "tb-active")
_INFECTION_TESTS = {"hbsag": "HBsAg", "hiv": "HIV Ag/Ab", "hcv-rna": "HCV RNA"}


def e3_infection(ctx: Context) -> CriterionResult:
    met_refs: list[str] = []
    met_text: list[Arg] = []
    unknown_refs: list[str] = []
    unknown_text: list[Arg] = []
    current = [d for d in ctx.with_concept(*_INFECTION_CONDITIONS) if is_current(d)]
    firm, tentative = split_by_verification(current)
    for d in firm:
        met_refs.append(d.ref)
        met_text.append(d.label)
    for d in tentative:
        unknown_refs.append(d.ref)
        unknown_text.append(
            msg("label.status", label=d.label, status=word("verification", d.verification_status))
        )
    for analyte, name in _INFECTION_TESTS.items():
        latest = ctx.latest(analyte)
        if latest is None:
            continue
        if latest.finding == "positive":
            met_refs.append(latest.ref)
            met_text.append(msg("E3.test-positive", test=name, date=latest.day))
        elif latest.finding == "indeterminate":
            unknown_refs.append(latest.ref)
            unknown_text.append(msg("E3.test-indeterminate", test=name, date=latest.day))
    if met_refs:
        return result("E3", "met", msg("E3.met", items=join(met_text, "semicolon")), met_refs)
    hcv_ab = ctx.latest("hcv-ab")
    if hcv_ab is not None and hcv_ab.finding == "positive":
        rna_after = [r for r in ctx.labs("hcv-rna") if r.day >= hcv_ab.day]
        if not rna_after:
            unknown_refs.append(hcv_ab.ref)
            unknown_text.append(msg("E3.hcv-ab", date=hcv_ab.day))
    latent = [d for d in ctx.with_concept("tb-latent") if is_current(d)]
    igra = ctx.latest("igra")
    if latent:
        unknown_refs += [d.ref for d in latent]
        unknown_text.append(msg("E3.latent-tb", labels=labels(latent)))
    if igra is not None and igra.finding == "positive":
        unknown_refs.append(igra.ref)
        unknown_text.append(msg("E3.igra", date=igra.day))
    if unknown_refs:
        return result(
            "E3", "unknown", msg("E3.unknown", parts=join(unknown_text, "semicolon")), unknown_refs
        )
    tested: list[Arg] = [name for analyte, name in _INFECTION_TESTS.items() if ctx.latest(analyte)]
    tests = msg("E3.latest-negative", tests=join(tested)) if tested else None
    return result(
        "E3",
        "not-met",
        msg("E3.none", notes=notes(tests)),
        [r.ref for a in _INFECTION_TESTS if (r := ctx.latest(a)) is not None],
    )


# --- E4 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verdict:
    counts: bool | None  # True: counts as an exclusion; False: does not; None: cannot tell
    why: Msg


def _malignancy_verdict(d: Diagnosis, ctx: Context) -> _Verdict:
    p = ctx.params
    as_of = ctx.as_of
    active = d.clinical_status in ACTIVE_MALIGNANCY and not d.abated
    resolved = d.clinical_status in ("resolved", "inactive", "remission") or d.abated
    # Exceptions (exclusion 4 of the protocol)
    if "cervix-cis" in d.concepts and resolved and not active:
        if d.abatement is None:
            return _Verdict(None, msg("E4.cis-undated"))
        limit = add_months(as_of, -p.cervical_cis_resolved_months)
        months = p.cervical_cis_resolved_months
        if d.abatement.latest <= limit:
            return _Verdict(False, msg("E4.cis-old", date=d.abatement.text, months=months))
        return _Verdict(True, msg("E4.cis-recent", date=d.abatement.text, months=months))
    if "skin-bcc-scc" in d.concepts and resolved and not active:
        return _Verdict(False, msg("E4.skin"))
    if "prostate-cancer" in d.concepts and not active:
        limit = add_years(as_of, -p.prostate_treatment_years)
        treated = [
            pr
            for pr in ctx.record.procedures
            if pr.status == "completed"
            and pr.concepts & {"radical-prostatectomy", "prostate-radiotherapy"}
            and pr.when is not None
        ]
        if any(pr.when is not None and pr.when.latest < limit for pr in treated):
            return _Verdict(False, msg("E4.prostate", years=p.prostate_treatment_years))
    if active:
        return _Verdict(
            True, msg("E4.active", label=d.label, status=word("clinical", d.clinical_status))
        )
    years = p.malignancy_lookback_years
    since = add_years(as_of, -years)
    dates = [x for x in (d.onset, d.recorded, d.abatement) if x is not None]
    if any(x.latest >= since and x.earliest <= as_of for x in dates):
        return _Verdict(True, msg("E4.within", label=d.label, years=years))
    if not dates:
        return _Verdict(None, msg("E4.undated", label=d.label))
    return _Verdict(False, msg("E4.old", label=d.label, years=years))


def e4_malignancy(ctx: Context) -> CriterionResult:
    counted: list[tuple[Diagnosis, Arg]] = []
    unclear: list[tuple[Diagnosis, Arg]] = []
    excepted: list[Arg] = []
    for d in ctx.with_concept("malignancy", "in-situ"):
        v = _malignancy_verdict(d, ctx)
        if v.counts is True:
            if d.verification_status in ("provisional", "differential", "unconfirmed"):
                status = word("verification", d.verification_status)
                unclear.append((d, msg("E4.why-status", why=v.why, status=status)))
            else:
                counted.append((d, v.why))
        elif v.counts is None:
            unclear.append((d, v.why))
        else:
            excepted.append(v.why)
    years = ctx.params.malignancy_lookback_years
    since = add_years(ctx.as_of, -years)
    for d in ctx.with_concept("malignancy-history"):
        dates = [x for x in (d.onset, d.recorded) if x is not None]
        if not dates:
            unclear.append((d, msg("E4.history-undated", label=d.label)))
        elif any(x.latest >= since for x in dates):
            unclear.append((d, msg("E4.history-recent", label=d.label, years=years)))
        else:
            excepted.append(msg("E4.history-old", label=d.label, years=years))
    note = notes(msg("note.not-counted", items=join(excepted, "semicolon")) if excepted else None)
    if counted:
        return result(
            "E4",
            "met",
            msg("E4.met", items=join((w for _, w in counted), "semicolon"), notes=note),
            [d.ref for d, _ in counted],
        )
    if unclear:
        return result(
            "E4",
            "unknown",
            msg("E4.unknown", items=join((w for _, w in unclear), "semicolon"), notes=note),
            [d.ref for d, _ in unclear],
        )
    if excepted:
        return result(
            "E4",
            "not-met",
            msg("E4.excepted", notes=note),
            [d.ref for d in ctx.with_concept("malignancy", "in-situ", "malignancy-history")],
        )
    return result("E4", "not-met", msg("E4.none"))


# --- E5-E9 -------------------------------------------------------------------------------------


def e5_immunodeficiency(ctx: Context) -> CriterionResult:
    return _diagnosis_exclusion("E5", ctx, ["immunodeficiency"])


def e6_comorbidity(ctx: Context) -> CriterionResult:
    found = [
        d for d in ctx.with_concept("severe-comorbidity") if d.concepts.isdisjoint({"malignancy"})
    ]
    if found:
        return result(
            "E6", "unknown", msg("E6.found", labels=labels(found, 6)), [d.ref for d in found]
        )
    return result("E6", "unknown", msg("E6.none"))


_RHEUMATIC = ("ra", "sle", "vasculitis", "sarcoidosis", "rosai-dorfman")


def e7_rheumatic(ctx: Context) -> CriterionResult:
    found = ctx.with_concept(*_RHEUMATIC)
    firm, tentative = split_by_verification(found)
    psc = ctx.with_concept("psc")
    psc_note = notes(msg("E7.psc", labels=labels(psc)) if psc else None)
    if firm:
        return result(
            "E7",
            "met",
            msg("E7.met", labels=labels(firm), notes=psc_note),
            [d.ref for d in firm],
        )
    castleman = ctx.with_concept("castleman")
    if castleman or tentative:
        parts: list[Arg] = []
        if castleman:
            parts.append(msg("E7.castleman", labels=labels(castleman)))
        if tentative:
            parts.append(msg("E7.tentative", labels=labels(tentative)))
        return result(
            "E7",
            "unknown",
            msg("E7.unknown", parts=join(parts, "semicolon"), notes=psc_note),
            [d.ref for d in castleman + tentative],
        )
    return result("E7", "not-met", msg("E7.none", notes=psc_note), [d.ref for d in psc])


def e8_other_trial(ctx: Context) -> CriterionResult:
    ours = set(ctx.params.trial_identifiers)
    hits = []
    for e in ctx.record.enrolments:
        if e.status not in ON_STUDY:
            continue
        if e.period_start is not None and e.period_start.day > ctx.as_of:
            continue
        label = (e.study_label or "") + " " + " ".join(e.study_identifiers)
        if e.study_identifiers & ours or any(t in label for t in ours):
            continue
        hits.append(e)
    if hits:
        studies = join(
            msg(
                "E8.study",
                study=clip(e.study_label or e.study or "") or msg("E8.a-study"),
                status=word("study-status", e.status),
            )
            for e in hits
        )
        return result("E8", "met", msg("E8.met", studies=studies), [e.ref for e in hits])
    return result("E8", "not-met", msg("E8.none"))


def e9_substance(ctx: Context) -> CriterionResult:
    return _diagnosis_exclusion("E9", ctx, ["substance-abuse"])


# --- E10 ---------------------------------------------------------------------------------------


def pregnancy_may_continue(d: Diagnosis, ctx: Context) -> bool:
    """A current pregnancy Condition dated (onset, else recorded) more than ``pregnancy_max_days``
    before asOf is over, whatever its clinicalStatus still says (docs/criteria.md, E10)."""
    return d.date is None or d.date.latest >= ctx.days_before(ctx.params.pregnancy_max_days)


def e10_pregnancy(ctx: Context) -> CriterionResult:
    """Pregnancy or lactation recorded decides, whatever Patient.gender says (docs/criteria.md:
    administrative gender is not biology)."""
    p = ctx.params
    gender = ctx.record.patient.gender
    met: list[tuple[str, Arg]] = []
    unclear: list[tuple[str, Arg]] = []
    over: list[Arg] = []  # pregnancies still "current" long after their date: over
    for d in ctx.with_concept("pregnancy", "lactation"):
        if is_current(d):
            what = "lactation" if "lactation" in d.concepts else "pregnancy"
            if what == "pregnancy" and not pregnancy_may_continue(d, ctx):
                assert d.date is not None
                over.append(
                    msg(
                        "E10.over", label=d.label, since=d.date.text[:10], days=p.pregnancy_max_days
                    )
                )
                continue
            target = (
                unclear
                if d.verification_status in ("provisional", "differential", "unconfirmed")
                else met
            )
            target.append((d.ref, msg(f"E10.{what}", label=d.label)))
    status = ctx.latest("pregnancy-status", within_days=p.pregnancy_status_lookback_days)
    if status is not None and status.finding == "pregnant":
        met.append((status.ref, msg("E10.status-pregnant", date=when(status))))
    hcg = ctx.latest("hcg", "hcg-quant", within_days=p.hcg_lookback_days)
    if hcg is not None:
        positive: bool | None = hcg.finding == "positive"
        negative: bool | None = hcg.finding == "negative"
        if hcg.quantity is not None:  # a censored value decides only if wholly on one side
            positive = ge(interval_of(hcg), point(p.hcg_positive_miu_ml))
            negative = lt(interval_of(hcg), point(p.hcg_negative_miu_ml))
        if positive:
            met.append((hcg.ref, msg("E10.hcg-positive", value=qty(hcg), date=when(hcg))))
        elif not negative:
            unclear.append((hcg.ref, msg("E10.hcg-equivocal", value=qty(hcg), date=when(hcg))))
    if met:
        items = join((t for _, t in met), "semicolon")
        if gender not in (None, "female"):
            text = msg("E10.met-gender", items=items, gender=word("gender", gender))
        else:
            text = msg("E10.met", items=items)
        return result("E10", "met", text, [r for r, _ in met])
    # a pregnancy that is over is said where the answer would otherwise seem to forget it
    said = notes(msg("note.not-counted", items=join(over, "semicolon"))) if over else None
    if unclear:
        items = join((t for _, t in unclear), "semicolon")
        return result(
            "E10",
            "unknown",
            msg("E10.unknown.over", items=items, notes=said)
            if said
            else msg("E10.unknown", items=items),
            [r for r, _ in unclear],
        )
    if said:
        return result("E10", "not-met", msg("E10.none.over", notes=said))
    return result("E10", "not-met", msg("E10.none"))


# --- E11 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LabCheck:
    name: str
    status: CriterionStatus  # met: crosses the limit
    text: Arg
    refs: tuple[str, ...]


_VERDICT: dict[bool | None, CriterionStatus] = {True: "met", False: "not-met", None: "unknown"}


def _below(name: Arg, lab: LabResult, limit: Decimal, unit: str) -> _LabCheck:
    crosses = lt(interval_of(lab), point(limit))  # censored: decided only if wholly on one side
    key = {True: "E11.below.lt", False: "E11.below.ge", None: "E11.below.open"}[crosses]
    text = msg(key, name=name, value=qty(lab), date=when(lab), limit=limit, unit=unit)
    return _LabCheck("", _VERDICT[crosses], text, (lab.ref,))


def _over_uln(
    name: Arg, lab: LabResult, default_uln: Decimal, multiple: Decimal, unit: str
) -> _LabCheck:
    if lab.ref_high is not None:
        uln, source = lab.ref_high.value, msg("E11.uln.reference-range")
    else:
        uln, source = default_uln, msg("E11.uln.default")
    limit = multiple * uln
    crosses = gt(interval_of(lab), point(limit))
    key = {True: "E11.uln.gt", False: "E11.uln.le", None: "E11.uln.open"}[crosses]
    text = msg(
        key,
        name=name,
        value=qty(lab),
        date=when(lab),
        multiple=multiple,
        uln=uln,
        source=source,
        limit=limit,
    )
    return _LabCheck("", _VERDICT[crosses], text, (lab.ref,))


def _egfr_check(ctx: Context) -> _LabCheck | None:
    """eGFR: MDRD from the latest creatinine in the window, else a reported MDRD eGFR, else any
    reported eGFR (docs/criteria.md, E11). Without sex or age MDRD cannot be computed: the reported
    eGFR is the fallback, and the reason says so."""
    window = ctx.params.lab_lookback_days
    limit = ctx.params.egfr_min
    patient = ctx.record.patient
    found: list[Arg] = []  # why MDRD could not be computed
    creat = ctx.latest("creatinine", within_days=window)
    if creat is not None and creat.quantity is not None:
        scr_range = interval_of(creat)
        if patient.gender not in ("male", "female"):
            gender = (
                word("gender", patient.gender) if patient.gender else msg("E11.egfr.not-recorded")
            )
            found.append(msg("E11.egfr.needs-sex", ref=creat.ref, gender=gender))
        elif patient.birth_date is None:
            found.append(msg("E11.egfr.needs-age", ref=creat.ref))
        elif scr_range.hi <= 0 or age_range(patient.birth_date, creat.day)[0] <= 0:
            found.append(msg("E11.egfr.unusable", ref=creat.ref))
        else:
            youngest, oldest = age_range(patient.birth_date, creat.day)
            races = [patient.black] if patient.black is not None else [False, True]
            female = patient.gender == "female"

            def egfr(scr: Decimal) -> list[float]:
                return [
                    mdrd_egfr(scr, age, female, bool(black))
                    for age in {youngest, oldest}
                    for black in races
                ]

            # eGFR falls as creatinine rises: a censored creatinine gives an eGFR interval
            lo = min(egfr(scr_range.hi)) if scr_range.hi != INF else 0.0
            hi = max(egfr(scr_range.lo)) if scr_range.lo > 0 else float("inf")
            scr = msg(
                "E11.egfr.creatinine"
                if patient.black is not None
                else "E11.egfr.creatinine-no-race",
                value=qty(creat),
                date=when(creat),
            )
            shown: Arg
            if hi == float("inf"):
                shown = msg("iv.gt", value=_fixed(lo))
            elif lo == 0.0:
                shown = msg("iv.lt", value=_fixed(hi))
            else:
                shown = _fixed(lo) if hi - lo < 0.05 else msg("span", lo=_fixed(lo), hi=_fixed(hi))
            refs = (creat.ref, patient.ref)
            values: dict[str, Arg] = {"creatinine": scr, "egfr": shown, "limit": limit}
            if hi < float(limit):
                return _LabCheck("eGFR", "met", msg("E11.egfr.lt", **values), refs)
            if lo >= float(limit):
                return _LabCheck("eGFR", "not-met", msg("E11.egfr.ge", **values), refs)
            return _LabCheck("eGFR", "unknown", msg("E11.egfr.straddles", **values), refs)
    lab = ctx.latest("egfr-mdrd", within_days=window) or ctx.latest(
        "egfr-other", within_days=window
    )
    if lab is not None and lab.quantity is not None:
        label: Arg
        if lab.analyte == "egfr-mdrd":
            label = msg("E11.egfr.reported-mdrd")
        else:
            method = (
                clip(lab.code.code, CODE_MAX) if lab.code else msg("E11.egfr.method-not-stated")
            )
            label = msg("E11.egfr.reported-other", method=method)
        check = _below(label, lab, limit, "mL/min/1.73m²")
        if found:
            text = msg("E11.egfr.fallback", notes=join(found, "semicolon"), check=check.text)
            return _LabCheck("eGFR", check.status, text, check.refs)
        return _LabCheck("eGFR", check.status, check.text, check.refs)
    if found:  # a creatinine that MDRD cannot use, and no reported eGFR to fall back on
        assert creat is not None
        text = msg("E11.egfr.none", notes=join(found, "semicolon"))
        return _LabCheck("eGFR", "unknown", text, (creat.ref, patient.ref))
    return None


def _fixed(value: float) -> Fixed:
    """An eGFR as the reasons show it: one decimal."""
    return Fixed(Decimal(f"{value:.1f}"), 1)


def e11_labs(ctx: Context) -> CriterionResult:
    p = ctx.params
    window = p.lab_lookback_days
    checks: list[_LabCheck] = []
    undecided: list[_LabCheck] = []
    missing: list[Arg] = []

    since = ctx.days_before(window)

    def latest(analyte: str, name: Msg) -> LabResult | None:
        lab = ctx.latest(analyte, within_days=window)
        # a later result that could not be read (unit, value) hides the true latest: undecided
        hidden = [
            r
            for r in ctx.unreadable(analyte, since=since)
            if r.when is not None and (lab is None or r.when.day > lab.day)
        ]
        if hidden:
            h = hidden[-1]
            assert h.when is not None
            text = msg(
                "E11.unreadable", name=name, ref=h.ref, date=h.when.day, problem=h.problem or ""
            )
            undecided.append(_LabCheck("", "unknown", text, (h.ref,)))
            return None
        if lab is None or lab.quantity is None:
            missing.append(name)
            return None
        return lab

    if (lab := latest("hemoglobin", msg("lab.haemoglobin"))) is not None:
        checks.append(_below(msg("lab.hb"), lab, p.hemoglobin_min_g_dl, "g/dL"))
    if (lab := latest("neutrophils", msg("lab.neutrophils"))) is not None:
        checks.append(_below(msg("lab.neutrophils"), lab, p.neutrophils_min_10e9_l, "×10⁹/L"))
    if (lab := latest("platelets", msg("lab.platelets"))) is not None:
        checks.append(_below(msg("lab.platelets"), lab, p.platelets_min_10e9_l, "×10⁹/L"))
    if (lab := latest("alt", msg("lab.alt"))) is not None:
        checks.append(_over_uln(msg("lab.alt"), lab, p.uln_alt_u_l, p.uln_multiple, "U/L"))
    if (lab := latest("ast", msg("lab.ast"))) is not None:
        checks.append(_over_uln(msg("lab.ast"), lab, p.uln_ast_u_l, p.uln_multiple, "U/L"))
    if (lab := latest("bilirubin", msg("lab.bilirubin"))) is not None:
        checks.append(_over_uln(msg("lab.tbil"), lab, p.uln_tbil_umol_l, p.uln_multiple, "µmol/L"))
    egfr = _egfr_check(ctx)
    if egfr is None:
        missing.append(msg("lab.egfr-missing"))
    else:
        checks.append(egfr)
    crossing = [c for c in checks if c.status == "met"]
    undecided += [c for c in checks if c.status == "unknown"]
    refs = [r for c in checks + undecided for r in c.refs]
    if crossing:
        return result(
            "E11",
            "met",
            msg("E11.met", checks=join((c.text for c in crossing), "semicolon")),
            [r for c in crossing for r in c.refs],
        )
    if not missing and not undecided:
        return result(
            "E11",
            "not-met",
            msg("E11.not-met", checks=join((c.text for c in checks), "semicolon")),
            refs,
        )
    parts: list[Arg] = []
    if missing:
        parts.append(msg("E11.missing", days=window, date=ctx.as_of, names=join(missing)))
    parts += [c.text for c in undecided]
    parts += [c.text for c in checks if c.status == "not-met"]
    said = {r for c in undecided for r in c.refs}
    bad = [
        lab
        for lab in ctx.unusable(*_E11_ANALYTES)
        if (lab.when is None or since <= lab.when.day <= ctx.as_of) and lab.ref not in said
    ]
    if bad:
        parts.append(
            msg(
                "note.not-used",
                items=join(
                    (msg("ref.problem", ref=lab.ref, problem=lab.problem or "") for lab in bad[:4]),
                    "semicolon",
                ),
            )
        )
    return result("E11", "unknown", msg("E11.unknown", parts=join(parts, "semicolon")), refs)


_E11_ANALYTES = (
    "hemoglobin",
    "neutrophils",
    "platelets",
    "alt",
    "ast",
    "bilirubin",
    "creatinine",
    "egfr-mdrd",
    "egfr-other",
)
