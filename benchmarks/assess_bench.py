"""Benchmark of the eligibility engine (issue 2): prints figures, asserts nothing.

    python benchmarks/assess_bench.py [--repeat N]

Times ``assess`` of the largest bundled fixture and of a generated patient with 5,000 Observations:
the whole path (JSON parse + facts + criteria) per patient, resources per second, and beside it the
time of plain ``json.loads`` and ``orjson.loads`` of the same file (the floor set by parsing alone).
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson

from cds_service.eligibility import assess_bundle, load_params
from fhir_mappings.valuesets import default_valuesets

ROOT = Path(__file__).resolve().parents[1]
AS_OF = date(2026, 11, 24)
LABS = [  # (LOINC, unit, low, high)
    ("2469-5", "mg/L", 200, 3000),
    ("718-7", "g/dL", 9, 16),
    ("751-8", "10*3/uL", 1.5, 7),
    ("777-3", "10*3/uL", 120, 400),
    ("1742-6", "U/L", 10, 60),
    ("1920-8", "U/L", 10, 60),
    ("1975-2", "mg/dL", 0.3, 1.4),
    ("2160-0", "mg/dL", 0.6, 1.3),
    ("8480-6", "mm[Hg]", 100, 150),  # not used by any criterion: exercises the unrecognised path
]


def generated_patient(n_obs: int, seed: int = 7) -> dict[str, Any]:
    rng = random.Random(seed)
    sub = {"reference": "Patient/bench"}
    entries: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": "bench", "gender": "female", "birthDate": "1970-04-02"},
        {
            "resourceType": "Condition",
            "id": "bench-c1",
            "subject": sub,
            "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "D89.84"}]},
            "clinicalStatus": {"coding": [{"code": "remission"}]},
            "onsetDateTime": "2012-01-10",
            "bodySite": [{"text": "Pancreas"}],
        },
        {
            "resourceType": "MedicationRequest",
            "id": "bench-m1",
            "status": "active",
            "intent": "order",
            "subject": sub,
            "authoredOn": "2012-02-01",
            "medicationCodeableConcept": {"text": "Prednisone 5 MG Oral Tablet"},
        },
    ]
    start = date(2011, 6, 1)
    span = (AS_OF - start).days
    for i in range(n_obs):
        code, unit, lo, hi = LABS[i % len(LABS)]
        day = start + timedelta(days=rng.randrange(span))
        entries.append(
            {
                "resourceType": "Observation",
                "id": f"bench-o{i}",
                "status": "final",
                "subject": sub,
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "effectiveDateTime": day.isoformat(),
                "valueQuantity": {
                    "value": round(rng.uniform(lo, hi), 2),
                    "unit": unit,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                },
            }
        )
    return {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": r} for r in entries],
    }


def best_of(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times)


def bench_file(label: str, path: Path, repeat: int) -> None:
    raw = path.read_bytes()
    n_resources = len(orjson.loads(raw).get("entry", []))
    params = load_params(None)

    def full() -> object:
        return assess_bundle(orjson.loads(raw), as_of=AS_OF, params=params).to_dict()

    full()  # warm caches (value sets, unit factors) as a running service would have them
    best, median = best_of(full, repeat)
    j_best, _ = best_of(lambda: json.loads(raw), repeat)
    o_best, _ = best_of(lambda: orjson.loads(raw), repeat)
    print(f"{label}: {n_resources} resources, {len(raw) / 1024:.0f} KiB")
    print(
        f"  assess (orjson parse + facts + 18 criteria): best {best * 1000:.2f} ms,"
        f" median {median * 1000:.2f} ms per patient,"
        f" {n_resources / best:,.0f} resources/s"
    )
    print(
        f"  json.loads alone:   {j_best * 1000:.2f} ms   orjson.loads alone: {o_best * 1000:.2f} ms"
        f"   (assess = {best / j_best:.1f}x json.loads)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    t0 = time.perf_counter()
    default_valuesets()
    print(f"value sets loaded in {(time.perf_counter() - t0) * 1000:.1f} ms (once per process)")
    fixtures = sorted((ROOT / "fixtures" / "patients").glob("*.json"))
    fixtures = [p for p in fixtures if not p.name.endswith(".expected.json")]
    largest = max(fixtures, key=lambda p: p.stat().st_size)
    bench_file(f"largest fixture {largest.name}", largest, args.repeat)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "generated-5000.json"
        path.write_bytes(orjson.dumps(generated_patient(5000)))
        bench_file("generated patient with 5,000 Observations", path, max(5, args.repeat // 2))


if __name__ == "__main__":
    main()
