"""Unit conversion and code identification cost (issue 13): prints figures, asserts nothing.

    python benchmarks/codes_bench.py [--rounds N] [--population N] [--probe-kb KB] [--tree CHECKOUT]

Each figure is printed beside a floor measured in the same run, in interleaved rounds (medians):

- **first conversion** in a fresh interpreter (what the first hook after a worker starts, or
  ``igg4-cds assess``, pays): the table-driven reader, then the full UCUM grammar (ucumvert on
  pint) for a unit outside it, beside the floor of a ``Decimal`` multiplication;
- **steady-state conversion**: a remembered conversion, the reader on a new unit, ucumvert on a new
  unit, beside a dict lookup;
- **identification** of an Observation's code: a LOINC code of the value sets, a local code named
  in its text (remembered, and new texts never seen before), and the text scan without the memo,
  beside a dict lookup;
- **the engine over a synthetic population** (``igg4-cds synth`` patients, in memory, 1 core, one
  patient at a time): facts and assessment per patient, beside ``orjson`` parsing the same
  resources;
- **hostile units** (issue 10, row 1): CPU time to assess a patient whose IgG4 Observations all
  carry ``"(" * 2000 + "g" + ")" * 2000`` as their UCUM code, ``--probe-kb`` of them (default
  1024 KB), beside ``orjson`` parsing the same bundle.

``--tree CHECKOUT`` measures the ``fhir_mappings`` and ``cds_service`` of another checkout (a
``git worktree`` of an older commit, say) with this script, for a before/after comparison; the
figures that an older tree cannot give are skipped.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
# Put a checkout first on the path, ahead of an editable install of this one.
USE_TREE = r"""
import sys
if TREE:
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in repr(f).lower()]
    sys.path.insert(0, TREE)
"""

FIRST_CALL = r"""
import json, sys, time
t0 = time.perf_counter()
from decimal import Decimal
from fhir_mappings import units
from fhir_mappings.units import UnitSpec, conversion_factor
t1 = time.perf_counter()
spec = UnitSpec("mg/L", "mass")
t2 = time.perf_counter()
Decimal("1.40") * Decimal(1000)
t3 = time.perf_counter()
conversion_factor("g/L", spec)
t4 = time.perf_counter()
loaded = "pint" in sys.modules
conversion_factor("g/(L)", spec)  # parentheses: outside the reader, the full grammar
t5 = time.perf_counter()
from fhir_mappings.extract import _identify
from fhir_mappings.valuesets import default_valuesets
t6 = time.perf_counter()
vs = default_valuesets()
t7 = time.perf_counter()
_identify({"coding": [{"system": "x", "code": "1"}], "text": "血清肌酐"}, vs)
t8 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "floor": t3 - t2, "fast": t4 - t3, "grammar": t5 - t4,
                  "valuesets": t7 - t6, "identify": t8 - t7, "pint_after_fast": loaded}))
"""


def first_calls(rounds: int, tree: str) -> dict[str, list[float]]:
    keys = ("import", "floor", "fast", "grammar", "valuesets", "identify")
    out: dict[str, list[float]] = {key: [] for key in keys}
    code = f"TREE = {tree!r}\n" + USE_TREE + FIRST_CALL
    for _ in range(rounds):
        run = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
        )
        data = json.loads(run.stdout)
        for key in out:
            out[key].append(data[key])
    return out


def per_call(fn: Callable[[], Any], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n


def steady(rounds: int) -> dict[str, list[float]]:
    from fhir_mappings import units
    from fhir_mappings.extract import _identify
    from fhir_mappings.valuesets import default_valuesets

    vs = default_valuesets()
    spec = vs.lab_units["igg4"]
    units.conversion_factor("mg/dL", spec)
    units._registry()  # built once, outside the timings
    table = {"mg/dL": 10}
    coded = {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]}
    local = {
        "coding": [{"system": "http://hospital.example.cn/lis", "code": "K", "display": "钾"}],
        "text": "血清钾",
    }
    fresh_units = iter(f"mg/dL{{r{i}}}" for i in range(10**9))  # annotated: new to every cache
    fresh_texts = iter(f"本地检验项目 {i}" for i in range(10**9))

    def new_text() -> Any:
        t = next(fresh_texts)
        return _identify({"coding": [{"system": "x", "code": t}], "text": t}, vs)

    def scan_without_memo() -> Any:
        low = "血清钾"
        return next((n for n, m in vs.labs.items() if m.matches_folded(low)), None)

    cases: dict[str, tuple[Callable[[], Any], int]] = {
        "floor: dict lookup": (lambda: table.get("mg/dL"), 200_000),
        "conversion, remembered": (lambda: units.conversion_factor("mg/dL", spec), 200_000),
        "conversion, new unit, ucumvert": (
            lambda: units._registry().from_ucum(next(fresh_units)),
            200,
        ),
        "identify: LOINC code": (lambda: _identify(coded, vs), 100_000),
        "identify: local code by name, remembered": (lambda: _identify(local, vs), 100_000),
        "identify: local code by name, new text": (new_text, 5_000),
    }
    if hasattr(units, "_fast"):  # this tree's reader and memo-free scan
        cases["conversion, new unit, reader"] = (
            lambda: units._fast.__wrapped__(next(fresh_units)),
            20_000,
        )
        cases["identify: text scan without the memo"] = (scan_without_memo, 5_000)
    out: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (fn, n) in cases.items():
            out[name].append(per_call(fn, n))
    return out


def population(n: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per patient: the engine (facts + assessment) and orjson parsing the same data."""
    from datetime import date

    import orjson

    from cds_service.eligibility.api import assess_resources
    from cds_service.synth.generator import generate_population, shared_resources
    from fhir_mappings.valuesets import default_valuesets

    vs = default_valuesets()
    shared = shared_resources(1)
    patients = []
    for p in generate_population(n, seed=1):
        resources = [r for rs in p.resources.values() for r in rs] + shared
        patients.append((orjson.dumps(resources), sum(len(rs) for rs in p.resources.values())))
    count = sum(c for _, c in patients)
    out: dict[str, list[float]] = {"parse": [], "engine": [], "resources": [float(count)]}
    for _ in range(rounds):  # one patient at a time, as a screen worker does
        start = time.perf_counter()
        for raw, _ in patients:
            orjson.loads(raw)
        parse = (time.perf_counter() - start) / n
        start = time.perf_counter()
        for raw, _ in patients:
            assess_resources(orjson.loads(raw), as_of=date(2026, 11, 24), valuesets=vs)
        out["parse"].append(parse)
        out["engine"].append((time.perf_counter() - start) / n - parse)
    return out


