"""Raw FHIR R4 resources (plain dicts) to clinical facts.

The fast path reads only the fields the criteria need; it does no model validation (fhir.resources
costs ~0.1 ms a resource and is kept for fixtures and for what the service writes). Anything that
cannot be used is kept with its reason, or recorded as an ``Issue``: never silently dropped.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from fhir_mappings.dates import choice_date, parse_fhir_date, period_bounds
from fhir_mappings.facts import (
    Coding,
    Diagnosis,
    Enrolment,
    FuzzyDate,
    Issue,
    LabResult,
    PatientFacts,
    PatientRecord,
    ProcedureFact,
    Quantity,
    Therapy,
)
from fhir_mappings.quote import CODE_MAX, clip
from fhir_mappings.units import (
    UnitError,
    conversion_factor,
    normalise_unit,
    normalise_unit_text,
    to_decimal,
)
from fhir_mappings.valuesets import INTERPRETATION, RXNORM, ValueSets

USABLE_OBSERVATION_STATUS = frozenset({"final", "amended", "corrected"})
UNUSABLE_VERIFICATION = frozenset({"refuted", "entered-in-error"})
US_CORE_RACE = "http://hl7.org/fhir/us/core/StructureDefinition/us-core-race"
OMB_BLACK = "2054-5"
# Analytes reported as coded findings (positive/negative), possibly sent as quantities.
QUALITATIVE = frozenset({"hbsag", "hiv", "hcv-ab", "hcv-rna", "igra", "hcg", "pregnancy-status"})
# A lab's string value without a unit is read in the analyte's unit only where no other unit is in
# use: eGFR is reported in mL/min/1.73 m2 everywhere (docs/criteria.md, censored values).
UNITLESS_STRING_ANALYTES = frozenset({"egfr-mdrd", "egfr-other"})
COMPARATORS = {
    "<": "<",
    "<=": "<=",
    ">": ">",
    ">=": ">=",
    "≤": "<=",
    "≥": ">=",
    "=<": "<=",
    "=>": ">=",
}
# A lab's own string: an optional comparator, a number, an optional unit (">60", "< 0.5 mg/dL").
_STRING_VALUE = re.compile(r"^\s*(<=|>=|=<|=>|<|>|≤|≥)?\s*([+]?\d+(?:\.\d+)?|\.\d+)\s*(\S.*)?$")
# Keys the reader adds to a resource it holds (never FHIR element names: FHIR names have no colon).
FULL_URL_KEY = "igg4cds:fullUrl"  # the Bundle entry's fullUrl (api.bundle_resources)
REF_KEY = "igg4cds:ref"  # how evidence cites a resource without an id (its fullUrl, or its place)


class RecordError(ValueError):
    """The resources do not describe exactly one patient."""


def items(value: Any) -> list[Any]:
    """A FHIR array as a list; anything else (absent, or junk where an array belongs) as empty."""
    return value if isinstance(value, list) else []


def codings_of(concept: Any) -> tuple[Coding, ...]:
    if not isinstance(concept, dict):
        return ()
    out = []
    for c in items(concept.get("coding")):
        if isinstance(c, dict) and isinstance(c.get("code"), str):
            system = c.get("system")
            display = c.get("display")
            out.append(
                Coding(
                    system if isinstance(system, str) else "",
                    str(c["code"]),
                    display if isinstance(display, str) else None,
                )
            )
    return tuple(out)


def text_of(concept: Any) -> str | None:
    if isinstance(concept, dict) and isinstance(concept.get("text"), str):
        return str(concept["text"])
    return None


def status_code(concept: Any) -> str | None:
    """The code of a CodeableConcept status (Condition.clinicalStatus, verificationStatus)."""
    for c in codings_of(concept):
        return c.code
    text = text_of(concept)
    return text.lower() if text else None


def reference_id(ref: Any, aliases: Mapping[str, str] | None = None) -> str | None:
    """The "Type/id" tail of a Reference (relative, absolute or with _history); a reference to a
    Bundle entry's fullUrl (``urn:uuid:…``) resolves through ``aliases`` to how that entry is cited."""
    if not isinstance(ref, dict):
        return None
    value = ref.get("reference")
    if not isinstance(value, str):
        return None
    if aliases and value in aliases:
        return aliases[value]
    parts = value.split("/_history/")[0].rstrip("/").split("/")
    if len(parts) >= 2:
        return f"{parts[-2]}/{parts[-1]}"
    return value


