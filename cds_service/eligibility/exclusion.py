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
    num,
    qty,
    result,
    split_by_verification,
)
from cds_service.eligibility.egfr import mdrd_egfr
from cds_service.eligibility.interval import INF, ge, gt, lt, point
from fhir_mappings.dates import add_months, add_years, age_range
from fhir_mappings.facts import Diagnosis, LabResult

ACTIVE_MALIGNANCY = frozenset({"active", "recurrence", "relapse"})
ON_STUDY = frozenset({"on-study", "on-study-intervention", "pending-on-study"})


def _diagnosis_exclusion(
    cid: str, ctx: Context, concepts: Sequence[str], what: str
) -> CriterionResult:
    """An exclusion decided by a recorded diagnosis: firm → met, tentative only → unknown."""
    found = ctx.with_concept(*concepts)
    firm, tentative = split_by_verification(found)
    if firm:
        return result(cid, "met", f"{what} recorded: {labels(firm)}", [d.ref for d in firm])
    if tentative:
        return result(
            cid,
            "unknown",
            f"{what} recorded only as provisional/differential/unconfirmed: {labels(tentative)}",
            [d.ref for d in tentative],
        )
    return result(cid, "not-met", f"no {what} recorded (none recorded)")


# --- E1 ----------------------------------------------------------------------------------------


def e1_responder_index(ctx: Context) -> CriterionResult:
    days = ctx.params.responder_index_lookback_days
    since = ctx.days_before(days)
    scores = [
        lab for lab in ctx.labs("responder-index") if lab.integer is not None and lab.day >= since
    ]
    if not scores:
        return result(
            "E1",
            "unknown",
            f"no IgG4-RD Responder Index in the {days} days before {ctx.as_of.isoformat()};"
            " assessed at the screening visit",
        )
    day = scores[-1].day
    assessment = [lab for lab in scores if lab.day == day]
    limit = ctx.params.responder_index_max_score

    def organ(lab: LabResult) -> str:
        if lab.body_site_text:
            return lab.body_site_text
        for c in lab.body_site:
            return c.display or c.code
        return "organ not stated"

    high = [lab for lab in assessment if lab.integer is not None and lab.integer >= limit]
    listing = ", ".join(f"{organ(lab)} {lab.integer}" for lab in (high or assessment))
    if high:
        return result(
            "E1",
            "met",
            f"Responder Index of {day.isoformat()}: {listing} (≥ {limit})",
            [lab.ref for lab in high],
        )
    return result(
        "E1",
        "not-met",
        f"Responder Index of {day.isoformat()}: every organ < {limit} ({listing})",
        [lab.ref for lab in assessment],
    )


def e2_no_major_organ(i4: CriterionResult) -> CriterionResult:
    mirror: dict[str, CriterionStatus] = {"met": "not-met", "not-met": "met", "unknown": "unknown"}
    return result("E2", mirror[i4.status], f"mirror of I4: {i4.reason}", i4.evidence)


# --- E3 ----------------------------------------------------------------------------------------

_INFECTION_CONDITIONS = {
    "hiv": "HIV",
    "hbv": "chronic hepatitis B",
    "hcv": "chronic hepatitis C",
    "tb-active": "active tuberculosis",
}
_INFECTION_TESTS = {"hbsag": "HBsAg", "hiv": "HIV Ag/Ab", "hcv-rna": "HCV RNA"}


