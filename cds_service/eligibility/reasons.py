"""The words of the criteria: titles and reasons as message templates with named values.

Each criterion's reason is a ``Msg`` (``cds_service.i18n.message``): an id such as ``"I3.met"`` and
named values (numbers as ``Decimal``, dates as ``date``, units and record text as ``str``, lists as
``Join``, parts of a sentence as nested messages). The English templates below are the single
source of the assessment's English ``reason`` and ``title``; the catalogs under
``cds_service/translations`` translate them (the id is the gettext context). Values in ``{braces}``
keep their names in every language; ``{notes}`` is a list of further clauses, each after a "; ".
"""

from __future__ import annotations

from cds_service.i18n.message import N_, define

TITLES = define(
    N_("title.I1", "IgG4-RD by 2019 ACR/EULAR or 2020 RCD criteria"),
    N_("title.I2", "Age {min}-{max} years"),
    N_("title.I3", "Baseline serum IgG4 > {limit} mg/L"),
    N_("title.I4", "Major organ involvement"),
    N_("title.I5", "IgG4 re-elevation during maintenance remission, no relapse"),
    N_("title.I6", "Written informed consent"),
    N_("title.I7", "Agrees to highly effective contraception"),
    N_("title.E1", "IgG4-RD Responder Index >= {score} in any organ"),
    N_("title.E2", "No major organ involvement"),
    N_("title.E3", "Severe or active infection (HIV, HCV, HBV, TB)"),
    N_("title.E4", "Malignancy within {years} years (with exceptions)"),
    N_("title.E5", "Immunodeficiency"),
    N_("title.E6", "Severe comorbidities (investigator's judgement)"),
    N_("title.E7", "Other rheumatic disease or IgG4-RD mimicker"),
    N_("title.E8", "In another interventional drug trial"),
    N_("title.E9", "Alcohol or drug abuse history"),
    N_("title.E10", "Pregnancy or lactation"),
    N_("title.E11", "Screening laboratory exclusions"),
)

# Pieces shared by many reasons.
COMMON = define(
    # a list cut short: "{items} (+3 more)"
    N_("list.more", "{items} (+{count} more)"),
    N_("ref.problem", "{ref} ({problem})"),
    N_("ref.colon-problem", "{ref}: {problem}"),
    N_("label.status", "{label} ({status})"),
    N_("note.not-counted", "not counted: {items}"),
    N_("note.not-used", "not used: {items}"),
    # a quantity as the record sent it: "<70 mg/L"
    N_("qty", "{comparator}{value} {unit}"),
    # a quantity converted to the criterion's unit: "80 umol/L = 0.905 mg/dL"
    N_("qty.converted", "{comparator}{value} {unit} = {comparator}{converted} {converted_unit}"),
    N_("qty.none", "no value"),
    # intervals of a censored value: "<70", "≥3000", "300 to <500"
    N_("iv.lt", "<{value}"),
    N_("iv.le", "≤{value}"),
    N_("iv.gt", ">{value}"),
    N_("iv.ge", "≥{value}"),
    N_("iv.range", "{lo} to {hi}"),
    # a span of two numbers: "57.9-61.2", an age "45-46"
    N_("span", "{lo}-{hi}"),
    N_("date.none", "no date"),
    # a result dated by Observation.issued (no effective date)
    N_("date.issued", "{date}, issued"),
    # a comparison that a censored value leaves open, between two values
    N_("sym.vs", "vs"),
)