def resource_ref(res: Mapping[str, Any]) -> str:
    """How evidence cites a resource: "Type/id", else the fullUrl or place build_record gave it."""
    given = res.get(REF_KEY)
    if isinstance(given, str):
        return given
    return f"{res.get('resourceType')}/{res.get('id')}"


_RESTFUL = re.compile(r"^https?://\S+/([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]*)?$")
_URN = re.compile(r"^urn:(?:uuid:[0-9A-Fa-f-]{1,64}|oid:[0-2](?:\.\d+)+)$")


def _cited_by_full_url(rtype: str, full_url: str) -> str | None:
    """An id-less resource's citation from its fullUrl: the ``urn:uuid:``/``urn:oid:`` itself, or
    "Type/id" for a RESTful URL of this type; None for anything else."""
    if _URN.match(full_url):
        return full_url
    m = _RESTFUL.match(full_url)
    if m and m.group(1) == rtype:
        return f"{rtype}/{m.group(2)}"
    return None


# --- Patient -----------------------------------------------------------------------------------


def extract_patient(res: Mapping[str, Any]) -> PatientFacts:
    black: bool | None = None
    for ext in items(res.get("extension")):
        if isinstance(ext, dict) and ext.get("url") == US_CORE_RACE:
            black = False
            for sub in items(ext.get("extension")):
                if not isinstance(sub, dict) or sub.get("url") != "ombCategory":
                    continue
                coding = sub.get("valueCoding") or {}
                if isinstance(coding, dict) and coding.get("code") == OMB_BLACK:
                    black = True
    gender = res.get("gender") if isinstance(res.get("gender"), str) else None
    return PatientFacts(
        ref=resource_ref(res),
        birth_date=parse_fhir_date(res.get("birthDate")),
        gender=gender,
        black=black,
        display_name=_display_name(res),
    )


def _display_name(res: Mapping[str, Any]) -> str | None:
    for name in items(res.get("name")):
        if not isinstance(name, dict):
            continue
        if isinstance(name.get("text"), str):
            return str(name["text"])
        given = " ".join(g for g in items(name.get("given")) if isinstance(g, str))
        family = name.get("family") if isinstance(name.get("family"), str) else ""
        full = f"{given} {family}".strip()
        if full:
            return full
    return None


# --- Observation -------------------------------------------------------------------------------


# Codes not recognised are named one by one up to this many per resource type and patient; the
# rest are counted in one more issue (a record with thousands of local codes stays readable).
UNRECOGNISED_LISTED = 30


@dataclass(slots=True)
class _Unrecognised:
    """Codes that no value set recognises, grouped by code: how many resources, the first one, and
    (Conditions) what the name reads like."""

    counts: Counter[str] = field(default_factory=Counter)
    first_ref: dict[str, str] = field(default_factory=dict)
    reads_like: dict[str, str] = field(default_factory=dict)

    def note(self, key: str, ref: str, reads_like: str = "") -> None:
        self.counts[key] += 1
        self.first_ref.setdefault(key, ref)
        if reads_like:
            self.reads_like.setdefault(key, reads_like)

    def issues(self, rtype: str) -> list[Issue]:
        out: list[Issue] = []
        keys = list(self.counts)
        for key in keys[:UNRECOGNISED_LISTED]:
            n = self.counts[key]
            more = f" and {n - 1} more" if n > 1 else ""
            tail = self.reads_like.get(key) or "not used"
            out.append(Issue(self.first_ref[key] + more, f"code {key} not recognised; {tail}"))
        rest = keys[UNRECOGNISED_LISTED:]
        if rest:
            n = sum(self.counts[k] for k in rest)
            more = f" and {n - 1} more" if n > 1 else ""
            out.append(
                Issue(
                    self.first_ref[rest[0]] + more,
                    f"{len(rest)} more {rtype} codes not recognised; not used",
                )
            )
        return out


