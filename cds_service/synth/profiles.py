"""The population mix as data: which kinds of patients a synthetic clinic holds, and how many.

Each profile names the overall status it is built to reach (``intended``) as the product reads the
trial's criteria (docs/criteria.md); the generator shapes the data to that end. Weights are
fractions of the population: most patients do not have IgG4-RD.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    weight: float
    intended: str  # "candidate" | "needs-review" | "ineligible" | "not-screened"
    igg4rd: bool
    note: str


PROFILES: tuple[Profile, ...] = (
    Profile("general", 0.869, "not-screened", False, "no IgG4-RD, never tested for IgG4"),
    Profile(
        "igg4-tested", 0.020, "ineligible", False, "IgG4 measured in a work-up, no IgG4-RD (I1)"
    ),
    Profile("candidate", 0.030, "candidate", True, "re-elevation in remission, all else clear"),
    Profile(
        "review-no-recent-labs", 0.012, "needs-review", True, "no screening labs in 90 d (E11)"
    ),
    Profile("review-no-current-igg4", 0.008, "needs-review", True, "no IgG4 within 180 d (I5)"),
    Profile("review-provisional", 0.005, "needs-review", True, "IgG4-RD only provisional (I1)"),
    Profile("inel-no-reelevation", 0.020, "ineligible", True, "IgG4 stays below 30 % (I5)"),
    Profile("inel-relapse", 0.005, "ineligible", True, "clinical relapse recorded (I5)"),
    Profile("inel-no-maintenance", 0.005, "ineligible", True, "maintenance therapy stopped (I5)"),
    Profile("inel-age", 0.005, "ineligible", True, "older than 70 (I2)"),
    Profile("inel-low-baseline", 0.004, "ineligible", True, "baseline IgG4 <= 1400 mg/L (I3)"),
    Profile("inel-no-major-organ", 0.004, "ineligible", True, "salivary glands only (I4, E2)"),
    Profile(
        "inel-responder-index", 0.002, "ineligible", True, "Responder Index 2 in an organ (E1)"
    ),
    Profile("inel-malignancy", 0.003, "ineligible", True, "breast cancer 2 years ago (E4)"),
    Profile("inel-mimic", 0.003, "ineligible", True, "rheumatoid arthritis (E7)"),
    Profile("inel-labs", 0.003, "ineligible", True, "platelets < 100 x10^9/L (E11)"),
    Profile("inel-other-trial", 0.002, "ineligible", True, "on another interventional study (E8)"),
)

# Routine laboratory panel drawn for every patient (LOINC, display, US unit, SI unit, SI factor,
# normal range in US units). Values are drawn inside the range; E11 thresholds are far from it.
ROUTINE_PANEL: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", "g/L", 10.0, 12.0, 16.5),
    (
        "751-8",
        "Neutrophils [#/volume] in Blood by Automated count",
        "10*3/uL",
        "10*9/L",
        1.0,
        2.0,
        7.0,
    ),
    (
        "777-3",
        "Platelets [#/volume] in Blood by Automated count",
        "10*3/uL",
        "10*9/L",
        1.0,
        160.0,
        380.0,
    ),
    (
        "1742-6",
        "Alanine aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        "U/L",
        1.0,
        10.0,
        38.0,
    ),
    (
        "1920-8",
        "Aspartate aminotransferase [Enzymatic activity/volume] in Serum or Plasma",
        "U/L",
        "U/L",
        1.0,
        12.0,
        36.0,
    ),
    (
        "1975-2",
        "Bilirubin.total [Mass/volume] in Serum or Plasma",
        "mg/dL",
        "umol/L",
        17.1,
        0.3,
        1.0,
    ),
    ("2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "mg/dL", "umol/L", 88.4, 0.6, 1.05),
)
# SI LOINC codes for the molar variants, so SI sites send the right code for the unit.
SI_LOINC = {
    "1975-2": ("14631-6", "Bilirubin.total [Moles/volume] in Serum or Plasma"),
    "2160-0": ("14682-9", "Creatinine [Moles/volume] in Serum or Plasma"),
}

# Common conditions of a rheumatology clinic's wider population (ICD-10-CM code, display).
COMMON_CONDITIONS: tuple[tuple[str, str], ...] = (
    ("I10", "Essential (primary) hypertension"),
    ("E11.9", "Type 2 diabetes mellitus without complications"),
    ("E78.5", "Hyperlipidemia, unspecified"),
    ("M17.11", "Unilateral primary osteoarthritis, right knee"),
    ("M81.0", "Age-related osteoporosis without current pathological fracture"),
    ("K21.9", "Gastro-esophageal reflux disease without esophagitis"),
    ("J45.909", "Unspecified asthma, uncomplicated"),
    ("E03.9", "Hypothyroidism, unspecified"),
    ("M10.9", "Gout, unspecified"),
    ("F17.210", "Nicotine dependence, cigarettes, uncomplicated"),
)

# Major organs of IgG4-RD (I4): bodySite (SNOMED) and an organ Condition (ICD-10-CM).
MAJOR_ORGANS: tuple[tuple[str, str, str, str], ...] = (
    ("15776009", "Pancreatic structure", "K86.89", "Other specified diseases of pancreas"),
    ("82849001", "Retroperitoneal structure", "K66.2", "Retroperitoneal fibrosis"),
    ("28273000", "Bile duct structure", "K83.09", "Other cholangitis"),
    ("64033007", "Kidney structure", "N12", "Tubulo-interstitial nephritis"),
    ("2095001", "Accessory sinus structure", "J32.9", "Chronic sinusitis, unspecified"),
)