def e3_infection(ctx: Context) -> CriterionResult:
    met_refs: list[str] = []
    met_text: list[str] = []
    unknown_refs: list[str] = []
    unknown_text: list[str] = []
    current = [d for d in ctx.with_concept(*_INFECTION_CONDITIONS) if is_current(d)]
    firm, tentative = split_by_verification(current)
    for d in firm:
        met_refs.append(d.ref)
        met_text.append(d.label)
    for d in tentative:
        unknown_refs.append(d.ref)
        unknown_text.append(f"{d.label} ({d.verification_status})")
    for analyte, name in _INFECTION_TESTS.items():
        latest = ctx.latest(analyte)
        if latest is None:
            continue
        if latest.finding == "positive":
            met_refs.append(latest.ref)
            met_text.append(f"{name} positive ({latest.day.isoformat()})")
        elif latest.finding == "indeterminate":
            unknown_refs.append(latest.ref)
            unknown_text.append(f"{name} indeterminate ({latest.day.isoformat()})")
    if met_refs:
        return result("E3", "met", "infection: " + "; ".join(met_text), met_refs)
    hcv_ab = ctx.latest("hcv-ab")
    if hcv_ab is not None and hcv_ab.finding == "positive":
        rna_after = [r for r in ctx.labs("hcv-rna") if r.day >= hcv_ab.day]
        if not rna_after:
            unknown_refs.append(hcv_ab.ref)
            unknown_text.append(
                f"HCV antibody positive ({hcv_ab.day.isoformat()}) without an HCV RNA result"
            )
    latent = [d for d in ctx.with_concept("tb-latent") if is_current(d)]
    igra = ctx.latest("igra")
    if latent:
        unknown_refs += [d.ref for d in latent]
        unknown_text.append(f"latent tuberculosis recorded ({labels(latent)}) without active TB")
    if igra is not None and igra.finding == "positive":
        unknown_refs.append(igra.ref)
        unknown_text.append(f"positive IGRA ({igra.day.isoformat()}) without active TB")
    if unknown_refs:
        return result("E3", "unknown", "; ".join(unknown_text), unknown_refs)
    tested = [name for analyte, name in _INFECTION_TESTS.items() if ctx.latest(analyte)]
    tests = f"; latest {', '.join(tested)} negative" if tested else ""
    return result(
        "E3",
        "not-met",
        f"no current HIV, hepatitis B/C or active TB recorded (none recorded){tests}",
        [r.ref for a in _INFECTION_TESTS if (r := ctx.latest(a)) is not None],
    )


# --- E4 ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Verdict:
    counts: bool | None  # True: counts as an exclusion; False: does not; None: cannot tell
    why: str


def _malignancy_verdict(d: Diagnosis, ctx: Context) -> _Verdict:
    p = ctx.params
    as_of = ctx.as_of
    active = d.clinical_status in ACTIVE_MALIGNANCY and not d.abated
    resolved = d.clinical_status in ("resolved", "inactive", "remission") or d.abated
    # Exceptions (exclusion 4 of the protocol)
    if "cervix-cis" in d.concepts and resolved and not active:
        if d.abatement is None:
            return _Verdict(None, "cervical carcinoma in situ resolved, date of cure not recorded")
        limit = add_months(as_of, -p.cervical_cis_resolved_months)
        if d.abatement.latest <= limit:
            return _Verdict(
                False,
                f"cervical carcinoma in situ resolved {d.abatement.text} (≥ {p.cervical_cis_resolved_months} months)",
            )
        return _Verdict(
            True,
            f"cervical carcinoma in situ resolved {d.abatement.text} (< {p.cervical_cis_resolved_months} months)",
        )
    if "skin-bcc-scc" in d.concepts and resolved and not active:
        return _Verdict(False, "skin basal/squamous cell carcinoma, resolved")
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
            return _Verdict(
                False,
                f"prostate cancer treated by prostatectomy/radiotherapy more than {p.prostate_treatment_years} years ago, not active",
            )
    if active:
        return _Verdict(True, f"{d.label} ({d.clinical_status})")
    since = add_years(as_of, -p.malignancy_lookback_years)
    dates = [x for x in (d.onset, d.recorded, d.abatement) if x is not None]
    if any(x.latest >= since and x.earliest <= as_of for x in dates):
        return _Verdict(True, f"{d.label} dated within {p.malignancy_lookback_years} years")
    if not dates:
        return _Verdict(None, f"{d.label}: no date and not active")
    return _Verdict(False, f"{d.label}: more than {p.malignancy_lookback_years} years ago")


