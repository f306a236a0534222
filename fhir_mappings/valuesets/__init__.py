"""Value sets as data: which codes (and, for local codes, which names) belong to which concept.

The packaged ``valuesets.yaml`` is described, with each code's source and status, in
``docs/codes.md``. A site adds its own codes by pointing the environment variable
``IGG4_CDS_VALUESETS`` (or ``load_valuesets(extra=...)``) at a YAML file of the same shape; its
entries are added to the packaged ones, never replace them.

Names are matched as whole words in Latin script and as substrings in Chinese (which has no spaces):
"alt" never matches "salt", while "谷丙转氨酶" matches "血清谷丙转氨酶". Text is compared in NFKC form, so
full-width "ＩｇＧ４" reads as "igg4". Identification by text is memoised per text (bounded).

ICD-10 codes of the Chinese national clinical edition (``D89.800x011``, ``C61.x00``) are read by their
ICD-10 stem (category and fourth character): ranges and prefixes of up to four characters match, finer
ICD-10-CM codes (D89.84, K83.09) never do, so IgG4-RD under D89.8 is recognised only by its name.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

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
_T = TypeVar("_T")
# libyaml when present: ten times faster than the pure-Python loader, the same result
_YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MEMO_SIZE = 4096  # distinct texts remembered per value set (then the memo starts afresh)
_MEMO_TEXT = 256  # longer texts are matched every time, not remembered


def icd10_key(code: str) -> str:
    """ICD-10 codes compared without the dot and in upper case (VSAC drops the dot, FHIR keeps it)."""
    return code.replace(".", "").strip().upper()


def icd10_stem(code: str) -> str:
    """The WHO ICD-10 stem of a Chinese clinical-edition code: category plus a fourth digit.

    ``D89.800x011`` -> ``D898``; ``C25.900x001`` -> ``C259``; ``C61.x00`` -> ``C61`` (x: no fourth
    character); ``K86.100`` -> ``K861``. What follows the stem is the edition's extension.
    """
    key = icd10_key(code)
    if len(key) > 3 and key[3].isdigit():
        return key[:4]
    return key[:3]


def icd10_reading(system: str, code: str, clinical_systems: frozenset[str]) -> str | None:
    """The key an ICD-10 code is matched by, or None when the system is not ICD-10.

    ICD-10-CM: the dotless code. A clinical-edition system: the stem. WHO ICD-10: the dotless code,
    or the stem when the code has the clinical edition's form (an extension after the fourth
    character, e.g. ``D89.800x011`` sent under the WHO system).
    """
    if len(code) <= _MEMO_TEXT:  # remembered; a long (hostile) code is read but never kept
        return _icd10_reading(system, code, clinical_systems)
    return _icd10_reading.__wrapped__(system, code, clinical_systems)


@lru_cache(maxsize=8192)
def _icd10_reading(system: str, code: str, clinical_systems: frozenset[str]) -> str | None:
    if system == ICD10CM:
        return icd10_key(code)
    if system in clinical_systems:
        return icd10_stem(code)
    if system == ICD10:
        key = icd10_key(code)
        if len(key) >= 6 or "X" in key[3:]:
            return icd10_stem(code)
        return key
    return None


_IS_CJK = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ffff]"
)  # compiled once


def fold(text: str) -> str:
    """Text as matched: lower case; non-ASCII text in NFKC form first (full-width, ligatures)."""
    if text.isascii():
        return text.lower()
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(slots=True)
class ConceptMatcher:
    """Membership test for one concept: exact codes, ICD-10 prefixes and ranges, patterns, text."""

    name: str
    codes: set[tuple[str, str]] = field(default_factory=set)
    icd10_prefixes: list[str] = field(default_factory=list)
    icd10_who_prefixes: list[str] = field(
        default_factory=list
    )  # WHO ICD-10 and clinical edition only
    icd10_ranges: list[tuple[str, str]] = field(default_factory=list)
    icd10_patterns: list[re.Pattern[str]] = field(default_factory=list)
    text: list[Phrase] = field(default_factory=list)
    text_exclude: list[str] = field(default_factory=list)
    unconfirmed: set[tuple[str, str]] = field(default_factory=set)
    clinical_systems: frozenset[str] = frozenset()  # Chinese clinical-edition ICD-10 systems

    def matches_coding(self, system: str, code: str) -> bool:
        if (system, code) in self.codes:
            return True
        if system not in ICD10_SYSTEMS and system not in self.clinical_systems:
            return False
        key = icd10_reading(system, code, self.clinical_systems)
        if key is None:
            return False
        if (ICD10CM, key) in self.codes:
            return True
        if any(key.startswith(p) for p in self.icd10_prefixes):
            return True
        if system != ICD10CM and any(key.startswith(p) for p in self.icd10_who_prefixes):
            return True
        head = key[:3]
        if any(lo <= head <= hi for lo, hi in self.icd10_ranges):
            return True
        return any(p.search(key) for p in self.icd10_patterns)

    def matches_text(self, text: str) -> bool:
        return self.matches_folded(fold(text))

    def matches_folded(self, low: str) -> bool:
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
        self.icd10_who_prefixes.extend(icd10_key(str(c)) for c in spec.get("icd10_who", ()) or ())
        for pattern in spec.get("icd10_patterns", ()) or ():
            self.icd10_patterns.append(re.compile(pattern))
        for phrase in spec.get("text", ()) or ():
            self.text.append(Phrase(str(phrase)))
        self.text_exclude.extend(fold(str(x)) for x in spec.get("text_exclude", ()) or ())


def _code_and_status(item: Any) -> tuple[str, str]:
    if isinstance(item, Mapping):
        return str(item["code"]), str(item.get("status", "confirmed"))
    return str(item), "confirmed"


class Phrase:
    r"""A whole-word, case-insensitive match for a phrase ("alt" must not match "salt").

    Word boundaries are Latin-script ones: an edge of the phrase that is a Chinese character needs
    none (Chinese has no spaces: "血小板" is in "血小板计数"), and a Chinese character next to a Latin
    edge counts as a boundary ("igg4" is in "igg4亚类"). For Latin text this is exactly the regular
    expression ``(?<!\w)phrase(?!\w)``; it is written out because a character class of the CJK
    blocks costs ~5 ms to compile per phrase.
    """

    __slots__ = ("_left", "_right", "pattern")

    def __init__(self, phrase: str) -> None:
        self.pattern = fold(phrase)  # what is looked for (folded)
        self._left = not _is_cjk(self.pattern[:1])  # this edge needs a word boundary
        self._right = not _is_cjk(self.pattern[-1:])

    def search(self, text: str) -> tuple[int, int] | None:
        """The first (start, end) of the phrase in folded ``text``, or None."""
        if self.pattern not in text:  # the common case, without a generator
            return None
        return next(self.spans(text), None)

    def spans(self, text: str) -> Iterator[tuple[int, int]]:
        """Every non-overlapping occurrence, as ``re.finditer`` would find them."""
        size = len(self.pattern)
        at = text.find(self.pattern)
        while at >= 0:
            end = at + size
            if not (
                (self._left and at > 0 and _latin_word(text[at - 1]))
                or (self._right and end < len(text) and _latin_word(text[end]))
            ):
                yield at, end
                at = text.find(self.pattern, max(end, at + 1))
            else:
                at = text.find(self.pattern, at + 1)


def _is_cjk(ch: str) -> bool:
    return bool(ch) and _IS_CJK.match(ch) is not None


def _latin_word(ch: str) -> bool:
    r"""A character that ``\w`` matches (str.isalnum or "_") and that is not Chinese."""
    return (ch.isalnum() or ch == "_") and not _is_cjk(ch)


@dataclass(frozen=True, slots=True)
class Hint:
    """What a Condition's name may read like when no code of the family recognises it.

    docs/criteria.md, "conditions not in the value sets": a family (malignancy, pregnancy...) makes
    its criterion unknown, never met. ``concepts`` are the family's value sets: a Condition in any of
    them is decided by its code and is not read.
    """

    name: str
    criterion: str  # "E4"
    what: str  # "a malignancy", as a reason says it
    concepts: frozenset[str]
    pattern: re.Pattern[str]
    exclude: re.Pattern[str] | None
    history: re.Pattern[str] | None  # a name that says "history of" (timed by its dates only)

    def reads(self, low: str) -> bool:
        """Whether folded text ``low`` reads like this family (and no veto applies)."""
        if self.pattern.search(low) is None:
            return False
        return self.exclude is None or self.exclude.search(low) is None


def _hint(name: str, spec: Mapping[str, Any]) -> Hint:
    def combined(key: str) -> re.Pattern[str] | None:
        parts = [str(p) for p in spec.get(key, ()) or ()]
        return re.compile("|".join(f"(?:{p})" for p in parts)) if parts else None

    pattern = combined("patterns")
    if pattern is None:
        raise ValueError(f"condition_hints.{name}: no patterns")
    return Hint(
        name=name,
        criterion=str(spec["criterion"]),
        what=str(spec["what"]),
        concepts=frozenset(str(c) for c in spec.get("concepts", ()) or ()),
        pattern=pattern,
        exclude=combined("exclude"),
        history=combined("history"),
    )


HINT_TEXT_MAX = 1000  # a name is read this far (a longer "name" is not a diagnosis's name)


@dataclass(slots=True)
class Ingredient:
    name: str
    group: str
    rxnorm: set[str]
    names: list[Phrase]


def _remember(memo: dict[str, _T], key: str, value: _T) -> _T:
    if len(key) <= _MEMO_TEXT:
        if len(memo) >= _MEMO_SIZE:
            memo.clear()
        memo[key] = value
    return value


IdentifiedKey = tuple[Any, ...]  # (code.text, (system, code, display) of each coding)


def _short(key: tuple[Any, ...]) -> bool:
    """No long string in a memo key (``(…, text, (system, code, display)…)``): bounded memory."""
    return all(
        len(part) <= _MEMO_TEXT
        if isinstance(part, str)
        else all(s is None or len(s) <= _MEMO_TEXT for s in part)
        if isinstance(part, tuple)
        else True
        for part in key
    )


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
    icd10_clinical_systems: frozenset[str] = frozenset()
    hints: dict[str, Hint] = field(default_factory=dict)  # condition_hints: "reads like"
    # index: (system, code) -> lab concept, for the hot path
    _lab_index: dict[tuple[str, str], str] = field(default_factory=dict)
    _rx_index: dict[str, str] = field(default_factory=dict)
    # memos of identification by text (text -> answer); bounded, see _remember
    _lab_memo: dict[str, str | None] = field(default_factory=dict)
    _ingredient_memo: dict[str, frozenset[str]] = field(default_factory=dict)
    # extract._identify's memo: how an Observation.code that no coding identifies was read
    identified: dict[IdentifiedKey, str] = field(default_factory=dict)
    _concepts_memo: dict[tuple[Any, ...], frozenset[str]] = field(default_factory=dict)
    _hints_memo: dict[tuple[Any, ...], tuple[frozenset[str], bool]] = field(default_factory=dict)
    _any_lab_phrase: re.Pattern[str] | None = None

    def remember_identified(self, key: IdentifiedKey, answer: str) -> str:
        """Keep ``answer`` for ``key`` unless a string in the key is long (bounded memory)."""
        if _short(key):
            if len(self.identified) >= _MEMO_SIZE:
                self.identified.clear()
            self.identified[key] = answer
        return answer

    def lab_for_coding(self, system: str, code: str) -> str | None:
        return self._lab_index.get((system, code))

    def lab_for_text(self, text: str) -> str | None:
        """The first lab concept (in value-set order) whose names the text matches."""
        try:
            return self._lab_memo[text]
        except KeyError:
            pass
        low = fold(text)
        name: str | None = None
        # one scan for "no lab name at all", the common case for local codes no criterion reads
        if self._any_lab_phrase is None or self._any_lab_phrase.search(low):
            name = next((n for n, m in self.labs.items() if m.matches_folded(low)), None)
        return _remember(self._lab_memo, text, name)

    def ingredient_for_rxnorm(self, code: str) -> str | None:
        return self._rx_index.get(code)

    def ingredients_in_text(self, text: str) -> set[str]:
        try:
            return set(self._ingredient_memo[text])
        except KeyError:
            pass
        low = fold(text)
        spans: dict[str, list[tuple[int, int]]] = {}
        for ing in self.ingredients.values():
            for p in ing.names:
                spans.setdefault(ing.name, []).extend(p.spans(low))
        spans = {name: found for name, found in spans.items() if found}

        def inside_another(name: str, a: int, b: int) -> bool:
            return any(
                lo <= a and b <= hi and hi - lo > b - a
                for other, theirs in spans.items()
                if other != name
                for lo, hi in theirs
            )

        # a name inside another drug's longer name is that drug's: 泼尼松 in 泼尼松龙 (prednisolone),
        # 霉酚酸 in 霉酚酸酯 (mycophenolate mofetil), "mycophenolate" in "mycophenolate mofetil"
        found = {
            name
            for name, own in spans.items()
            if not all(inside_another(name, a, b) for a, b in own)
        }
        # "mycophenolate mofetil" also matches the bare "mycophenolate" of mycophenolic acid
        if "mycophenolate mofetil" in found and not re.search(
            r"mycophenol(ic acid|ate sodium)|myfortic", low
        ):
            found.discard("mycophenolic acid")
        remembered = _remember(self._ingredient_memo, text, frozenset(found))
        return set(remembered)

    def concepts_of(
        self, matchers: Mapping[str, ConceptMatcher], codings: Iterable[Coding], text: str | None
    ) -> frozenset[str]:
        """Concepts matched by any coding; concepts that no coding matched may match on text.

        Remembered per (matchers, text, codings): a site's diagnoses recur across its patients."""
        codings = tuple(codings)
        section = next(
            (n for n, m in self._sections() if m is matchers), None
        )  # only this value set's own matchers are remembered
        if section is None:
            return self._concepts_of(matchers, codings, text)
        key = (section, text, *[(c.system, c.code, c.display) for c in codings])
        known = self._concepts_memo.get(key)
        if known is None:
            known = self._concepts_of(matchers, codings, text)
            if _short(key):
                if len(self._concepts_memo) >= _MEMO_SIZE:
                    self._concepts_memo.clear()
                self._concepts_memo[key] = known
        return known

    def _sections(self) -> tuple[tuple[str, Mapping[str, ConceptMatcher]], ...]:
        return (
            ("conditions", self.conditions),
            ("body_sites", self.body_sites),
            ("procedures", self.procedures),
            ("findings", self.findings),
            ("labs", self.labs),
        )

    def _concepts_of(
        self, matchers: Mapping[str, ConceptMatcher], codings: tuple[Coding, ...], text: str | None
    ) -> frozenset[str]:
        names: set[str] = set()
        for name, m in matchers.items():
            if any(m.matches_coding(c.system, c.code) for c in codings):
                names.add(name)
        texts = [fold(t) for t in [text, *(c.display for c in codings)] if t]
        if texts:
            for name, m in matchers.items():
                if name not in names and any(m.matches_folded(t) for t in texts):
                    names.add(name)
        return frozenset(names)

    def reads_like(
        self, codings: Iterable[Coding], text: str | None, concepts: frozenset[str]
    ) -> tuple[frozenset[str], bool]:
        """(families whose names the Condition's text or displays read like, among those that none of
        ``concepts`` decides; whether a name that reads like a family says "history of").

        Remembered per (text, displays), as concept identification is."""
        texts = tuple(t for t in (text, *(c.display for c in codings)) if t)
        if not texts or not self.hints:
            return frozenset(), False
        known = self._hints_memo.get(texts)
        if known is None:
            known = self._read(texts)
            if _short(("", texts)):
                if len(self._hints_memo) >= _MEMO_SIZE:
                    self._hints_memo.clear()
                self._hints_memo[texts] = known
        families, history = known
        if families and concepts:
            families = frozenset(f for f in families if not (self.hints[f].concepts & concepts))
        return families, history and bool(families)

    def _read(self, texts: tuple[str, ...]) -> tuple[frozenset[str], bool]:
        families: set[str] = set()
        history = False
        for t in texts:
            low = fold(t[:HINT_TEXT_MAX])
            for name, hint in self.hints.items():
                if hint.reads(low):
                    families.add(name)
                    if hint.history is not None and hint.history.search(low):
                        history = True
        return frozenset(families), history

    def finding_of(self, codings: Iterable[Coding], text: str | None) -> str | None:
        codings = list(codings)
        for name, m in self.findings.items():
            if any(m.matches_coding(c.system, c.code) for c in codings):
                return name
        texts = [t for t in [text, *(c.display for c in codings)] if t]
        # "not pregnant" before "pregnant", "not detected" before "detected": longest phrase wins
        best: tuple[int, str] | None = None
        for t in texts:
            low = fold(t).strip()
            for name, m in self.findings.items():
                for p in m.text:
                    hit = p.search(low)
                    if hit and (best is None or hit[1] - hit[0] > best[0]):
                        best = (hit[1] - hit[0], name)
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
    clinical = frozenset(str(s) for s in raw.get("icd10_clinical_systems", ()) or ())

    def matchers(section: Mapping[str, Any]) -> dict[str, ConceptMatcher]:
        out: dict[str, ConceptMatcher] = {}
        for name, spec in section.items():
            m = ConceptMatcher(name, clinical_systems=clinical)
            m.extend(spec or {})
            out[name] = m
        return out

    labs = matchers(raw.get("labs", {}))
    lab_units = {
        name: _unit_spec(spec["unit"])
        for name, spec in raw.get("labs", {}).items()
        if spec.get("unit")
    }
    unused = ConceptMatcher("known-unused", clinical_systems=clinical)
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
            names=[Phrase(str(n)) for n in spec.get("names", ()) or ()],
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
        icd10_clinical_systems=clinical,
        hints={
            name: _hint(name, spec) for name, spec in (raw.get("condition_hints") or {}).items()
        },
    )
    # a phrase absent as a substring cannot match as a word: one plain scan rules most texts out
    phrases = sorted({p.pattern for m in labs.values() for p in m.text}, key=len, reverse=True)
    if phrases:
        vs._any_lab_phrase = re.compile("|".join(re.escape(p) for p in phrases))
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
    raw: dict[str, Any] = yaml.load(text, Loader=_YAML_LOADER)
    extra_path = extra if extra is not None else os.environ.get("IGG4_CDS_VALUESETS")
    if extra_path:
        with open(extra_path, encoding="utf-8") as fh:
            _merge(raw, yaml.load(fh, Loader=_YAML_LOADER) or {})
    return _build(raw)


@lru_cache(maxsize=1)
def default_valuesets() -> ValueSets:
    return load_valuesets()
