"""Value sets as data: which codes (and, for local codes, which names) belong to which concept.

The packaged ``valuesets.yaml`` is described, with each code's source and status, in
``docs/codes.md``. A site adds its own codes by pointing the environment variable
``IGG4_CDS_VALUESETS`` (or ``load_valuesets(extra=...)``) at a YAML file of the same shape; its
entries are added to the packaged ones, never replace them.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from fhir_mappings.facts import Coding
from fhir_mappings.units import UnitSpec

LOINC = "http://loinc.org"
SNOMED = "http://snomed.info/sct"
ICD10CM = "http://hl7.org/fhir/sid/icd-10-cm"
ICD10 = "http://hl7.org/fhir/sid/icd-10"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
CPT = "http://www.ama-assn.org/go/cpt"
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
ICD10_SYSTEMS = frozenset({ICD10CM, ICD10})
_SHORT_SYSTEMS = {"loinc": LOINC, "snomed": SNOMED, "rxnorm": RXNORM, "cpt": CPT}


def icd10_key(code: str) -> str:
    """ICD-10 codes compared without the dot and in upper case (VSAC drops the dot, FHIR keeps it)."""
    return code.replace(".", "").strip().upper()


@dataclass(slots=True)
class ConceptMatcher:
    """Membership test for one concept: exact codes, ICD-10 prefixes and ranges, patterns, text."""

    name: str
    codes: set[tuple[str, str]] = field(default_factory=set)
    icd10_prefixes: list[str] = field(default_factory=list)
    icd10_ranges: list[tuple[str, str]] = field(default_factory=list)
    icd10_patterns: list[re.Pattern[str]] = field(default_factory=list)
    text: list[re.Pattern[str]] = field(default_factory=list)
    text_exclude: list[str] = field(default_factory=list)
    unconfirmed: set[tuple[str, str]] = field(default_factory=set)

    def matches_coding(self, system: str, code: str) -> bool:
        if (system, code) in self.codes:
            return True
        if system in ICD10_SYSTEMS:
            key = icd10_key(code)
            if (ICD10CM, key) in self.codes:
                return True
            if any(key.startswith(p) for p in self.icd10_prefixes):
                return True
            head = key[:3]
            if any(lo <= head <= hi for lo, hi in self.icd10_ranges):
                return True
            return any(p.search(key) for p in self.icd10_patterns)
        return False

    def matches_text(self, text: str) -> bool:
        low = text.lower()
        if any(x in low for x in self.text_exclude):
            return False
        return any(p.search(low) for p in self.text)

    def extend(self, spec: Mapping[str, Any]) -> None:
        for key, system in _SHORT_SYSTEMS.items():
            for item in spec.get(key, ()) or ():
                code, status = _code_and_status(item)
                self.codes.add((system, code))
                if status == "unconfirmed":
                    self.unconfirmed.add((system, code))
        for item in spec.get("other", ()) or ():
            self.codes.add((str(item["system"]), str(item["code"])))
        for item in spec.get("icd10", ()) or ():
            code, status = _code_and_status(item)
            key = icd10_key(code)
            if "-" in key:
                lo, hi = key.split("-", 1)
                self.icd10_ranges.append((lo[:3], hi[:3]))
            else:
                self.icd10_prefixes.append(key)
            if status == "unconfirmed":
                self.unconfirmed.add((ICD10CM, key))
        for pattern in spec.get("icd10_patterns", ()) or ():
            self.icd10_patterns.append(re.compile(pattern))
        for phrase in spec.get("text", ()) or ():
            self.text.append(_phrase(str(phrase)))
        self.text_exclude.extend(str(x).lower() for x in spec.get("text_exclude", ()) or ())


def _code_and_status(item: Any) -> tuple[str, str]:
    if isinstance(item, Mapping):
        return str(item["code"]), str(item.get("status", "confirmed"))
    return str(item), "confirmed"


def _phrase(phrase: str) -> re.Pattern[str]:
    """A whole-word, case-insensitive match for a phrase ("alt" must not match "salt")."""
    return re.compile(r"(?<![\w])" + re.escape(phrase.lower()) + r"(?![\w])")


@dataclass(slots=True)
class Ingredient:
    name: str
    group: str
    rxnorm: set[str]
    names: list[re.Pattern[str]]


@dataclass(slots=True)
class ValueSets:
    labs: dict[str, ConceptMatcher]
    lab_units: dict[str, UnitSpec]
    labs_known_unused: ConceptMatcher
    findings: dict[str, ConceptMatcher]
    finding_interpretations: dict[str, str]
    conditions: dict[str, ConceptMatcher]
    body_sites: dict[str, ConceptMatcher]
    procedures: dict[str, ConceptMatcher]
    ingredients: dict[str, Ingredient]
    # index: (system, code) -> lab concept, for the hot path
    _lab_index: dict[tuple[str, str], str] = field(default_factory=dict)
    _rx_index: dict[str, str] = field(default_factory=dict)

    def lab_for_coding(self, system: str, code: str) -> str | None:
        return self._lab_index.get((system, code))

    def lab_for_text(self, text: str) -> str | None:
        for name, matcher in self.labs.items():
            if matcher.matches_text(text):
                return name
        return None

    def ingredient_for_rxnorm(self, code: str) -> str | None:
        return self._rx_index.get(code)

    def ingredients_in_text(self, text: str) -> set[str]:
        low = text.lower()
        found = {
            ing.name for ing in self.ingredients.values() if any(p.search(low) for p in ing.names)
        }
        # "mycophenolate mofetil" also matches the bare "mycophenolate" of mycophenolic acid
        if "mycophenolate mofetil" in found and not re.search(
            r"mycophenol(ic acid|ate sodium)|myfortic", low
        ):
            found.discard("mycophenolic acid")
        return found

    def concepts_of(
        self, matchers: Mapping[str, ConceptMatcher], codings: Iterable[Coding], text: str | None
    ) -> frozenset[str]:
        """Concepts matched by any coding; concepts that no coding matched may match on text."""
        names: set[str] = set()
        for name, m in matchers.items():
            if any(m.matches_coding(c.system, c.code) for c in codings):
                names.add(name)
        texts = [t for t in [text, *(c.display for c in codings)] if t]
        if texts:
            for name, m in matchers.items():
                if name not in names and any(m.matches_text(t) for t in texts):
                    names.add(name)
        return frozenset(names)

    def finding_of(self, codings: Iterable[Coding], text: str | None) -> str | None:
        codings = list(codings)
        for name, m in self.findings.items():
            if any(m.matches_coding(c.system, c.code) for c in codings):
                return name
        texts = [t for t in [text, *(c.display for c in codings)] if t]
        # "not pregnant" before "pregnant", "not detected" before "detected": longest phrase wins
        best: tuple[int, str] | None = None
        for t in texts:
            low = t.lower().strip()
            for name, m in self.findings.items():
                for p in m.text:
                    hit = p.search(low)
                    if hit and (best is None or len(hit.group(0)) > best[0]):
                        best = (len(hit.group(0)), name)
        return best[1] if best else None


def _unit_spec(raw: Mapping[str, Any]) -> UnitSpec:
    molar = raw.get("molar")
    return UnitSpec(
        canonical=str(raw["canonical"]),
        kind=str(raw["kind"]),
        molar=(str(molar[0]), str(molar[1]), Decimal(str(molar[2]))) if molar else None,
        aliases=tuple((str(k), str(v)) for k, v in (raw.get("aliases") or {}).items()),
    )


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    """Add a site's entries to the packaged ones (lists are extended, mappings merged)."""
    for key, value in extra.items():
        if key in base and isinstance(base[key], dict) and isinstance(value, Mapping):
            _merge(base[key], value)
        elif key in base and isinstance(base[key], list) and isinstance(value, list):
            base[key].extend(value)
        else:
            base[key] = value