def extract_observation(
    res: Mapping[str, Any], vs: ValueSets, unrecognised: _Unrecognised | None = None
) -> list[LabResult]:
    """The lab results in an Observation: its own value and any recognised component."""
    ref = resource_ref(res)
    analyte, coding, matched_by = _identify(res.get("code"), vs)
    components = res.get("component")
    if analyte is None and not components:  # the common case for data no criterion reads
        if unrecognised is not None and coding is None:
            _note_unrecognised(res, ref, vs, unrecognised)
        return []
    status = res.get("status") if isinstance(res.get("status"), str) else None
    # docs/criteria.md, dates: effective[x] (a Period: its start), else issued
    when = choice_date(res, "effective")
    dated_by = "effective"
    if when is None and (issued := parse_fhir_date(res.get("issued"))) is not None:
        when, dated_by = issued, "issued"
    out: list[LabResult] = []
    if analyte is not None:
        out.append(_lab(ref, analyte, coding, matched_by, status, when, res, res, vs))
    for comp in items(res.get("component")):
        if not isinstance(comp, dict):
            continue
        c_analyte, c_coding, c_by = _identify(comp.get("code"), vs)
        if c_analyte is not None:
            out.append(_lab(ref, c_analyte, c_coding, c_by, status, when, res, comp, vs))
    if dated_by == "issued":
        for lab in out:
            lab.dated_by = "issued"
    if not out and unrecognised is not None and any(k.startswith("value") for k in res):
        _note_unrecognised(res, ref, vs, unrecognised)
    return out


def _note_unrecognised(
    res: Mapping[str, Any], ref: str, vs: ValueSets, unrecognised: _Unrecognised
) -> None:
    unrecognised.note(_code_key(codings_of(res.get("code")), text_of(res.get("code"))), ref)


def _code_key(codings: tuple[Coding, ...], text: str | None) -> str:
    """How a code not recognised is named in a data issue (bounded): its first coding, else its text."""
    return str(codings[0]) if codings else f"text '{clip(text or '')}'"


_KNOWN_UNUSED = Coding("", "", "known-unused")  # marks a code that is recognised but not used


def _identify(concept: Any, vs: ValueSets) -> tuple[str | None, Coding | None, str]:
    """(analyte, coding that matched, how); the coding is _KNOWN_UNUSED for known-unused codes."""
    codings = codings_of(concept)
    for c in codings:
        name = vs.lab_for_coding(c.system, c.code)
        if name is not None:
            return name, c, "code"
    # Not coded in the value sets: the same local code and name recur in every patient's data, so
    # the answer is remembered per (text, codings) (issue 13)
    text = text_of(concept)
    if text is None and all(c.display is None for c in codings):
        found = _identify_uncoded(codings, text, vs)  # codes only: nothing to remember
    else:
        key = (text, *[(c.system, c.code, c.display) for c in codings])
        known = vs.identified.get(key)
        found = (
            known
            if known is not None
            else vs.remember_identified(key, _identify_uncoded(codings, text, vs))
        )
    if found == "known-unused":
        return None, _KNOWN_UNUSED, "code"
    if found:
        return found, codings[0] if codings else None, "text"
    return None, None, "code"


def _identify_uncoded(codings: tuple[Coding, ...], text: str | None, vs: ValueSets) -> str:
    """The analyte named by the text or a display, "known-unused", or "" for none."""
    if any(vs.labs_known_unused.matches_coding(c.system, c.code) for c in codings):
        return "known-unused"
    for t in [text, *(c.display for c in codings)]:
        if t:
            name = vs.lab_for_text(t)
            if name is not None:
                return name
    return ""


