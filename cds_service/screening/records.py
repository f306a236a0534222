"""One NDJSON line or FHIR resource: which patient it belongs to, and whether it selects the patient.

This is the reference definition every source follows: the bulk path's scan decides the common cases
the same way without it and hands it the rest (``scan.py``, tested against this), the Spark path
calls it directly, and the FHIR-server path asks the server for exactly the resources ``Selection``
names.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from fhir_mappings.extract import SUBJECT_FIELD
from fhir_mappings.valuesets import ICD10CM, ValueSets, default_valuesets

# The resource types the engine reads, and where each keeps its patient (a FHIR Reference).
PATIENT_REFERENCE: dict[str, str | None] = {"Patient": None, **SUBJECT_FIELD}  # Patient: its id
ENGINE_TYPES: tuple[str, ...] = tuple(PATIENT_REFERENCE)

# Resources of no patient that a patient's resources point to, and the engine reads: the drug of a
# medicationReference, the study of a ResearchSubject (is it this trial?). Handed to the engine with
# every patient that points to them. (referring type -> (field, shared type))
SHARED_REFERENCE: dict[str, tuple[str, str]] = {
    "MedicationRequest": ("medicationReference", "Medication"),
    "MedicationStatement": ("medicationReference", "Medication"),
    "ResearchSubject": ("study", "ResearchStudy"),
}
SHARED_TYPES: tuple[str, ...] = tuple(sorted({t for _, t in SHARED_REFERENCE.values()}))


def reference_re(rtype: str) -> str:
    """Matches "T/123", "https://ehr/fhir/T/123", "T/123/_history/2"; group 1 is the id."""
    return rf"(?:^|/){rtype}/([A-Za-z0-9\-.]{{1,64}})(?:/_history/[^/]*)?$"


PATIENT_REF_RE = reference_re("Patient")
_PATIENT_REF = re.compile(PATIENT_REF_RE)
_SHARED_REF = {t: re.compile(reference_re(t)) for t in SHARED_TYPES}


def patient_key(reference: Any) -> str | None:
    """The canonical "Patient/id" of a Reference's ``reference`` string, or None."""
    if not isinstance(reference, str):
        return None
    m = _PATIENT_REF.search(reference)
    return f"Patient/{m.group(1)}" if m else None


def shared_link(resource: dict[str, Any]) -> str | None:
    """ "Medication/x" or "ResearchStudy/y" that this resource points to, if any."""
    spec = SHARED_REFERENCE.get(str(resource.get("resourceType")))
    if spec is None:
        return None
    field, target = spec
    ref = resource.get(field)
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(reference, str):
        return None
    m = _SHARED_REF[target].search(reference)
    return f"{target}/{m.group(1)}" if m else None


@dataclass(frozen=True, slots=True)
class Selection:
    """The codes that make a patient worth assessing: an IgG4-RD Condition or an IgG4 result.

    Exact (system, code) tokens, because a FHIR server can only search by token; the bulk and Spark
    paths use the same tokens so that the three paths screen the same patients. A patient without
    any is ineligible anyway (I1: no IgG4-RD recorded), unless the diagnosis is only in free text,
    which ``--all-patients`` covers on the bulk paths.
    """

    condition_tokens: frozenset[tuple[str, str]]
    observation_tokens: frozenset[tuple[str, str]]

    @classmethod
    def from_valuesets(cls, vs: ValueSets | None = None) -> Selection:
        vs = vs or default_valuesets()
        igg4rd = vs.conditions["igg4rd"]
        conditions = set(igg4rd.codes)
        for prefix in igg4rd.icd10_prefixes:  # dotless in the value set; FHIR writes the dot
            dotted = prefix if len(prefix) <= 3 else f"{prefix[:3]}.{prefix[3:]}"
            conditions.add((ICD10CM, dotted))
        return cls(frozenset(conditions), frozenset(vs.labs["igg4"].codes))

    def tokens_for(self, rtype: str) -> frozenset[tuple[str, str]]:
        if rtype == "Condition":
            return self.condition_tokens
        if rtype == "Observation":
            return self.observation_tokens
        return frozenset()

    def search_param(self, rtype: str) -> str:
        """The ``code=`` value of a FHIR search for this type: tokens joined by commas (OR)."""
        return ",".join(f"{s}|{c}" for s, c in sorted(self.tokens_for(rtype)))

    def selects(self, resource: dict[str, Any]) -> bool:
        tokens = self.tokens_for(str(resource.get("resourceType")))
        if not tokens:
            return False
        code = resource.get("code")
        codings = code.get("coding") if isinstance(code, dict) else None
        if not isinstance(codings, list):
            return False
        return any(
            isinstance(c, dict)
            and isinstance(c.get("system"), str)
            and isinstance(c.get("code"), str)
            and (c["system"], c["code"]) in tokens
            for c in codings
        )