def _build(raw: Mapping[str, Any]) -> ValueSets:
    def matchers(section: Mapping[str, Any]) -> dict[str, ConceptMatcher]:
        out: dict[str, ConceptMatcher] = {}
        for name, spec in section.items():
            m = ConceptMatcher(name)
            m.extend(spec or {})
            out[name] = m
        return out

    labs = matchers(raw.get("labs", {}))
    lab_units = {
        name: _unit_spec(spec["unit"])
        for name, spec in raw.get("labs", {}).items()
        if spec.get("unit")
    }
    unused = ConceptMatcher("known-unused")
    unused.extend(raw.get("labs_known_unused", {}))
    findings = matchers(raw.get("findings", {}))
    interp = {
        str(code): name
        for name, spec in raw.get("findings", {}).items()
        for code in spec.get("interpretation", ()) or ()
    }
    ingredients: dict[str, Ingredient] = {}
    for name, spec in raw.get("ingredients", {}).items():
        ingredients[name] = Ingredient(
            name=name,
            group=str(spec["group"]),
            rxnorm={str(c) for c in spec.get("rxnorm", ()) or ()},
            names=[_phrase(str(n)) for n in spec.get("names", ()) or ()],
        )
    vs = ValueSets(
        labs=labs,
        lab_units=lab_units,
        labs_known_unused=unused,
        findings=findings,
        finding_interpretations=interp,
        conditions=matchers(raw.get("conditions", {})),
        body_sites=matchers(raw.get("body_sites", {})),
        procedures=matchers(raw.get("procedures", {})),
        ingredients=ingredients,
    )
    for name, m in labs.items():
        for key in m.codes:
            vs._lab_index.setdefault(key, name)
    for name, ing in ingredients.items():
        for code in ing.rxnorm:
            vs._rx_index[code] = name
    return vs


def load_valuesets(extra: str | Path | None = None) -> ValueSets:
    """The packaged value sets plus a site's additions (``extra`` or env ``IGG4_CDS_VALUESETS``)."""
    text = resources.files(__package__).joinpath("valuesets.yaml").read_text(encoding="utf-8")
    raw: dict[str, Any] = yaml.safe_load(text)
    extra_path = extra if extra is not None else os.environ.get("IGG4_CDS_VALUESETS")
    if extra_path:
        with open(extra_path, encoding="utf-8") as fh:
            _merge(raw, yaml.safe_load(fh) or {})
    return _build(raw)


@lru_cache(maxsize=1)
def default_valuesets() -> ValueSets:
    return load_valuesets()
