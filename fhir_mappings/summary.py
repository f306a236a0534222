"""Raw FHIR to what a recruiter reads: who the patient is and how to reach them (``PatientSummary``),
and what each resource cited as evidence says (``EvidenceItem``). Pure; no web code.

The summary is contact data, not clinical data: name, birth date, sex, the medical record number
(the ``Patient.identifier`` of the type a site configures, ``MrnRule``), one phone number and the
treating clinician (``Patient.generalPractitioner``). Evidence items hold the value, unit and date
of an Observation, the code and text of a Condition, and so on, so that a page can say what a
criterion rests on without the resources themselves. Both are plain data (``to_dict``/``from_dict``)
so that they travel with an assessment through any transport.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fhir_mappings.extract import codings_of, items, reference_id, status_code, text_of
from fhir_mappings.valuesets import ValueSets, default_valuesets

V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
_DATE = re.compile(r"^\d{4}(-\d{2}(-\d{2})?)?$")
_GENDERS = ("male", "female", "other", "unknown")  # a tuple: junk of any type compares safely
# Phone uses in order of preference for calling a patient (FHIR ContactPointUse).
_PHONE_USE_ORDER = {"mobile": 0, "home": 1, "work": 2, "temp": 3, None: 4}
MAX_TEXT = 200


def _text(value: Any, limit: int = MAX_TEXT) -> str | None:
    if not isinstance(value, str):
        return None
    cleaned = " ".join(value.split())  # no control characters or line breaks in one-line fields
    return cleaned[:limit] or None


# --- who the patient is -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MrnRule:
    """Which ``Patient.identifier`` is the medical record number: every given key must match.

    ``type`` is ``"system|code"`` (or a bare code) of ``identifier.type.coding``; ``system`` is the
    identifier's own namespace (``identifier.system``). The default is the HL7 v2 type ``MR``.
    """

    type: str | None = f"{V2_IDENTIFIER_TYPE}|MR"
    system: str | None = None

    @classmethod
    def from_config(cls, raw: Any) -> MrnRule:
        """From the ``MRN_IDENTIFIER`` setting: a mapping with ``type`` and/or ``system``."""
        if raw is None:
            return cls()
        if not isinstance(raw, Mapping) or not set(raw) <= {"type", "system"}:
            raise ValueError("MRN_IDENTIFIER must be a mapping with 'type' and/or 'system'")
        kind, system = raw.get("type"), raw.get("system")
        if kind is not None and not isinstance(kind, str):
            raise ValueError("MRN_IDENTIFIER.type must be 'system|code' or a code")
        if system is not None and not isinstance(system, str):
            raise ValueError("MRN_IDENTIFIER.system must be a URI")
        if not kind and not system:
            raise ValueError("MRN_IDENTIFIER needs 'type' or 'system'")
        return cls(type=kind or None, system=system or None)

    def matches(self, identifier: Mapping[str, Any]) -> bool:
        if self.system is not None and identifier.get("system") != self.system:
            return False
        if self.type is not None:
            system, _, code = self.type.rpartition("|")
            found = any(
                c.code == code and (not system or c.system == system)
                for c in codings_of(identifier.get("type"))
            )
            if not found:
                return False
        return True


@dataclass(frozen=True, slots=True)
class PatientSummary:
    name: str | None = None
    birth_date: str | None = None  # as recorded: "1979-08-08", "1979-08" or "1979"
    gender: str | None = None  # male | female | other | unknown
    mrn: str | None = None
    phone: str | None = None
    general_practitioner: str | None = None  # the display of Patient.generalPractitioner

    def to_dict(self) -> dict[str, str]:
        return {
            key: value
            for key, value in (
                ("name", self.name),
                ("birthDate", self.birth_date),
                ("gender", self.gender),
                ("mrn", self.mrn),
                ("phone", self.phone),
                ("generalPractitioner", self.general_practitioner),
            )
            if value is not None
        }

    @classmethod
    def from_dict(cls, raw: Any) -> PatientSummary:
        """From ``to_dict()`` output (or anything else: what is not a valid field is left out)."""
        if not isinstance(raw, Mapping):
            return cls()
        birth = _text(raw.get("birthDate"), 10)
        gender = raw.get("gender")
        return cls(
            name=_text(raw.get("name")),
            birth_date=birth if birth and _DATE.match(birth) else None,
            gender=gender if gender in _GENDERS else None,
            mrn=_text(raw.get("mrn"), 64),
            phone=_text(raw.get("phone"), 40),
            general_practitioner=_text(raw.get("generalPractitioner")),
        )


def patient_name(patient: Mapping[str, Any]) -> str | None:
    """ "Given Family" of the patient (the official name first; ``text`` when given), or None."""
    names = [n for n in items(patient.get("name")) if isinstance(n, dict) and n.get("use") != "old"]
    names.sort(key=lambda n: n.get("use") != "official")
    for name in names:
        text = _text(name.get("text"))
        if text:
            return text
        given = [g for g in items(name.get("given")) if isinstance(g, str)]
        family = name.get("family")
        full = _text(" ".join([*given, family if isinstance(family, str) else ""]))
        if full:
            return full
    return None


def _ended(element: Mapping[str, Any]) -> bool:
    period = element.get("period")
    return isinstance(period, dict) and isinstance(period.get("end"), str)


def medical_record_number(patient: Mapping[str, Any], rule: MrnRule) -> str | None:
    found = [
        i
        for i in items(patient.get("identifier"))
        if isinstance(i, dict)
        and isinstance(i.get("value"), str)
        and i.get("use") != "old"
        and not _ended(i)
        and rule.matches(i)
    ]
    found.sort(key=lambda i: i.get("use") not in ("usual", "official"))
    return _text(found[0]["value"], 64) if found else None


def phone_number(patient: Mapping[str, Any]) -> str | None:
    """The number to call: ``telecom`` of system ``phone`` (or ``sms``), not old nor ended, by
    ``rank`` and then mobile, home, work."""
    phones = [
        t
        for t in items(patient.get("telecom"))
        if isinstance(t, dict)
        and t.get("system") in ("phone", "sms")
        and isinstance(t.get("value"), str)
        and t.get("use") != "old"
        and not _ended(t)
    ]

    def order(t: Mapping[str, Any]) -> tuple[int, int, int]:
        rank = t.get("rank")
        ranked = rank if isinstance(rank, int) and not isinstance(rank, bool) else 1_000_000
        use = t.get("use")
        preference = _PHONE_USE_ORDER.get(use, 4) if isinstance(use, str) else 4
        return (ranked, preference, t.get("system") != "phone")

    phones.sort(key=order)
    return _text(phones[0]["value"], 40) if phones else None


def general_practitioner(patient: Mapping[str, Any]) -> str | None:
    for ref in items(patient.get("generalPractitioner")):
        if isinstance(ref, dict):
            display = _text(ref.get("display"))
            if display:
                return display
    return None


def patient_summary(
    patient: Mapping[str, Any] | None, rule: MrnRule | None = None
) -> PatientSummary:
    """The summary of a Patient resource (empty when there is none)."""
    if not isinstance(patient, Mapping) or patient.get("resourceType") != "Patient":
        return PatientSummary()
    birth = patient.get("birthDate")
    gender = patient.get("gender")
    return PatientSummary(
        name=patient_name(patient),
        birth_date=birth if isinstance(birth, str) and _DATE.match(birth) else None,
        gender=gender if gender in _GENDERS else None,
        mrn=medical_record_number(patient, rule or MrnRule()),
        phone=phone_number(patient),
        general_practitioner=general_practitioner(patient),
    )


# --- what a piece of evidence says -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EvidenceItem:
    """One cited resource as a line of text can show it: ``name``, ``value`` ``unit``, ``date``."""

    type: str  # the resource type
    name: str | None = None  # the code's text, else its first display
    code: str | None = None  # the first coding's code (e.g. "D89.84", "1920-8")
    value: str | None = None  # as recorded: "200", "positive", "IgG4 1 of 3"
    unit: str | None = None
    date: str | None = None  # as recorded (the date part of a dateTime)
    status: str | None = None  # a status worth saying: not final, provisional, stopped, ...
    analyte: str | None = None  # the value sets' lab ("ast", "igg4") when the code is known

    def to_dict(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (
                ("type", self.type),
                ("analyte", self.analyte),
                ("name", self.name),
                ("code", self.code),
                ("value", self.value),
                ("unit", self.unit),
                ("date", self.date),
                ("status", self.status),
            )
            if v is not None
        }

    @classmethod
    def from_dict(cls, raw: Any) -> EvidenceItem | None:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("type"), str):
            return None
        return cls(
            type=str(raw["type"])[:40],
            name=_text(raw.get("name")),
            code=_text(raw.get("code"), 64),
            value=_text(raw.get("value"), 80),
            unit=_text(raw.get("unit"), 40),
            date=_text(raw.get("date"), 10),
            status=_text(raw.get("status"), 40),
            analyte=_text(raw.get("analyte"), 40),
        )


def _day(value: Any) -> str | None:
    return value[:10] if isinstance(value, str) and _DATE.match(value[:10]) else None


def _choice_day(res: Mapping[str, Any], prefix: str) -> str | None:
    for suffix in ("DateTime", "Instant"):
        if prefix + suffix in res:
            return _day(res.get(prefix + suffix))
    period = res.get(prefix + "Period")
    if isinstance(period, dict):
        return _day(period.get("start")) or _day(period.get("end"))
    return None


def _concept_name(concept: Any) -> tuple[str | None, str | None]:
    """(name, code) of a CodeableConcept."""
    codings = codings_of(concept)
    name = _text(text_of(concept)) or next((_text(c.display) for c in codings if c.display), None)
    return name, (codings[0].code[:64] if codings else None)


def _number(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return f"{value:g}" if isinstance(value, float) else str(value)


def _observation_value(res: Mapping[str, Any]) -> tuple[str | None, str | None]:
    quantity = res.get("valueQuantity")
    if isinstance(quantity, dict):
        number = _number(quantity.get("value"))
        comparator = (
            quantity.get("comparator") if isinstance(quantity.get("comparator"), str) else ""
        )
        unit = _text(quantity.get("unit"), 40) or _text(quantity.get("code"), 40)
        return (f"{comparator}{number}" if number is not None else None), unit
    if "valueCodeableConcept" in res:
        return _concept_name(res.get("valueCodeableConcept"))[0], None
    for key in ("valueInteger", "valueDecimal"):
        if key in res:
            return _number(res.get(key)), None
    if isinstance(res.get("valueString"), str):
        return _text(res["valueString"], 80), None
    if isinstance(res.get("valueBoolean"), bool):
        return ("yes" if res["valueBoolean"] else "no"), None
    return None, None


def _medication(res: Mapping[str, Any], by_ref: Mapping[str, Mapping[str, Any]]) -> str | None:
    name, _ = _concept_name(res.get("medicationCodeableConcept"))
    if name:
        return name
    ref = res.get("medicationReference")
    if not isinstance(ref, dict):
        return None
    display = _text(ref.get("display"))
    target = ref.get("reference")
    medication: Any = None
    if isinstance(target, str) and target.startswith("#"):
        medication = next(
            (
                c
                for c in items(res.get("contained"))
                if isinstance(c, dict) and c.get("id") == target[1:]
            ),
            None,
        )
    else:
        key = reference_id(ref)
        medication = by_ref.get(key) if key else None
    if isinstance(medication, Mapping):
        return _concept_name(medication.get("code"))[0] or display
    return display


def describe(
    res: Mapping[str, Any],
    by_ref: Mapping[str, Mapping[str, Any]] | None = None,
    valuesets: ValueSets | None = None,
) -> EvidenceItem:
    """What one resource says, for a line of evidence."""
    rtype = str(res.get("resourceType") or "Resource")
    by_ref = by_ref or {}
    if rtype == "Observation":
        name, code = _concept_name(res.get("code"))
        value, unit = _observation_value(res)
        status = res.get("status") if isinstance(res.get("status"), str) else None
        vs = valuesets or default_valuesets()
        analyte = next(
            (
                a
                for a in (vs.lab_for_coding(c.system, c.code) for c in codings_of(res.get("code")))
                if a
            ),
            None,
        )
        return EvidenceItem(
            rtype,
            name,
            code,
            value,
            unit,
            _choice_day(res, "effective") or _day(res.get("issued")),
            None if status in ("final", "amended", "corrected") else _text(status, 40),
            analyte,
        )
    if rtype == "Condition":
        name, code = _concept_name(res.get("code"))
        verification = status_code(res.get("verificationStatus"))
        return EvidenceItem(
            rtype,
            name,
            code,
            date=_choice_day(res, "onset") or _day(res.get("recordedDate")),
            status=None if verification in (None, "confirmed") else _text(verification, 40),
        )
    if rtype in ("MedicationRequest", "MedicationStatement"):
        status = res.get("status") if isinstance(res.get("status"), str) else None
        day = _day(res.get("authoredOn")) or _choice_day(res, "effective")
        return EvidenceItem(rtype, _medication(res, by_ref), date=day, status=_text(status, 40))
    if rtype == "Procedure":
        name, code = _concept_name(res.get("code"))
        return EvidenceItem(rtype, name, code, date=_choice_day(res, "performed"))
    if rtype == "ResearchSubject":
        study = res.get("study")
        name = _text(study.get("display")) if isinstance(study, dict) else None
        status = res.get("status") if isinstance(res.get("status"), str) else None
        period = res.get("period")
        day = _day(period.get("start")) if isinstance(period, dict) else None
        return EvidenceItem(rtype, name, date=day, status=_text(status, 40))
    if rtype == "Patient":
        gender = res.get("gender")
        return EvidenceItem(
            rtype,
            value=gender if gender in _GENDERS else None,
            date=_day(res.get("birthDate")) or _text(res.get("birthDate"), 10),
        )
    name, code = _concept_name(res.get("code"))
    return EvidenceItem(rtype, name, code)


def _ref_of(res: Mapping[str, Any]) -> str | None:
    rtype, rid = res.get("resourceType"), res.get("id")
    return f"{rtype}/{rid}" if isinstance(rtype, str) and isinstance(rid, str) else None


def cited_refs(assessment: Mapping[str, Any]) -> set[str]:
    """Every reference an assessment's criteria cite as evidence."""
    out: set[str] = set()
    for criterion in items(assessment.get("criteria")):
        if isinstance(criterion, dict):
            out.update(r for r in items(criterion.get("evidence")) if isinstance(r, str))
    return out