# Coded words of FHIR data said in reasons (Condition.verificationStatus, clinicalStatus, ...).
WORDS = define(
    N_("verification.provisional", "provisional"),
    N_("verification.differential", "differential"),
    N_("verification.unconfirmed", "unconfirmed"),
    N_("clinical.active", "active"),
    N_("clinical.recurrence", "recurrence"),
    N_("clinical.relapse", "relapse"),
    N_("finding.positive", "positive"),
    N_("finding.negative", "negative"),
    N_("finding.indeterminate", "indeterminate"),
    N_("finding.pregnant", "pregnant"),
    N_("finding.not-pregnant", "not pregnant"),
    N_("gender.male", "male"),
    N_("gender.female", "female"),
    N_("gender.other", "other"),
    N_("gender.unknown", "unknown"),
    N_("study-status.on-study", "on-study"),
    N_("study-status.on-study-intervention", "on-study-intervention"),
    N_("study-status.pending-on-study", "pending-on-study"),
    N_("organ.pancreas", "pancreas"),
    N_("organ.retroperitoneum", "retroperitoneum"),
    N_("organ.bile-duct", "bile ducts"),
    N_("organ.castleman-igg4", "IgG4-related Castleman disease"),
    N_("organ.lung", "lung"),
    N_("organ.kidney", "kidney"),
    N_("organ.sinus", "nasal sinus"),
    N_("organ.cns", "central nervous system"),
    # IgG4-RD therapy ingredients (codes.md table 4), by their generic names
    N_("drug.prednisone", "prednisone"),
    N_("drug.prednisolone", "prednisolone"),
    N_("drug.methylprednisolone", "methylprednisolone"),
    N_("drug.dexamethasone", "dexamethasone"),
    N_("drug.mycophenolate mofetil", "mycophenolate mofetil"),
    N_("drug.mycophenolic acid", "mycophenolic acid"),
    N_("drug.azathioprine", "azathioprine"),
    N_("drug.methotrexate", "methotrexate"),
    N_("drug.leflunomide", "leflunomide"),
    N_("drug.cyclophosphamide", "cyclophosphamide"),
    N_("drug.tacrolimus", "tacrolimus"),
    N_("drug.cyclosporine", "cyclosporine"),
    N_("drug.iguratimod", "iguratimod"),
    N_("drug.rituximab", "rituximab"),
    N_("drug.tocilizumab", "tocilizumab"),
    # laboratory tests of E11, as named in its reasons
    N_("lab.hb", "Hb"),
    N_("lab.haemoglobin", "haemoglobin"),
    N_("lab.neutrophils", "neutrophils"),
    N_("lab.platelets", "platelets"),
    N_("lab.alt", "ALT"),
    N_("lab.ast", "AST"),
    N_("lab.tbil", "TBil"),
    N_("lab.bilirubin", "total bilirubin"),
    N_("lab.egfr-missing", "eGFR (no creatinine or reported eGFR)"),
)