def e4_malignancy(ctx: Context) -> CriterionResult:
    counted: list[tuple[Diagnosis, str]] = []
    unclear: list[tuple[Diagnosis, str]] = []
    excepted: list[str] = []
    for d in ctx.with_concept("malignancy", "in-situ"):
        v = _malignancy_verdict(d, ctx)
        if v.counts is True:
            if d.verification_status in ("provisional", "differential", "unconfirmed"):
                unclear.append((d, f"{v.why}, {d.verification_status}"))
            else:
                counted.append((d, v.why))
        elif v.counts is None:
            unclear.append((d, v.why))
        else:
            excepted.append(v.why)
    since = add_years(ctx.as_of, -ctx.params.malignancy_lookback_years)
    for d in ctx.with_concept("malignancy-history"):
        dates = [x for x in (d.onset, d.recorded) if x is not None]
        if not dates:
            unclear.append((d, f"{d.label}: history of malignancy without a date"))
        elif any(x.latest >= since for x in dates):
            unclear.append(
                (
                    d,
                    f"{d.label}: history of malignancy recorded within {ctx.params.malignancy_lookback_years} years, timing of the cancer not stated",
                )
            )
        else:
            excepted.append(
                f"{d.label}: recorded more than {ctx.params.malignancy_lookback_years} years ago"
            )
    note = f"; not counted: {'; '.join(excepted)}" if excepted else ""
    if counted:
        return result(
            "E4",
            "met",
            "malignancy: " + "; ".join(w for _, w in counted) + note,
            [d.ref for d, _ in counted],
        )
    if unclear:
        return result(
            "E4", "unknown", "; ".join(w for _, w in unclear) + note, [d.ref for d, _ in unclear]
        )
    if excepted:
        return result(
            "E4",
            "not-met",
            "no malignancy that counts" + note,
            [d.ref for d in ctx.with_concept("malignancy", "in-situ", "malignancy-history")],
        )
    return result("E4", "not-met", "no malignancy recorded (none recorded)")


# --- E5-E9 -------------------------------------------------------------------------------------


def e5_immunodeficiency(ctx: Context) -> CriterionResult:
    return _diagnosis_exclusion("E5", ctx, ["immunodeficiency"], "immunodeficiency")


def e6_comorbidity(ctx: Context) -> CriterionResult:
    found = [
        d for d in ctx.with_concept("severe-comorbidity") if d.concepts.isdisjoint({"malignancy"})
    ]
    if found:
        return result(
            "E6",
            "unknown",
            f"investigator's judgement; recorded conditions worth a look: {labels(found, 6)}",
            [d.ref for d in found],
        )
    return result("E6", "unknown", "investigator's judgement; no severe comorbidity recorded")


_RHEUMATIC = {
    "ra": "rheumatoid arthritis",
    "sle": "systemic lupus erythematosus",
    "vasculitis": "systemic vasculitis",
    "sarcoidosis": "sarcoidosis",
    "rosai-dorfman": "Rosai-Dorfman disease",
}


def e7_rheumatic(ctx: Context) -> CriterionResult:
    found = ctx.with_concept(*_RHEUMATIC)
    firm, tentative = split_by_verification(found)
    psc = ctx.with_concept("psc")
    psc_note = f"; also recorded: {labels(psc)} (a mimic; review)" if psc else ""
    if firm:
        return result(
            "E7",
            "met",
            f"other rheumatic disease or mimicker: {labels(firm)}{psc_note}",
            [d.ref for d in firm],
        )
    castleman = ctx.with_concept("castleman")
    if castleman or tentative:
        parts = []
        if castleman:
            parts.append(
                f"Castleman disease recorded ({labels(castleman)}): the investigator must tell"
                " IgG4-related Castleman (counts for I4) from Castleman disease (excludes)"
            )
        if tentative:
            parts.append(f"tentative: {labels(tentative)}")
        return result(
            "E7", "unknown", "; ".join(parts) + psc_note, [d.ref for d in castleman + tentative]
        )
    return result(
        "E7",
        "not-met",
        f"no other rheumatic disease or mimicker recorded (none recorded){psc_note}",
        [d.ref for d in psc],
    )


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
        names = ", ".join(f"{e.study_label or e.study or 'a study'} ({e.status})" for e in hits)
        return result("E8", "met", f"enrolled in another study: {names}", [e.ref for e in hits])
    return result("E8", "not-met", "no enrolment in another study recorded (none recorded)")


def e9_substance(ctx: Context) -> CriterionResult:
    return _diagnosis_exclusion("E9", ctx, ["substance-abuse"], "alcohol or drug use disorder")


# --- E10 ---------------------------------------------------------------------------------------