def probe(kilobytes: int) -> dict[str, float]:
    """CPU seconds to assess a bundle of hostile-unit Observations, and to parse it."""
    from datetime import date

    import orjson

    from cds_service.eligibility.api import assess_resources

    unit = "(" * 2000 + "g" + ")" * 2000
    subject = {"reference": "Patient/probe"}
    resources: list[dict[str, Any]] = [{"resourceType": "Patient", "id": "probe"}]
    while len(orjson.dumps(resources)) < kilobytes * 1024:
        i = len(resources)
        resources.append(
            {
                "resourceType": "Observation",
                "id": f"o{i}",
                "status": "final",
                "subject": subject,
                "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
                "effectiveDateTime": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
                "valueQuantity": {
                    "value": 1200,
                    "system": "http://unitsofmeasure.org",
                    "code": unit,
                },
            }
        )
    raw = orjson.dumps(resources)
    start = time.process_time()
    parsed = orjson.loads(raw)
    parse = time.process_time() - start
    start = time.process_time()
    assess_resources(parsed, as_of=date(2026, 11, 24))
    return {
        "kb": len(raw) / 1024,
        "observations": len(resources) - 1,
        "parse": parse,
        "engine": time.process_time() - start,
    }


def fmt(seconds: float) -> str:
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.2f} µs"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--population", type=int, default=300, help="synthetic patients")
    parser.add_argument("--probe-kb", type=int, default=1024, help="size of the hostile bundle")
    parser.add_argument("--tree", default="", help="another checkout to measure instead")
    args = parser.parse_args()
    exec(USE_TREE, {"TREE": args.tree, "sys": sys})
    if not args.tree:
        sys.path.insert(0, str(ROOT))
    import fhir_mappings

    print(f"measuring {Path(fhir_mappings.__file__).parents[1]}")

    print(f"\nfirst call, fresh interpreter (median of {args.rounds})")
    first = {k: statistics.median(v) for k, v in first_calls(args.rounds, args.tree).items()}
    floor = first["floor"]
    print(f"  {'import fhir_mappings.units':48} {fmt(first['import']):>10}")
    print(f"  {'floor: Decimal multiplication':48} {fmt(floor):>10}")
    for key, label in (("fast", "first conversion (g/L -> mg/L)"),):
        print(f"  {label:48} {fmt(first[key]):>10}  {first[key] / floor:8.0f} x floor")
    label = "then a unit the reader does not know (g/(L))"
    print(f"  {label:48} {fmt(first['grammar']):>10}  {first['grammar'] / floor:8.0f} x floor")
    print("  (this tree's reader leaves pint and ucumvert unimported until the second line)")
    print(f"  {'loading the value sets (first use)':48} {fmt(first['valuesets']):>10}")
    label = "first identification by a Chinese name"
    print(f"  {label:48} {fmt(first['identify']):>10}  {first['identify'] / floor:8.0f} x floor")

    print(f"\nsteady state, per call (median of {args.rounds} interleaved rounds)")
    results = {k: statistics.median(v) for k, v in steady(args.rounds).items()}
    floor = results["floor: dict lookup"]
    for name, value in results.items():
        print(f"  {name:48} {fmt(value):>10}  {value / floor:8.1f} x floor")

    pop = population(args.population, args.rounds)
    parse, engine = statistics.median(pop["parse"]), statistics.median(pop["engine"])
    per = pop["resources"][0] / args.population
    print(f"\nengine over {args.population} synthetic patients ({per:.0f} resources each), 1 core")
    print(f"  {'floor: orjson parse, per patient':48} {fmt(parse):>10}")
    label = "facts + assessment (parse excluded), per patient"
    print(f"  {label:48} {fmt(engine):>10}  {engine / parse:8.1f} x floor")
    print(f"  {'resources per second':48} {per / engine:10,.0f}")

    hostile = probe(args.probe_kb)
    print(
        f"\nhostile units: {hostile['kb']:.0f} KB, {hostile['observations']:.0f} Observations "
        "with a 4,001-character nested UCUM code (CPU time)"
    )
    print(f"  {'floor: orjson parse':48} {fmt(hostile['parse']):>10}")
    label = "assessment"
    ratio = hostile["engine"] / max(hostile["parse"], 1e-9)
    print(f"  {label:48} {fmt(hostile['engine']):>10}  {ratio:8.1f} x floor")


if __name__ == "__main__":
    main()