INCLUSION = define(
    N_("I1.met", "IgG4-RD recorded: {labels}{notes}"),
    N_(
        "I1.tentative",
        "IgG4-RD recorded only as {states}: the classification criteria need confirming{notes}",
    ),
    N_("I1.none", "no IgG4-RD diagnosis recorded (none recorded){notes}"),
    N_("I2.no-birthdate", "no birthDate recorded"),
    N_("I2.met", "age {age} on {date} (birthDate {birth}), within {min}-{max}"),
    N_("I2.not-met", "age {age} on {date} (birthDate {birth}), outside {min}-{max}"),
    N_(
        "I2.unknown",
        "age {age} on {date} (birthDate {birth}): the partial birth date does not decide {min}-{max}",
    ),
    N_(
        "I3.therapy-undated",
        "IgG4-RD therapy recorded without a start date, so treatment start and the baseline IgG4"
        " before it cannot be placed",
    ),
    N_(
        "I3.no-therapy",
        "no IgG4-RD therapy recorded, so treatment start and the baseline IgG4 before it cannot"
        " be placed",
    ),
    N_("I3.no-baseline", "no IgG4 result on or before treatment start {start}{notes}"),
    N_("I3.baseline", "baseline IgG4 {value} mg/L ({date}, before treatment start {start})"),
    N_("I3.met", "{baseline} > {limit} mg/L"),
    N_("I3.censored", "{baseline}: a censored value that may or may not be > {limit} mg/L"),
    N_(
        "I3.hidden",
        "{baseline} ≤ {limit} mg/L, but {count} earlier IgG4 result(s) could not be read"
        " ({problems})",
    ),
    N_("I3.not-met", "{baseline} ≤ {limit} mg/L"),
    N_("I4.met", "major organ involvement: {organs}"),
    N_("I4.tentative", "only tentative diagnoses of {organs}"),
    N_(
        "I4.castleman",
        "Castleman disease recorded: IgG4-related Castleman counts, idiopathic does not",
    ),
    # WHO ICD-10 K83.0 "cholangitis", which holds PSC and IgG4-related sclerosing cholangitis alike
    N_(
        "I4.cholangitis",
        "cholangitis recorded ({labels}): WHO ICD-10 K83.0 does not tell IgG4-related sclerosing"
        " cholangitis (counts) from PSC (does not); confirm",
    ),
    # the clauses of I4's unknown (tentative diagnoses, Castleman disease, K83.0 cholangitis)
    N_("I4.unknown", "{parts}"),
    N_("I4.not-met", "IgG4-RD recorded without major organ involvement"),
    N_(
        "I4.not-met.sites",
        "IgG4-RD recorded without major organ involvement (involvement recorded: {sites})",
    ),
    N_("I4.none", "no major organ involvement recorded (none recorded)"),
    N_("I5.no-therapy", "no active maintenance therapy on {date}"),
    N_("I5.relapse", "IgG4-RD relapse recorded ({statuses})"),
    N_("I5.therapy", "on maintenance {drugs}; no relapse recorded"),
    N_("I5.current", "current IgG4 {value} mg/L ({date})"),
    N_("I5.no-current", "{therapy}; no IgG4 result in the {days} days before {date}{notes}"),
    N_(
        "I5.later-unreadable",
        "{therapy}; a later IgG4 result {ref} could not be read ({problem}), so the current value"
        " is not known (last readable: {value} mg/L, {date})",
    ),
    N_(
        "I5.no-nadir",
        "{therapy}; {current} but no earlier IgG4 after treatment start to give a nadir",
    ),
    N_("I5.no-baseline", "{therapy}; {current}; no baseline IgG4 for rule {rule}"),
    N_("I5.undecided", "{therapy}; {current}; undecided by {rule}: {detail}"),
    N_("I5.met", "{therapy}; {current}; re-elevation by {rule}: {detail}{notes}"),
    N_("I5.not-met", "{therapy}; {current}; no re-elevation by {rule}: {detail}{notes}"),
    N_("I5.disagree", "rules disagree: {rules}"),
    N_("I5.rule-met", "{rule} says met ({detail})"),
    N_("I5.rule-not-met", "{rule} says not met ({detail})"),
    N_("I6.visit", "obtained at the screening visit"),
    N_("I7.visit", "confirmed at the screening visit"),
)

# The three readings of re-elevation (timeline.py); {rel} is a comparison sign, or "vs" when a
# censored value leaves it open.
RULES = define(
    N_("rule.not-decidable", "not decidable"),
    N_(
        "rule.fraction-of-baseline",
        "nadir {nadir} {fell} {fraction} × baseline {baseline} = {line} mg/L and current {current}"
        " {rose} {line}",
    ),
    N_(
        "rule.rise-vs-baseline",
        "rise {rise} mg/L from nadir {nadir} {rel} {fraction} × baseline {baseline} = {need}",
    ),
    N_("rule.ratio-vs-nadir", "current {current} {rel} {ratio} × nadir {nadir} = {need}"),
    N_("rule.censored", "{detail} (a censored value straddles the line: undecided)"),
)