def e10_pregnancy(ctx: Context) -> CriterionResult:
    """Pregnancy or lactation recorded decides, whatever Patient.gender says (docs/criteria.md:
    administrative gender is not biology)."""
    p = ctx.params
    gender = ctx.record.patient.gender
    met: list[tuple[str, str]] = []
    unclear: list[tuple[str, str]] = []
    for d in ctx.with_concept("pregnancy", "lactation"):
        if is_current(d):
            what = "lactation" if "lactation" in d.concepts else "pregnancy"
            target = (
                unclear
                if d.verification_status in ("provisional", "differential", "unconfirmed")
                else met
            )
            target.append((d.ref, f"current {what}: {d.label}"))
    status = ctx.latest("pregnancy-status", within_days=p.pregnancy_status_lookback_days)
    if status is not None and status.finding == "pregnant":
        met.append((status.ref, f"pregnancy status 'pregnant' ({status.date_text})"))
    hcg = ctx.latest("hcg", "hcg-quant", within_days=p.hcg_lookback_days)
    if hcg is not None:
        positive: bool | None = hcg.finding == "positive"
        negative: bool | None = hcg.finding == "negative"
        if hcg.quantity is not None:  # a censored value decides only if wholly on one side
            positive = ge(interval_of(hcg), point(p.hcg_positive_miu_ml))
            negative = lt(interval_of(hcg), point(p.hcg_negative_miu_ml))
        if positive:
            met.append((hcg.ref, f"positive hCG {qty(hcg)} ({hcg.date_text})"))
        elif not negative:
            unclear.append((hcg.ref, f"equivocal hCG {qty(hcg)} ({hcg.date_text})"))
    who = f"gender {gender}" if gender not in (None, "female") else ""
    if met:
        text = "; ".join(t for _, t in met) + (f" (recorded {who})" if who else "")
        return result("E10", "met", text, [r for r, _ in met])
    if unclear:
        return result("E10", "unknown", "; ".join(t for _, t in unclear), [r for r, _ in unclear])
    return result("E10", "not-met", "no current pregnancy or lactation recorded (none recorded)")


# --- E11 ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _LabCheck:
    name: str
    status: CriterionStatus  # met: crosses the limit
    text: str
    refs: tuple[str, ...]


_VERDICT: dict[bool | None, CriterionStatus] = {True: "met", False: "not-met", None: "unknown"}


def _below(name: str, lab: LabResult, limit: Decimal, unit: str) -> _LabCheck:
    crosses = lt(interval_of(lab), point(limit))  # censored: decided only if wholly on one side
    sym = {True: "<", False: "≥", None: "may or may not be <"}[crosses]
    text = f"{name} {qty(lab)} ({lab.date_text}) {sym} {num(limit)} {unit}"
    return _LabCheck(name, _VERDICT[crosses], text, (lab.ref,))


def _over_uln(
    name: str, lab: LabResult, default_uln: Decimal, multiple: Decimal, unit: str
) -> _LabCheck:
    if lab.ref_high is not None:
        uln, source = lab.ref_high.value, "the result's reference range"
    else:
        uln, source = default_uln, "default"
    limit = multiple * uln
    crosses = gt(interval_of(lab), point(limit))
    sym = {True: ">", False: "≤", None: "may or may not be >"}[crosses]
    text = (
        f"{name} {qty(lab)} ({lab.date_text}) {sym} {num(multiple)} × ULN"
        f" {num(uln)} ({source}) = {num(limit)}"
    )
    return _LabCheck(name, _VERDICT[crosses], text, (lab.ref,))


def _egfr_check(ctx: Context) -> _LabCheck | None:
    """eGFR: MDRD from the latest creatinine in the window, else a reported MDRD eGFR, else any
    reported eGFR (docs/criteria.md, E11). Without sex or age MDRD cannot be computed: the reported
    eGFR is the fallback, and the reason says so."""
    window = ctx.params.lab_lookback_days
    limit = ctx.params.egfr_min
    patient = ctx.record.patient
    notes: list[str] = []
    creat = ctx.latest("creatinine", within_days=window)
    if creat is not None and creat.quantity is not None:
        scr_range = interval_of(creat)
        if patient.gender not in ("male", "female"):
            notes.append(
                f"creatinine {creat.ref} present but MDRD needs sex"
                f" (gender {patient.gender or 'not recorded'})"
            )
        elif patient.birth_date is None:
            notes.append(f"creatinine {creat.ref} present but MDRD needs age (no birthDate)")
        elif scr_range.hi <= 0 or age_range(patient.birth_date, creat.day)[0] <= 0:
            notes.append(f"creatinine {creat.ref}: MDRD cannot use this value or age")
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
            scr = f"creatinine {qty(creat)} ({creat.date_text})"
            if patient.black is None:
                scr += ", race not recorded"
            if hi == float("inf"):
                shown = f">{lo:.1f}"
            elif lo == 0.0:
                shown = f"<{hi:.1f}"
            else:
                shown = f"{lo:.1f}" if hi - lo < 0.05 else f"{lo:.1f}-{hi:.1f}"
            refs = (creat.ref, patient.ref)
            if hi < float(limit):
                return _LabCheck(
                    "eGFR", "met", f"eGFR (MDRD, from {scr}) {shown} < {num(limit)}", refs
                )
            if lo >= float(limit):
                return _LabCheck(
                    "eGFR", "not-met", f"eGFR (MDRD, from {scr}) {shown} ≥ {num(limit)}", refs
                )
            return _LabCheck(
                "eGFR", "unknown", f"eGFR (MDRD, from {scr}) {shown}: straddles {num(limit)}", refs
            )
    lab = ctx.latest("egfr-mdrd", within_days=window) or ctx.latest(
        "egfr-other", within_days=window
    )
    if lab is not None and lab.quantity is not None:
        if lab.analyte == "egfr-mdrd":
            label = "reported MDRD eGFR"
        else:
            label = (
                f"reported eGFR (not MDRD: {lab.code.code if lab.code else 'method not stated'})"
            )
        check = _below(label, lab, limit, "mL/min/1.73m²")
        prefix = "; ".join(notes) + ", so the reported eGFR is used: " if notes else ""
        return _LabCheck("eGFR", check.status, prefix + check.text, check.refs)
    if notes:  # a creatinine that MDRD cannot use, and no reported eGFR to fall back on
        assert creat is not None
        text = "; ".join(notes) + ", and no reported eGFR in the window"
        return _LabCheck("eGFR", "unknown", text, (creat.ref, patient.ref))
    return None