def describe_evidence(
    resources: Iterable[Mapping[str, Any]],
    refs: Iterable[str],
    valuesets: ValueSets | None = None,
    full_urls: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, EvidenceItem]:
    """The resources among ``resources`` that ``refs`` name (``"Type/id"``, or a Bundle entry's
    ``fullUrl`` given in ``full_urls`` for resources without an id), each described."""
    wanted = set(refs)
    if not wanted:
        return {}
    by_ref: dict[str, Mapping[str, Any]] = {
        url: res
        for url, res in (full_urls or {}).items()
        if url in wanted or res.get("resourceType") == "Medication"
    }
    for res in resources:
        if isinstance(res, Mapping):
            ref = _ref_of(res)
            if ref is not None and (ref in wanted or ref.startswith("Medication/")):
                by_ref[ref] = res
    return {
        ref: describe(by_ref[ref], by_ref, valuesets) for ref in sorted(wanted) if ref in by_ref
    }


# --- what travels with an assessment to the worklist -------------------------------------------


def handoff(
    resources: Iterable[Mapping[str, Any]],
    assessment: Mapping[str, Any],
    rule: MrnRule | None = None,
    valuesets: ValueSets | None = None,
    full_urls: Mapping[str, Mapping[str, Any]] | None = None,
) -> dict[str, Any]:
    """``{"patient": PatientSummary, "evidence": {ref: EvidenceItem}}`` as plain JSON-able data:
    what a recruiter needs beside the assessment, from the resources it was made from. Without a
    Patient resource there is no ``"patient"`` key (the worklist then keeps what it had)."""
    resources = list(resources)
    patient_ref = str(assessment.get("patient") or "")
    patients = [
        r for r in resources if isinstance(r, Mapping) and r.get("resourceType") == "Patient"
    ]
    # the Patient the assessment names; else the only one (a Bundle without ids cites fullUrls)
    patient = next((r for r in patients if _ref_of(r) == patient_ref), None)
    if patient is None and len(patients) == 1:
        patient = patients[0]
    evidence = describe_evidence(resources, cited_refs(assessment), valuesets, full_urls)
    out: dict[str, Any] = {"evidence": {ref: item.to_dict() for ref, item in evidence.items()}}
    if patient is not None:  # no Patient resource: nothing is said about the patient
        out["patient"] = patient_summary(patient, rule).to_dict()
    return out