EXCLUSION = define(
    N_(
        "E1.none",
        "no IgG4-RD Responder Index in the {days} days before {date}; assessed at the screening"
        " visit",
    ),
    N_("E1.organ-score", "{organ} {score}"),
    N_("E1.organ-not-stated", "organ not stated"),
    N_("E1.met", "Responder Index of {date}: {scores} (≥ {limit})"),
    N_("E1.not-met", "Responder Index of {date}: every organ < {limit} ({scores})"),
    N_("E2.mirror", "mirror of I4: {reason}"),
    N_("E3.met", "infection: {items}"),
    N_("E3.test-positive", "{test} positive ({date})"),
    N_("E3.test-indeterminate", "{test} indeterminate ({date})"),
    N_("E3.hcv-ab", "HCV antibody positive ({date}) without an HCV RNA result"),
    N_("E3.latent-tb", "latent tuberculosis recorded ({labels}) without active TB"),
    N_("E3.igra", "positive IGRA ({date}) without active TB"),
    # the clauses of E3's unknown
    N_("E3.unknown", "{parts}"),
    N_("E3.latest-negative", "latest {tests} negative"),
    N_("E3.none", "no current HIV, hepatitis B/C or active TB recorded (none recorded){notes}"),
    N_("E4.cis-undated", "cervical carcinoma in situ resolved, date of cure not recorded"),
    N_("E4.cis-old", "cervical carcinoma in situ resolved {date} (≥ {months} months)"),
    N_("E4.cis-recent", "cervical carcinoma in situ resolved {date} (< {months} months)"),
    N_("E4.skin", "skin basal/squamous cell carcinoma, resolved"),
    N_(
        "E4.prostate",
        "prostate cancer treated by prostatectomy/radiotherapy more than {years} years ago,"
        " not active",
    ),
    N_("E4.active", "{label} ({status})"),
    N_("E4.within", "{label} dated within {years} years"),
    N_("E4.undated", "{label}: no date and not active"),
    N_("E4.old", "{label}: more than {years} years ago"),
    N_("E4.why-status", "{why}, {status}"),
    N_("E4.history-undated", "{label}: history of malignancy without a date"),
    N_(
        "E4.history-recent",
        "{label}: history of malignancy recorded within {years} years, timing of the cancer not"
        " stated",
    ),
    N_("E4.history-old", "{label}: recorded more than {years} years ago"),
    N_("E4.met", "malignancy: {items}{notes}"),
    # the malignancies that leave E4 open, then {notes}
    N_("E4.unknown", "{items}{notes}"),
    N_("E4.excepted", "no malignancy that counts{notes}"),
    N_("E4.none", "no malignancy recorded (none recorded)"),
    N_("E5.met", "immunodeficiency recorded: {labels}"),
    N_(
        "E5.tentative",
        "immunodeficiency recorded only as provisional/differential/unconfirmed: {labels}",
    ),
    N_("E5.none", "no immunodeficiency recorded (none recorded)"),
    N_("E6.found", "investigator's judgement; recorded conditions worth a look: {labels}"),
    N_("E6.none", "investigator's judgement; no severe comorbidity recorded"),
    N_("E7.met", "other rheumatic disease or mimicker: {labels}{notes}"),
    N_(
        "E7.castleman",
        "Castleman disease recorded ({labels}): the investigator must tell IgG4-related Castleman"
        " (counts for I4) from Castleman disease (excludes)",
    ),
    N_("E7.tentative", "tentative: {labels}"),
    # the clauses of E7's unknown, then {notes}
    N_("E7.unknown", "{parts}{notes}"),
    N_("E7.psc", "also recorded: {labels} (a mimic; review)"),
    N_("E7.none", "no other rheumatic disease or mimicker recorded (none recorded){notes}"),
    N_("E8.study", "{study} ({status})"),
    N_("E8.a-study", "a study"),
    N_("E8.met", "enrolled in another study: {studies}"),
    N_("E8.none", "no enrolment in another study recorded (none recorded)"),
    N_("E9.met", "alcohol or drug use disorder recorded: {labels}"),
    N_(
        "E9.tentative",
        "alcohol or drug use disorder recorded only as provisional/differential/unconfirmed:"
        " {labels}",
    ),
    N_("E9.none", "no alcohol or drug use disorder recorded (none recorded)"),
    N_("E10.pregnancy", "current pregnancy: {label}"),
    N_("E10.lactation", "current lactation: {label}"),
    N_("E10.status-pregnant", "pregnancy status 'pregnant' ({date})"),
    N_("E10.hcg-positive", "positive hCG {value} ({date})"),
    N_("E10.hcg-equivocal", "equivocal hCG {value} ({date})"),
    # what decides E10 (clauses)
    N_("E10.met", "{items}"),
    N_("E10.met-gender", "{items} (recorded gender {gender})"),
    N_("E10.unknown", "{items}"),
    N_("E10.none", "no current pregnancy or lactation recorded (none recorded)"),
    # a pregnancy Condition still "current" longer than a pregnancy lasts (pregnancy_max_days)
    N_(
        "E10.over",
        "{label} recorded as current since {since}, longer than a pregnancy lasts ({days} days)",
    ),
    N_("E10.unknown.over", "{items}{notes}"),
    N_("E10.none.over", "no current pregnancy or lactation recorded (none recorded){notes}"),
    N_("E11.below.lt", "{name} {value} ({date}) < {limit} {unit}"),
    N_("E11.below.ge", "{name} {value} ({date}) ≥ {limit} {unit}"),
    N_("E11.below.open", "{name} {value} ({date}) may or may not be < {limit} {unit}"),
    N_("E11.uln.gt", "{name} {value} ({date}) > {multiple} × ULN {uln} ({source}) = {limit}"),
    N_("E11.uln.le", "{name} {value} ({date}) ≤ {multiple} × ULN {uln} ({source}) = {limit}"),
    N_(
        "E11.uln.open",
        "{name} {value} ({date}) may or may not be > {multiple} × ULN {uln} ({source}) = {limit}",
    ),
    N_("E11.uln.reference-range", "the result's reference range"),
    N_("E11.uln.default", "default"),
    N_("E11.egfr.needs-sex", "creatinine {ref} present but MDRD needs sex (gender {gender})"),
    N_("E11.egfr.not-recorded", "not recorded"),
    N_("E11.egfr.needs-age", "creatinine {ref} present but MDRD needs age (no birthDate)"),
    N_("E11.egfr.unusable", "creatinine {ref}: MDRD cannot use this value or age"),
    N_("E11.egfr.creatinine", "creatinine {value} ({date})"),
    N_("E11.egfr.creatinine-no-race", "creatinine {value} ({date}), race not recorded"),
    N_("E11.egfr.lt", "eGFR (MDRD, from {creatinine}) {egfr} < {limit}"),
    N_("E11.egfr.ge", "eGFR (MDRD, from {creatinine}) {egfr} ≥ {limit}"),
    N_("E11.egfr.straddles", "eGFR (MDRD, from {creatinine}) {egfr}: straddles {limit}"),
    N_("E11.egfr.reported-mdrd", "reported MDRD eGFR"),
    N_("E11.egfr.reported-other", "reported eGFR (not MDRD: {method})"),
    N_("E11.egfr.method-not-stated", "method not stated"),
    N_("E11.egfr.fallback", "{notes}, so the reported eGFR is used: {check}"),
    N_("E11.egfr.none", "{notes}, and no reported eGFR in the window"),
    N_("E11.unreadable", "latest {name} {ref} ({date}) could not be read: {problem}"),
    N_("E11.missing", "no result in the {days} days before {date} for: {names}"),
    # the laboratory checks that decide E11 (clauses)
    N_("E11.met", "{checks}"),
    N_("E11.not-met", "{checks}"),
    # what is missing or undecided, then the checks that pass (clauses)
    N_("E11.unknown", "{parts}"),
)