def e11_labs(ctx: Context) -> CriterionResult:
    p = ctx.params
    window = p.lab_lookback_days
    checks: list[_LabCheck] = []
    undecided: list[_LabCheck] = []
    missing: list[str] = []

    since = ctx.days_before(window)

    def latest(analyte: str, name: str) -> LabResult | None:
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
            undecided.append(
                _LabCheck(
                    name,
                    "unknown",
                    f"latest {name} {h.ref} ({h.when.day.isoformat()}) could not be read: {h.problem}",
                    (h.ref,),
                )
            )
            return None
        if lab is None or lab.quantity is None:
            missing.append(name)
            return None
        return lab

    if (lab := latest("hemoglobin", "haemoglobin")) is not None:
        checks.append(_below("Hb", lab, p.hemoglobin_min_g_dl, "g/dL"))
    if (lab := latest("neutrophils", "neutrophils")) is not None:
        checks.append(_below("neutrophils", lab, p.neutrophils_min_10e9_l, "×10⁹/L"))
    if (lab := latest("platelets", "platelets")) is not None:
        checks.append(_below("platelets", lab, p.platelets_min_10e9_l, "×10⁹/L"))
    if (lab := latest("alt", "ALT")) is not None:
        checks.append(_over_uln("ALT", lab, p.uln_alt_u_l, p.uln_multiple, "U/L"))
    if (lab := latest("ast", "AST")) is not None:
        checks.append(_over_uln("AST", lab, p.uln_ast_u_l, p.uln_multiple, "U/L"))
    if (lab := latest("bilirubin", "total bilirubin")) is not None:
        checks.append(_over_uln("TBil", lab, p.uln_tbil_umol_l, p.uln_multiple, "µmol/L"))
    egfr = _egfr_check(ctx)
    if egfr is None:
        missing.append("eGFR (no creatinine or reported eGFR)")
    else:
        checks.append(egfr)
    crossing = [c for c in checks if c.status == "met"]
    undecided += [c for c in checks if c.status == "unknown"]
    refs = [r for c in checks + undecided for r in c.refs]
    if crossing:
        return result(
            "E11", "met", "; ".join(c.text for c in crossing), [r for c in crossing for r in c.refs]
        )
    if not missing and not undecided:
        return result("E11", "not-met", "; ".join(c.text for c in checks), refs)
    parts = []
    if missing:
        parts.append(
            f"no result in the {window} days before {ctx.as_of.isoformat()} for: {', '.join(missing)}"
        )
    parts += [c.text for c in undecided]
    parts += [c.text for c in checks if c.status == "not-met"]
    said = {r for c in undecided for r in c.refs}
    bad = [
        lab
        for lab in ctx.unusable(*_E11_ANALYTES)
        if (lab.when is None or since <= lab.when.day <= ctx.as_of) and lab.ref not in said
    ]
    if bad:
        parts.append("not used: " + "; ".join(f"{lab.ref} ({lab.problem})" for lab in bad[:4]))
    return result("E11", "unknown", "; ".join(parts), refs)


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
