"""Words the pages and cards share: eligibility, criterion statuses, sex, the labs' short names and
the screening-visit items. Message ids with their English templates (README, "Localisation")."""

from __future__ import annotations

from cds_service.i18n.message import N_, define

WORDS = define(
    # the overall status of an assessment
    N_("eligibility.candidate", "candidate"),
    N_("eligibility.needs-review", "needs-review"),
    N_("eligibility.ineligible", "ineligible"),
    # a criterion's status and type
    N_("criterion-status.met", "met"),
    N_("criterion-status.not-met", "not-met"),
    N_("criterion-status.unknown", "unknown"),
    N_("criterion-type.inclusion", "inclusion"),
    N_("criterion-type.exclusion", "exclusion"),
    # Patient.gender, as the worklist shows it
    N_("sex.male", "male"),
    N_("sex.female", "female"),
    N_("sex.other", "other"),
    N_("sex.unknown", "sex unknown"),
    N_("sex.not-recorded", "sex not recorded"),
    # short names of the labs the value sets know (fhir_mappings/valuesets), by analyte
    N_("analyte.igg4", "IgG4"),
    N_("analyte.hemoglobin", "Hb"),
    N_("analyte.neutrophils", "Neutrophils"),
    N_("analyte.platelets", "Platelets"),
    N_("analyte.alt", "ALT"),
    N_("analyte.ast", "AST"),
    N_("analyte.bilirubin", "Total bilirubin"),
    N_("analyte.creatinine", "Creatinine"),
    N_("analyte.creatinine-or-egfr", "Creatinine or eGFR"),
    N_("analyte.egfr", "eGFR"),
    N_("analyte.hbsag", "HBsAg"),
    N_("analyte.hiv", "HIV"),
    N_("analyte.hcv-ab", "HCV antibody"),
    N_("analyte.hcv-rna", "HCV RNA"),
    N_("analyte.igra", "IGRA"),
    N_("analyte.hcg", "hCG"),
    N_("analyte.pregnancy-status", "Pregnancy status"),
    # what the screening visit confirms (the whole item, then the short form of a list row)
    N_("visit.I6", "Written informed consent"),
    N_("visit.I7", "Agreement to contraception"),
    N_("visit.E6", "No severe comorbidity (the investigator's judgement)"),
    N_("visit.E1", "IgG4-RD Responder Index (none recorded in 180 days)"),
    N_("visit-short.I6", "consent"),
    N_("visit-short.I7", "contraception"),
    N_("visit-short.E6", "comorbidities"),
    N_("visit-short.E1", "Responder Index"),
)

ROLES = define(
    N_("role.recruiter", "recruiter"),
    N_("role.investigator", "investigator"),
    N_("role.admin", "admin"),
)
# where an assessment came from (the worklist's history)
SOURCES = define(
    N_("source.hook", "hook"),
    N_("source.screen", "screen"),
    N_("source.manual", "manual"),
    N_("source.demo", "demo"),
)

# statuses of the resources cited as evidence, when worth saying (not final, provisional, stopped...)
FHIR_STATUSES = define(
    N_("fhir-status.active", "active"),
    N_("fhir-status.completed", "completed"),
    N_("fhir-status.stopped", "stopped"),
    N_("fhir-status.on-hold", "on-hold"),
    N_("fhir-status.cancelled", "cancelled"),
    N_("fhir-status.draft", "draft"),
    N_("fhir-status.intended", "intended"),
    N_("fhir-status.not-taken", "not-taken"),
    N_("fhir-status.entered-in-error", "entered-in-error"),
    N_("fhir-status.unknown", "unknown"),
    N_("fhir-status.registered", "registered"),
    N_("fhir-status.preliminary", "preliminary"),
    N_("fhir-status.provisional", "provisional"),
    N_("fhir-status.differential", "differential"),
    N_("fhir-status.unconfirmed", "unconfirmed"),
    N_("fhir-status.refuted", "refuted"),
    N_("fhir-status.on-study", "on-study"),
)