# A Condition that may be what an exclusion is about, though no code of the value sets decides it
# (uncertain.py; docs/criteria.md, "conditions not in the value sets").
UNCERTAIN = define(
    N_("uncertain.may-be", "{labels}: may be {what}; confirm"),
    N_("uncertain.reads-like", "{labels}: not in the value sets, reads like {what}; confirm"),
    N_("uncertain.from-rest", "{found}; from the rest: {reason}"),
    N_("uncertain.what.infection", "HIV, hepatitis B or C, tuberculosis or a severe infection"),
    N_("uncertain.what.malignancy", "a malignancy"),
    N_("uncertain.what.immunodeficiency", "an immunodeficiency"),
    N_("uncertain.what.rheumatic", "another rheumatic disease or IgG4-RD mimicker"),
    N_("uncertain.what.substance-abuse", "alcohol or drug abuse"),
    N_("uncertain.what.pregnancy", "a pregnancy"),
    N_("uncertain.what.lactation", "lactation"),
)

# A criterion that rests on data that could not be read (availability.py).
UNAVAILABLE = define(
    N_("unavailable.type", "{type} could not be read ({why})"),
    N_("unavailable.from-rest", "{unread}; from the rest: {reason}"),
    # why a resource type could not be read (said by the callers: the hook, the SMART app)
    N_("unavailable.no-scope", "not within the access granted to this app"),
    N_("unavailable.only-with", "only {type} with {only} may be read by this app"),
    N_("unavailable.search-failed", "FHIR search failed: {kind}"),
    N_("unavailable.medication", "referenced Medication could not be read: {kind}"),
    N_(
        "unavailable.medication-scope",
        "the drugs they name (Medication) may not be read by this app",
    ),
)
