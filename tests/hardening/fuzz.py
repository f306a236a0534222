"""Shared Hypothesis settings and strategies of the fuzz tests (issue 10, "fuzzing in CI").

CI runs a bounded, deterministic set of examples (``derandomize``: the same examples every run,
so that main never turns red by chance). To explore further on your machine::

    IGG4_FUZZ_EXAMPLES=2000 IGG4_FUZZ_RANDOM=1 .venv/bin/python -m pytest tests/hardening -k fuzz

A failure prints the smallest input that shows it and a ``@reproduce_failure`` blob.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

RANDOM = os.environ.get("IGG4_FUZZ_RANDOM", "") not in ("", "0")


def fuzz_settings(examples: int) -> settings:
    """``examples`` per run in CI (scaled by IGG4_FUZZ_EXAMPLES / 200 when that is set)."""
    scale = int(os.environ.get("IGG4_FUZZ_EXAMPLES", "200")) / 200
    return settings(
        max_examples=max(1, int(examples * scale)),
        deadline=None,
        database=None,
        derandomize=not RANDOM,
        print_blob=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


# Strings FHIR data gets wrong in practice: bad dates, non-numbers, units, references, codes.
FHIR_JUNK = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e-999",
    "1E+5",
    "0x10",
    "<5",
    ">1400",
    "1,5",
    "2020-13-45",
    "2021-02-29",
    "0000-01-01",
    "0001-01-01",
    "9999-12-31T23:59:59Z",
    "2021",
    "2021-03",
    "2021-03-02T25:61:00+14:00",
    "T10:00",
    "mg/dL",
    "g/L",
    "mg/L",
    "10*9/L",
    "umol/L",
    "(mg)",
    "{",
    "%",
    "",
    " ",
    "\x00",
    "\u202e",
    "Patient/",
    "Patient/../x",
    "urn:uuid:x",
    "#contained",
    "http://loinc.org",
    "http://unitsofmeasure.org",
    "http://hl7.org/fhir/sid/icd-10-cm",
    "2469-5",
    "K86.1",
    "D89.84",
    "final",
    "entered-in-error",
    "refuted",
]
FHIR_KEYS = [
    "resourceType",
    "id",
    "subject",
    "patient",
    "reference",
    "code",
    "coding",
    "system",
    "value",
    "valueQuantity",
    "valueString",
    "unit",
    "status",
    "effectiveDateTime",
    "effectivePeriod",
    "issued",
    "onsetDateTime",
    "recordedDate",
    "birthDate",
    "gender",
    "verificationStatus",
    "clinicalStatus",
    "referenceRange",
    "high",
    "low",
    "medicationCodeableConcept",
    "medicationReference",
    "authoredOn",
    "dosageInstruction",
    "extension",
    "url",
    "valueCoding",
    "text",
    "display",
]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),  # NaN and infinities included (a Python caller may hand them over)
    st.text(max_size=30),
    st.sampled_from(FHIR_JUNK),
)
json_values: st.SearchStrategy[Any] = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(FHIR_KEYS) | st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place a value sits in ``node`` (dict keys and list indexes), depth first."""
    out: list[tuple[Any, ...]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            out.append((*prefix, key))
            out.extend(paths(value, (*prefix, key)))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.append((*prefix, i))
            out.extend(paths(value, (*prefix, i)))
    return out


def put(root: Any, path: tuple[Any, ...], value: Any) -> None:
    node = root
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value


@st.composite
def mutated(draw: st.DrawFn, document: Any, *, skip: int = 0, at_most: int = 5) -> Any:
    """A copy of ``document`` with 1..``at_most`` values (below the first ``skip`` levels of
    path) replaced by arbitrary JSON, or keys with FHIR names added."""
    import copy

    doc = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, at_most))):
        where = [p for p in paths(doc) if len(p) > skip]
        if not where:
            break
        path = where[draw(st.integers(0, len(where) - 1))]
        if draw(st.booleans()):
            put(doc, path, draw(json_values))
        else:  # a new key beside an existing one
            parent: Any = doc
            for step in path[:-1]:
                parent = parent[step]
            if isinstance(parent, dict):
                parent[draw(st.sampled_from(FHIR_KEYS))] = draw(json_values)
    return doc