def _lab(
    ref: str,
    analyte: str,
    coding: Coding | None,
    matched_by: str,
    status: str | None,
    when: FuzzyDate | None,
    res: Mapping[str, Any],
    holder: Mapping[str, Any],
    vs: ValueSets,
) -> LabResult:
    """One result; ``holder`` is the Observation itself or one of its components."""
    problem: str | None = None
    if status not in USABLE_OBSERVATION_STATUS:
        problem = f"status '{clip(str(status), CODE_MAX)}' is not final, amended or corrected"
    elif when is None:
        problem = "no usable date (effective[x] or issued)"
    quantity: Quantity | None = None
    finding: str | None = None
    integer: int | None = None
    ref_high: Quantity | None = None
    spec = vs.lab_units.get(analyte)
    has_value = False  # a value was sent (even if it cannot be used)
    vq = holder.get("valueQuantity")
    vstr = holder.get("valueString")
    parsed = _string_value(vstr) if spec is not None or analyte == "hcv-rna" else None
    if isinstance(holder.get("valueInteger"), int) and not isinstance(
        holder.get("valueInteger"), bool
    ):
        integer = int(holder["valueInteger"])
        has_value = True
    elif isinstance(vq, dict) or (parsed is not None and analyte not in QUALITATIVE):
        if isinstance(vq, dict):
            value = to_decimal(vq.get("value"))
            unit = normalise_unit(vq)
            raw_comparator = vq.get("comparator")
            comparator = (
                COMPARATORS.get(raw_comparator) if isinstance(raw_comparator, str) else None
            )
            if isinstance(raw_comparator, str) and comparator is None and problem is None:
                problem = f"comparator '{clip(raw_comparator, CODE_MAX)}' not understood"
        else:  # a lab's own string: ">60", "< 0.5 mg/dL" (docs/codes.md, censored values)
            assert parsed is not None
            value, comparator, unit = parsed
            if unit is None and analyte in UNITLESS_STRING_ANALYTES and spec is not None:
                unit = spec.canonical
        has_value = value is not None
        if analyte in QUALITATIVE:
            finding = _interpretation(res, holder, vs)
            if finding is None and analyte == "hcv-rna" and value is not None:
                finding = _viral_load_finding(value, comparator)
            if finding is None and problem is None:
                problem = "quantitative result without an interpretation"
        elif spec is None:
            problem = problem or "no unit rule for this analyte"
        elif value is None:
            problem = problem or "no numeric value"
        elif unit is None:
            shown = vstr.strip() if isinstance(vstr, str) else num_text(value)
            problem = problem or f"value '{clip(shown, CODE_MAX)}' has no unit"
        else:
            try:
                factor = conversion_factor(unit, spec)
                quantity = Quantity(value * factor, spec.canonical, value, unit, comparator)
                ref_high = _reference_high(holder, unit, factor, spec)
            except UnitError as exc:
                problem = problem or str(exc)
    else:
        vcc = holder.get("valueCodeableConcept")
        if isinstance(vcc, dict):
            finding = vs.finding_of(codings_of(vcc), text_of(vcc))
        elif isinstance(vstr, str):
            finding = vs.finding_of((), vstr)
            if finding is None and parsed is not None and analyte == "hcv-rna":
                finding = _viral_load_finding(parsed[0], parsed[1])
        has_value = isinstance(vcc, dict) or isinstance(vstr, str)
        if finding is None:
            finding = _interpretation(res, holder, vs)
        if finding is None and problem is None:
            if isinstance(vstr, str) and spec is not None:
                problem = f"value '{clip(vstr.strip(), CODE_MAX)}' is not a number"
            else:
                problem = "coded value not recognised" if has_value else "no value"
    return LabResult(
        ref=ref,
        analyte=analyte,
        code=coding,
        status=status,
        when=when,
        quantity=quantity,
        finding=finding,
        integer=integer,
        body_site=codings_of(res.get("bodySite")),
        body_site_text=text_of(res.get("bodySite")),
        ref_high=ref_high,
        matched_by=matched_by,
        problem=problem,
        has_value=has_value,
    )


def _string_value(value: Any) -> tuple[Decimal, str | None, str | None] | None:
    """(number, comparator, UCUM unit or None) of a lab's string value, or None if not numeric."""
    if not isinstance(value, str):
        return None
    m = _STRING_VALUE.match(value)
    if m is None or (m.group(3) or " ")[0] in ",.":  # "1,5": a decimal comma or a list, not read
        return None
    number = to_decimal(m.group(2))  # the same limits as a JSON number (no 1e999)
    if number is None:
        return None
    unit = normalise_unit_text(m.group(3)) if m.group(3) else None
    comparator = COMPARATORS[m.group(1)] if m.group(1) else None
    return number, comparator, unit


def _viral_load_finding(value: Decimal, comparator: str | None) -> str:
    """A viral load: "<15 IU/mL" is below detection, any measured copies are detected."""
    return "negative" if comparator in ("<", "<=") or value == 0 else "positive"