@dataclass(frozen=True, slots=True)
class Classified:
    """What one line is. ``kind``: resource | shared (a Medication or ResearchStudy) | blank | bad |
    other (a type the engine does not read) | unlinked (an engine type whose subject is not a
    Patient, e.g. a Group)."""

    kind: str
    rtype: str | None = None
    key: str | None = None  # "Patient/x"; for kind "shared", the resource's own "Medication/y"
    selects: bool = False
    message: str = ""
    link: str | None = None  # the shared resource this one points to


BLANK = Classified("blank")


def classify_resource(resource: Any, selection: Selection) -> Classified:
    if not isinstance(resource, dict):
        return Classified("bad", message="not a JSON object")
    rtype = resource.get("resourceType")
    if not isinstance(rtype, str) or not rtype:
        return Classified("bad", message="no resourceType")
    if rtype in SHARED_TYPES:
        rid = resource.get("id")
        m = _SHARED_REF[rtype].search(f"{rtype}/{rid}") if isinstance(rid, str) else None
        return Classified("shared", rtype, f"{rtype}/{rid}") if m else Classified("other", rtype)
    if rtype not in PATIENT_REFERENCE:
        return Classified("other", rtype)
    field = PATIENT_REFERENCE[rtype]
    if field is None:
        rid = resource.get("id")
        key = patient_key(f"Patient/{rid}") if isinstance(rid, str) else None
        if key is None:
            return Classified("bad", rtype, message="Patient without a valid id")
        return Classified("resource", rtype, key)
    ref = resource.get(field)
    reference = ref.get("reference") if isinstance(ref, dict) else None
    if not isinstance(reference, str) or not reference:
        return Classified("bad", rtype, message=f"{rtype} without {field}.reference")
    key = patient_key(reference)
    if key is None:
        return Classified("unlinked", rtype)
    return Classified(
        "resource", rtype, key, selection.selects(resource), link=shared_link(resource)
    )


def classify_line(line: bytes | str, selection: Selection) -> tuple[Classified, Any]:
    """Classify one NDJSON line; returns the parsed resource too (None unless it is one)."""
    if not line.strip():
        return BLANK, None
    try:
        resource = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        # orjson's message gives a position, never the content: safe to report.
        return Classified("bad", message=f"invalid JSON ({_position(str(exc))})"), None
    c = classify_resource(resource, selection)
    return c, (resource if c.kind == "resource" else None)


def _position(message: str) -> str:
    m = re.search(r"line \d+ column \d+", message)
    return m.group(0) if m else "unparsable"


def resource_order(resource: dict[str, Any]) -> tuple[str, bool, str]:
    """The order of a patient's resources handed to the engine, the same on every path (the bulk
    path sorts alike in SQL: type, then id, ids missing last)."""
    rid = resource.get("id")
    return (
        str(resource.get("resourceType")),
        not isinstance(rid, str),
        rid if isinstance(rid, str) else "",
    )
