"""Build one synthetic patient's FHIR R4 resources, shaped to a profile of ``profiles.py``.

Pure: a patient is a function of (seed, index, as_of). IgG4-RD patients get years of IgG4 results
around a treatment start (baseline, fall under therapy, and for some a re-elevation), routine
screening panels, therapy records and the conditions their profile calls for; everybody else gets
routine panels and common conditions only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from cds_service.synth.profiles import (
    COMMON_CONDITIONS,
    MAJOR_ORGANS,
    PROFILES,
    ROUTINE_PANEL,
    SI_LOINC,
    Profile,
)

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
UCUM = "http://unitsofmeasure.org"
RESPONDER_INDEX = "http://igg4-cds.org/fhir/CodeSystem/responder-index"
LOCAL_LAB = "http://synth.igg4-cds.org/fhir/CodeSystem/lab"
_GOLDEN = (math.sqrt(5) - 1) / 2

_GIVEN = (
    "Alex",
    "Bao",
    "Chen",
    "Dana",
    "Elif",
    "Farid",
    "Grace",
    "Hiro",
    "Ines",
    "Jun",
    "Kai",
    "Lena",
    "Mei",
    "Noor",
    "Omar",
    "Pia",
    "Quinn",
    "Rui",
    "Sami",
    "Tara",
    "Uma",
    "Wen",
    "Yara",
)
_FAMILY = ("Synthetic", "Testcase", "Example", "Sample", "Fixture", "Demo", "Mock", "Dummy")


@dataclass(slots=True)
class SynthPatient:
    id: str
    profile: Profile
    resources: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, resource: dict[str, Any]) -> None:
        self.resources.setdefault(resource["resourceType"], []).append(resource)

    @property
    def count(self) -> int:
        return sum(len(v) for v in self.resources.values())


def shared_resources(seed: int) -> list[dict[str, Any]]:
    """Resources of no patient that patients point to: a small drug catalogue (Medication, for
    medicationReference) and another interventional study (ResearchStudy, for ResearchSubject)."""
    meds = [
        _medication(seed, "prednisone-5", "8640", "prednisone 5 MG Oral Tablet"),
        _medication(seed, "azathioprine-50", "1256", "azathioprine 50 MG Oral Tablet"),
    ]
    study = {
        "resourceType": "ResearchStudy",
        "id": f"s{seed}-study-other",
        "identifier": [{"system": "https://clinicaltrials.gov", "value": "NCT99999999"}],
        "title": "Another interventional drug study (synthetic)",
        "status": "active",
    }
    return [*meds, study]


def _medication(seed: int, slug: str, rxcui: str, display: str) -> dict[str, Any]:
    return {
        "resourceType": "Medication",
        "id": f"s{seed}-med-{slug}",
        "code": _codeable(RXNORM, rxcui, display),
    }


def profile_for(index: int, seed: int) -> Profile:
    """Stratified assignment (golden-ratio sequence): every profile appears in proportion even in
    small populations, and patient ``index`` keeps its profile whatever the population size."""
    u = (index * _GOLDEN + (seed * 0.1234567) % 1.0) % 1.0
    acc = 0.0
    for p in PROFILES:
        acc += p.weight
        if u < acc:
            return p
    return PROFILES[0]


def generate_population(
    n: int,
    *,
    seed: int = 1,
    as_of: date = date(2026, 11, 24),
    start: int = 0,
    history_years: tuple[int, int] = (3, 8),
) -> Iterator[SynthPatient]:
    for i in range(start, start + n):
        yield generate_patient(i, seed=seed, as_of=as_of, history_years=history_years)


def generate_patient(
    index: int,
    *,
    seed: int = 1,
    as_of: date = date(2026, 11, 24),
    history_years: tuple[int, int] = (3, 8),
) -> SynthPatient:
    """Patient ``index`` of population ``seed``. ``history_years`` bounds the years of routine
    panels (about 20 Observations a year): lower it for lean populations in memory tests."""
    profile = profile_for(index, seed)
    rng = random.Random(f"{seed}:{index}")
    return _Builder(rng, f"s{seed}-p{index:06d}", profile, as_of, history_years, seed).build()


def _dt(d: date, rng: random.Random) -> str:
    return f"{d.isoformat()}T{rng.randint(7, 17):02d}:{rng.choice((0, 15, 30, 45)):02d}:00Z"


def _codeable(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}], "text": display}


class _Builder:
    def __init__(
        self,
        rng: random.Random,
        pid: str,
        profile: Profile,
        as_of: date,
        history_years: tuple[int, int],
        seed: int,
    ) -> None:
        self.rng = rng
        self.seed = seed
        self.history_years = history_years
        self.pid = pid
        self.ref = {"reference": f"Patient/{pid}"}
        self.profile = profile
        self.as_of = as_of
        self.p = SynthPatient(pid, profile)
        self.seq = 0
        self.si_units = rng.random() < 0.4  # the site reports in SI units

    def _id(self, kind: str) -> str:
        self.seq += 1
        return f"{self.pid}-{kind}{self.seq}"

    # ----- the whole patient -------------------------------------------------------------------
    def build(self) -> SynthPatient:
        name = self.profile.name
        male = self.rng.random() < (0.65 if self.profile.igg4rd else 0.45)
        if name == "inel-malignancy":
            male = False
        if name == "inel-age":
            age = self.rng.randint(72, 84)
        elif self.profile.igg4rd:
            age = self.rng.randint(30, 66)
        else:
            age = self.rng.randint(18, 90)
        self._patient(male, age)
        years = self.rng.randint(*self.history_years)
        last_panel_gap = (120, 300) if name == "review-no-recent-labs" else (5, 60)
        self._panels(years, last_panel_gap, low_platelets=name == "inel-labs")
        for code, display in self.rng.sample(COMMON_CONDITIONS, self.rng.randint(0, 3)):
            self._condition(code, display, self.as_of - timedelta(days=self.rng.randint(200, 4000)))
        if self.rng.random() < 0.3:
            self._med_statement(
                "6809",
                "metformin 500 MG Oral Tablet",
                "active",
                self.as_of - timedelta(days=self.rng.randint(100, 2000)),
                None,
            )
        if name == "igg4-tested":
            self._igg4_workup()
        if self.profile.igg4rd:
            self._igg4rd(name)
        return self.p

    def _patient(self, male: bool, age: int) -> None:
        born = self.as_of - timedelta(days=age * 365 + self.rng.randint(20, 340))
        resource: dict[str, Any] = {
            "resourceType": "Patient",
            "id": self.pid,
            "identifier": [{"system": "http://synth.igg4-cds.org/mrn", "value": self.pid.upper()}],
            "name": [{"family": self.rng.choice(_FAMILY), "given": [self.rng.choice(_GIVEN)]}],
            "gender": "male" if male else "female",
            "birthDate": born.isoformat(),
        }
        if self.rng.random() < 0.15:
            resource["extension"] = [
                {
                    "url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race",
                    "extension": [
                        {
                            "url": "ombCategory",
                            "valueCoding": {
                                "system": "urn:oid:2.16.840.1.113883.6.238",
                                "code": "2054-5",
                                "display": "Black or African American",
                            },
                        }
                    ],
                }
            ]
        self.p.add(resource)

    # ----- observations ------------------------------------------------------------------------
    def _obs(
        self,
        when: date,
        code: dict[str, Any],
        value: dict[str, Any],
        *,
        category: str = "laboratory",
        extra: dict[str, Any] | None = None,
    ) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Observation",
            "id": self._id("o"),
            "status": "final",
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/observation-category",
                            "code": category,
                        }
                    ]
                }
            ],
            "code": code,
            "subject": self.ref,
            "effectiveDateTime": _dt(when, self.rng),
            **value,
        }
        if extra:
            resource.update(extra)
        self.p.add(resource)

    def _quantity(self, value: float, unit: str, digits: int) -> dict[str, Any]:
        return {
            "valueQuantity": {
                "value": round(value, digits),
                "unit": unit,
                "system": UCUM,
                "code": unit,
            }
        }

    def _panels(self, years: int, last_gap: tuple[int, int], *, low_platelets: bool) -> None:
        day = self.as_of - timedelta(days=self.rng.randint(*last_gap))
        first = self.as_of - timedelta(days=365 * years)
        latest = True
        while day >= first:
            for loinc, display, us_unit, si_unit, si_factor, low, high in ROUTINE_PANEL:
                value = self.rng.uniform(low, high)
                if low_platelets and latest and loinc == "777-3":
                    value = self.rng.uniform(55, 90)  # E11: platelets < 100 x10^9/L
                code, disp, unit, factor = loinc, display, us_unit, 1.0
                if self.si_units:
                    unit, factor = si_unit, si_factor
                    code, disp = SI_LOINC.get(loinc, (loinc, display))
                digits = 0 if value * factor >= 20 else 2
                ref_high = {"1742-6": 40.0, "1920-8": 40.0, "1975-2": 1.2}.get(loinc)
                extra = None
                if ref_high is not None:
                    extra = {
                        "referenceRange": [
                            {
                                "high": {
                                    "value": round(ref_high * factor, 1),
                                    "unit": unit,
                                    "system": UCUM,
                                    "code": unit,
                                }
                            }
                        ]
                    }
                self._obs(
                    day,
                    _codeable(LOINC, code, disp),
                    self._quantity(value * factor, unit, digits),
                    extra=extra,
                )
            latest = False
            day -= timedelta(days=self.rng.randint(90, 200))

    def _igg4(self, when: date, mg_per_l: float) -> None:
        coding = [
            {"system": LOINC, "code": "2469-5", "display": "IgG subclass 4 [Mass/volume] in Serum"}
        ]
        if self.rng.random() < 0.3:
            coding.append({"system": LOCAL_LAB, "code": "IGG4", "display": "IgG4"})
        code = {"coding": coding, "text": "IgG4"}
        if self.si_units:
            value = self._quantity(mg_per_l / 1000.0, "g/L", 2)
        else:
            value = self._quantity(mg_per_l / 10.0, "mg/dL", 1)
        self._obs(when, code, value)

    def _igg4_workup(self) -> None:
        when = self.as_of - timedelta(days=self.rng.randint(30, 1500))
        self._igg4(when, self.rng.uniform(250, 1200))
        if self.rng.random() < 0.5:
            self._condition("K11.20", "Sialoadenitis, unspecified", when)

    # ----- conditions, therapy, studies --------------------------------------------------------
    def _condition(
        self,
        code: str,
        display: str,
        onset: date,
        *,
        status: str = "active",
        verification: str = "confirmed",
        body_site: tuple[str, str] | None = None,
    ) -> None:
        resource: dict[str, Any] = {
            "resourceType": "Condition",
            "id": self._id("c"),
            "clinicalStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                        "code": status,
                    }
                ]
            },
            "verificationStatus": {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                        "code": verification,
                    }
                ]
            },
            "category": [
                {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/condition-category",
                            "code": "problem-list-item",
                        }
                    ]
                }
            ],
            "code": _codeable(ICD10CM, code, display),
            "subject": self.ref,
            "onsetDateTime": _dt(onset, self.rng),
            "recordedDate": onset.isoformat(),
        }
        if body_site:
            resource["bodySite"] = [_codeable(SNOMED, *body_site)]
        self.p.add(resource)

    def _med_statement(
        self,
        rxcui: str,
        text: str,
        status: str,
        start: date,
        end: date | None,
        catalogue: str | None = None,
    ) -> None:
        """A MedicationStatement; with ``catalogue`` (a shared Medication's slug), some sites
        point to the drug (medicationReference) instead of coding it inline."""
        period: dict[str, str] = {"start": start.isoformat()}
        if end:
            period["end"] = end.isoformat()
        drug: dict[str, Any] = {"medicationCodeableConcept": _codeable(RXNORM, rxcui, text)}
        if catalogue and self.rng.random() < 0.4:
            drug = {
                "medicationReference": {"reference": f"Medication/s{self.seed}-med-{catalogue}"}
            }
        self.p.add(
            {
                "resourceType": "MedicationStatement",
                "id": self._id("m"),
                "status": status,
                **drug,
                "subject": self.ref,
                "effectivePeriod": period,
                "dateAsserted": start.isoformat(),
            }
        )

    def _igg4rd(self, name: str) -> None:
        rng, as_of = self.rng, self.as_of
        diagnosed = as_of - timedelta(days=rng.randint(2 * 365 + 60, 9 * 365))
        started = diagnosed + timedelta(days=rng.randint(3, 20))
        organs = rng.sample(MAJOR_ORGANS, rng.randint(1, 2))
        site = (organs[0][0], organs[0][1])
        if name == "inel-no-major-organ":
            site = ("385294005", "Submandibular gland structure")
            self._condition("K11.20", "Sialoadenitis, unspecified", diagnosed)
        else:
            for _sct, _disp, icd, icd_display in organs[1:]:
                self._condition(icd, icd_display, diagnosed)
        self._condition(
            "D89.84",
            "IgG4-related disease",
            diagnosed,
            status="relapse" if name == "inel-relapse" else "active",
            verification="provisional" if name == "review-provisional" else "confirmed",
            body_site=site,
        )
        # Baseline: one or two results before treatment (I3).
        baseline = (
            rng.uniform(900, 1300) if name == "inel-low-baseline" else rng.uniform(2000, 9000)
        )
        self._igg4(
            started - timedelta(days=rng.randint(15, 40)), baseline * rng.uniform(0.85, 0.97)
        )
        self._igg4(started - timedelta(days=rng.randint(1, 10)), baseline)
        # Induction, then low-dose maintenance (I5 needs it active at as_of).
        self.p.add(
            {
                "resourceType": "MedicationRequest",
                "id": self._id("m"),
                "status": "completed",
                "intent": "order",
                "medicationCodeableConcept": _codeable(
                    RXNORM, "8640", "prednisone 20 MG Oral Tablet"
                ),
                "subject": self.ref,
                "authoredOn": started.isoformat(),
                "dosageInstruction": [{"text": "40 mg daily, taper over 12 weeks"}],
            }
        )
        maint_start = started + timedelta(days=90)
        stopped = name == "inel-no-maintenance"
        self._med_statement(
            "8640",
            "prednisone 5 MG Oral Tablet",
            "completed" if stopped else "active",
            maint_start,
            as_of - timedelta(days=rng.randint(200, 400)) if stopped else None,
            catalogue="prednisone-5",
        )
        if rng.random() < 0.3 and not stopped:
            self._med_statement(
                "1256",
                "azathioprine 50 MG Oral Tablet",
                "active",
                maint_start + timedelta(days=rng.randint(0, 200)),
                None,
                catalogue="azathioprine-50",
            )
        self._igg4_course(name, baseline, started)
        if name == "inel-responder-index" or (name == "candidate" and rng.random() < 0.5):
            self._responder_index(organs, high=name == "inel-responder-index")
        if name == "inel-malignancy":
            self._condition(
                "C50.911",
                "Malignant neoplasm of unspecified site of right female breast",
                as_of - timedelta(days=rng.randint(400, 900)),
                status="remission",
            )
        if name == "inel-mimic":
            self._condition(
                "M06.9",
                "Rheumatoid arthritis, unspecified",
                as_of - timedelta(days=rng.randint(300, 3000)),
            )
        if name == "inel-other-trial":
            self.p.add(
                {
                    "resourceType": "ResearchSubject",
                    "id": self._id("r"),
                    "status": "on-study-intervention",
                    "period": {"start": (as_of - timedelta(days=rng.randint(30, 300))).isoformat()},
                    "study": {"reference": f"ResearchStudy/s{self.seed}-study-other"},
                    "individual": self.ref,
                }
            )

    def _igg4_course(self, name: str, baseline: float, started: date) -> None:
        """IgG4 under therapy: an exponential fall to a nadir; re-elevation for some profiles."""
        rng, as_of = self.rng, self.as_of
        floor = rng.uniform(0.08, 0.2)
        tau = rng.uniform(60, 120)
        last = as_of - timedelta(days=rng.randint(10, 90))
        if name == "review-no-current-igg4":
            last = as_of - timedelta(days=rng.randint(200, 400))
        reelevates = name not in ("inel-no-reelevation", "review-no-current-igg4")
        rise_from = last - timedelta(days=rng.randint(120, 220))
        day = started + timedelta(days=rng.randint(40, 80))
        series: list[date] = []
        while day < last:
            series.append(day)
            day += timedelta(days=rng.randint(80, 180))
        series.append(last)
        for when in series:
            t = (when - started).days
            level = baseline * (floor + (1 - floor) * math.exp(-t / tau))
            if reelevates and when > rise_from:
                share = (when - rise_from).days / max(1, (last - rise_from).days)
                target = rng.uniform(0.42, 0.75) if when == last else 0.0
                level = max(level, baseline * (floor + share * 0.1), baseline * target)
            self._igg4(when, level)

    def _responder_index(self, organs: list[tuple[str, str, str, str]], *, high: bool) -> None:
        when = self.as_of - timedelta(days=self.rng.randint(5, 60))
        for n, (sct, display, _icd, _icd_display) in enumerate(organs):
            score = 2 if high and n == 0 else self.rng.randint(0, 1)
            self._obs(
                when,
                _codeable(RESPONDER_INDEX, "organ-score", "IgG4-RD Responder Index organ score"),
                {"valueInteger": score},
                category="exam",
                extra={"bodySite": _codeable(SNOMED, sct, display)},
            )