def num_text(value: Decimal) -> str:
    text = format(value.normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def _interpretation(res: Mapping[str, Any], holder: Mapping[str, Any], vs: ValueSets) -> str | None:
    for concept in items(holder.get("interpretation") or res.get("interpretation")):
        for c in codings_of(concept):
            if c.system in (INTERPRETATION, "") and c.code in vs.finding_interpretations:
                return vs.finding_interpretations[c.code]
        text = text_of(concept)
        if text:
            found = vs.finding_of((), text)
            if found:
                return found
    return None


def _reference_high(
    holder: Mapping[str, Any], unit: str, factor: Any, spec: Any
) -> Quantity | None:
    """referenceRange.high in the analyte's unit (a range without a unit is in the result's)."""
    for rr in items(holder.get("referenceRange")):
        if not isinstance(rr, dict) or not isinstance(rr.get("high"), dict):
            continue
        high = rr["high"]
        value = to_decimal(high.get("value"))
        if value is None:
            continue
        hunit = normalise_unit(high) or unit
        try:
            hfactor = factor if hunit == unit else conversion_factor(hunit, spec)
        except UnitError:
            continue
        return Quantity(value * hfactor, spec.canonical, value, hunit)
    return None


# --- Condition ---------------------------------------------------------------------------------


def extract_condition(res: Mapping[str, Any], vs: ValueSets) -> Diagnosis:
    codings = codings_of(res.get("code"))
    text = text_of(res.get("code"))
    verification = status_code(res.get("verificationStatus"))
    onset = choice_date(res, "onset")
    abatement = choice_date(res, "abatement", prefer_end=True)
    # abatement[x] in any form means the condition has abated, except abatementBoolean false
    abated = (
        any(k.startswith("abatement") for k in res) and res.get("abatementBoolean") is not False
    )
    body_sites: list[Coding] = []
    site_texts: list[str] = []
    for site in items(res.get("bodySite")):
        body_sites.extend(codings_of(site))
        if text_of(site):
            site_texts.append(str(text_of(site)))
    site_concepts: set[str] = set(vs.concepts_of(vs.body_sites, body_sites, None))
    for t in site_texts:
        site_concepts |= vs.concepts_of(vs.body_sites, body_sites, t)
    problem = None
    if verification in UNUSABLE_VERIFICATION:
        problem = f"verificationStatus '{clip(verification, CODE_MAX)}'"
    concepts = vs.concepts_of(vs.conditions, codings, text)
    reads_like, history_worded = vs.reads_like(codings, text, concepts)
    return Diagnosis(
        ref=resource_ref(res),
        codings=codings,
        text=text,
        concepts=concepts,
        clinical_status=status_code(res.get("clinicalStatus")),
        verification_status=verification,
        onset=onset,
        recorded=parse_fhir_date(res.get("recordedDate")),
        abatement=abatement,
        abated=abated,
        body_sites=tuple(body_sites),
        body_site_concepts=frozenset(site_concepts),
        problem=problem,
        reads_like=reads_like,
        history_worded=history_worded,
    )


# --- Medications -------------------------------------------------------------------------------


def extract_therapy(
    res: Mapping[str, Any],
    vs: ValueSets,
    medications: Mapping[str, Mapping[str, Any]],
    issues: list[Issue],
    aliases: Mapping[str, str] | None = None,
) -> Therapy | None:
    """An IgG4-RD therapy record, or None for any other drug."""
    ref = resource_ref(res)
    concepts: list[Any] = []
    if "medicationCodeableConcept" in res:
        concepts.append(res["medicationCodeableConcept"])
    elif isinstance(res.get("medicationReference"), dict):
        mref = res["medicationReference"]
        target = str(mref.get("reference") or "")
        med = None
        if target.startswith("#"):
            med = _contained(res, target[1:])
        else:
            med = medications.get(reference_id(mref, aliases) or "")
        if med is not None:
            concepts.append(med.get("code"))
            for ing in items(med.get("ingredient")):
                if isinstance(ing, dict):
                    concepts.append(ing.get("itemCodeableConcept"))
        if isinstance(mref.get("display"), str):
            concepts.append({"text": mref["display"]})
        if med is None and not isinstance(mref.get("display"), str):
            issues.append(
                Issue(ref, f"medication '{clip(target)}' not found in the data; drug unknown")
            )
            return None
    ingredients: set[str] = set()
    matched_by = "code"
    texts: list[str] = []
    has_code = False
    for concept in concepts:
        for c in codings_of(concept):
            has_code = True
            if c.system == RXNORM:
                name = vs.ingredient_for_rxnorm(c.code)
                if name:
                    ingredients.add(name)
            if c.display:
                texts.append(c.display)
        if text_of(concept):
            texts.append(str(text_of(concept)))
    if not ingredients and texts:
        for t in texts:
            ingredients |= vs.ingredients_in_text(t)
        matched_by = "text"
    if not ingredients:
        if has_code and not texts:
            issues.append(
                Issue(ref, "medication code has no ingredient mapping and no name; drug unknown")
            )
        return None
    status = res.get("status") if isinstance(res.get("status"), str) else None
    starts: list[FuzzyDate] = []
    period_start = period_end = None
    for key in ("authoredOn", "effectiveDateTime"):
        d = parse_fhir_date(res.get(key))
        if d:
            starts.append(d)
    if "effectivePeriod" in res:
        period_start, period_end = period_bounds(res.get("effectivePeriod"))
    for dosage in items(res.get("dosageInstruction") or res.get("dosage")):
        timing = (dosage or {}).get("timing") if isinstance(dosage, dict) else None
        repeat = (timing or {}).get("repeat") if isinstance(timing, dict) else None
        if isinstance(repeat, dict) and "boundsPeriod" in repeat:
            s, e = period_bounds(repeat.get("boundsPeriod"))
            if s and (period_start is None or s.day < period_start.day):
                period_start = s
            if e and (period_end is None or e.day > period_end.day):
                period_end = e
    if period_start:
        starts.append(period_start)
    return Therapy(
        ref=ref,
        ingredients=frozenset(ingredients),
        groups=frozenset(vs.ingredients[i].group for i in ingredients),
        status=status,
        start=min(starts, key=lambda d: d.day) if starts else None,
        period_start=period_start,
        period_end=period_end,
        matched_by=matched_by,
    )


def _contained(res: Mapping[str, Any], local_id: str) -> Mapping[str, Any] | None:
    for c in items(res.get("contained")):
        if isinstance(c, dict) and c.get("id") == local_id:
            return c
    return None


# --- Procedure, ResearchSubject ----------------------------------------------------------------


def extract_procedure(res: Mapping[str, Any], vs: ValueSets) -> ProcedureFact:
    codings = codings_of(res.get("code"))
    when = choice_date(res, "performed", prefer_end=True)
    texts = [text_of(res.get("code"))]
    sites = " ".join(filter(None, (text_of(s) for s in items(res.get("bodySite")))))
    concepts = set(vs.concepts_of(vs.procedures, codings, texts[0]))
    # radiotherapy coded generically with the prostate as bodySite (codes.md 3c)
    if sites and "prostat" in sites.lower():
        blob = " ".join(filter(None, [texts[0], *(c.display for c in codings)])).lower()
        if any(w in blob for w in ("radiotherapy", "radiation", "brachytherapy", "irradiation")):
            concepts.add("prostate-radiotherapy")
    return ProcedureFact(
        ref=resource_ref(res),
        codings=codings,
        concepts=frozenset(concepts),
        status=res.get("status") if isinstance(res.get("status"), str) else None,
        when=when,
    )


def extract_enrolment(
    res: Mapping[str, Any],
    studies: Mapping[str, Mapping[str, Any]],
    aliases: Mapping[str, str] | None = None,
) -> Enrolment:
    raw_ref = res.get("study")
    study_ref: Mapping[str, Any] = raw_ref if isinstance(raw_ref, dict) else {}
    identifiers: set[str] = set()
    ident = study_ref.get("identifier")
    if isinstance(ident, dict) and isinstance(ident.get("value"), str):
        identifiers.add(ident["value"])
    target = reference_id(study_ref, aliases)
    study = studies.get(target or "")
    label = study_ref.get("display") if isinstance(study_ref.get("display"), str) else None
    if study is not None:
        for i in items(study.get("identifier")):
            if isinstance(i, dict) and isinstance(i.get("value"), str):
                identifiers.add(i["value"])
        if isinstance(study.get("title"), str):
            label = label or study["title"]
    start, end = period_bounds(res.get("period"))
    return Enrolment(
        ref=resource_ref(res),
        study=target,
        study_identifiers=frozenset(identifiers),
        study_label=label,
        status=res.get("status") if isinstance(res.get("status"), str) else None,
        period_start=start,
        period_end=end,
    )


# --- One patient's record ----------------------------------------------------------------------

# The resource types the engine reads for a patient, and the Reference naming that patient.
SUBJECT_FIELD: dict[str, str] = {
    "Observation": "subject",
    "Condition": "subject",
    "MedicationRequest": "subject",
    "MedicationStatement": "subject",
    "Procedure": "subject",
    "ResearchSubject": "individual",
}


_FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")


def build_record(
    resources: Iterable[Mapping[str, Any]], vs: ValueSets, patient_ref: str | None = None
) -> PatientRecord:
    """Facts for one patient from that patient's resources (any order; duplicates tolerated).

    Resources from a Bundle may carry their entry's fullUrl (``FULL_URL_KEY``): a resource without an
    id is then cited by it, and references to it resolve (docs/criteria.md, resources without an id).
    Raises RecordError when there is no Patient or several (unless ``patient_ref`` picks one).
    """
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    seen: set[str] = set()
    unnamed: list[str] = []
    aliases: dict[str, str] = {}  # fullUrl -> how the resource is cited
    for res in resources:
        if not isinstance(res, dict):
            continue
        rtype = res.get("resourceType")
        if not isinstance(rtype, str):
            continue
        rid = res.get("id")
        full_url = res.get(FULL_URL_KEY)
        cited = _cited_by_full_url(rtype, full_url) if isinstance(full_url, str) else None
        if isinstance(rid, str) and rid and (rtype != "Patient" or _FHIR_ID.fullmatch(rid)):
            ref = f"{rtype}/{rid}"
        elif cited is not None:  # (a Patient whose id is not a FHIR id, e.g. ":", too)
            ref = cited
            res = {**res, REF_KEY: ref}
        else:  # kept, and cited by its place so that evidence names it
            ref = f"{rtype}/no-id-{len(unnamed) + 1}"
            res = {**res, REF_KEY: ref}
            unnamed.append(ref)
        if isinstance(full_url, str) and full_url:
            aliases.setdefault(full_url, ref)
        if ref in seen:  # the same resource twice (prefetch + fetch, or duplicate entries)
            continue
        seen.add(ref)
        by_type.setdefault(rtype, []).append(res)
    patients = by_type.get("Patient", [])
    if patient_ref is not None:
        patients = [
            p
            for p in patients
            if resource_ref(p) == patient_ref
            or p.get("id") == patient_ref.split("/")[-1]
            or p.get(FULL_URL_KEY) == patient_ref
        ]
    if not patients:
        raise RecordError("no Patient resource")
    if len(patients) > 1:
        raise RecordError(f"{len(patients)} Patient resources; expected one")
    patient = extract_patient(patients[0])
    record = PatientRecord(patient=patient)
    issues = record.issues
    issues.extend(
        Issue(ref, "resource without an id or fullUrl; cited by its place in the input")
        for ref in unnamed
    )
    pid = patient.ref
    anonymous = pid in unnamed  # no id, no fullUrl: no reference can be told to name another
    patient_refs = {resource_ref(p) for p in by_type.get("Patient", [])}

    def belongs(res: Mapping[str, Any]) -> bool:
        field_name = SUBJECT_FIELD.get(str(res.get("resourceType")))
        if field_name is None or anonymous:
            return True
        target = reference_id(res.get(field_name), aliases)
        if target is None or target == pid:
            return True
        if not target.startswith("Patient/") and target not in patient_refs:
            return True  # an unresolved urn:uuid (or a Group...): kept, it came with this patient
        issues.append(Issue(resource_ref(res), "belongs to another patient; not used"))
        return False

    unrecognised = _Unrecognised()
    for res in by_type.get("Observation", []):
        if belongs(res):
            record.labs.extend(extract_observation(res, vs, unrecognised))
    issues.extend(unrecognised.issues("Observation"))
    unknown_conditions = _Unrecognised()
    for res in by_type.get("Condition", []):
        if belongs(res):
            d = extract_condition(res, vs)
            record.diagnoses.append(d)
            if (
                not d.concepts and d.problem is None
            ):  # docs/criteria.md: a code we do not know is said
                reads = "; ".join(
                    f"reads like {vs.hints[f].what} ({vs.hints[f].criterion})"
                    for f in sorted(d.reads_like)
                )
                unknown_conditions.note(_code_key(d.codings, d.text), d.ref, reads)
    issues.extend(unknown_conditions.issues("Condition"))
    medications = {resource_ref(m): m for m in by_type.get("Medication", [])}
    for rtype in ("MedicationRequest", "MedicationStatement"):
        for res in by_type.get(rtype, []):
            if belongs(res):
                therapy = extract_therapy(res, vs, medications, issues, aliases)
                if therapy is not None:
                    record.therapies.append(therapy)
    for res in by_type.get("Procedure", []):
        if belongs(res):
            record.procedures.append(extract_procedure(res, vs))
    studies = {resource_ref(s): s for s in by_type.get("ResearchStudy", [])}
    for res in by_type.get("ResearchSubject", []):
        if belongs(res):
            record.enrolments.append(extract_enrolment(res, studies, aliases))
    return record
