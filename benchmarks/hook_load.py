"""Load benchmark of the CDS hook under gunicorn on loopback.

Generates a patient with 500 Observations (not a fixture), serves it from the fixture FHIR server,
starts ``gunicorn cds_service.wsgi:app`` and drives the hook with a threaded Python client in two
scenarios: full prefetch (everything in the request, no FHIR call) and no prefetch (everything
fetched from the fixture server, in pages, with a bearer token). Prints p50/p95/p99 latency and
throughput per scenario.

    python benchmarks/hook_load.py                      # defaults: 300 requests, concurrency 4
    python benchmarks/hook_load.py --requests 1000 --concurrency 8 --workers 2 --threads 4

JWT verification is off for the run (the client would otherwise spend its time signing tokens);
everything else (prefetch checks, fetches, engine, cards, the card record in SQLite) is on.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import orjson
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hooks.synthetic import full_prefetch, long_record  # noqa: E402

from cds_service.db import upgrade  # noqa: E402
from cds_service.fhir_fixture_server import FixtureFhirServer  # noqa: E402

PATIENT = "bench-500"
TOKEN = "bench-token"
HOOK = "/cds-services/igg4rd-trial-screening"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def body(fhir_base: str | None, prefetch: dict[str, Any] | None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/bench", "patientId": PATIENT},
    }
    if prefetch is not None:
        out["prefetch"] = prefetch
    if fhir_base:
        out["fhirServer"] = fhir_base
        out["fhirAuthorization"] = {
            "access_token": TOKEN,
            "token_type": "Bearer",
            "expires_in": 3600,
            "scope": "patient/*.read",
            "subject": "bench",
        }
    return out


def run(url: str, payload: bytes, total: int, concurrency: int) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(total))

    def worker() -> None:
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        while True:
            with lock:
                if next(remaining, None) is None:
                    return
            started = time.perf_counter()
            response = session.post(url, data=payload, headers=headers, timeout=30)
            elapsed = time.perf_counter() - started
            ok = response.status_code == 200
            if ok:
                cards = response.json()["cards"]
                status = (
                    cards[0]["extension"]["org.igg4cds.assessment"]["status"] if cards else None
                )
                ok = status == "candidate"
            with lock:
                latencies.append(elapsed)
                if not ok:
                    errors.append(f"HTTP {response.status_code}")

    started = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - started
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))] * 1000

    return {
        "requests": len(latencies),
        "errors": len(errors),
        "p50_ms": pct(50),
        "p95_ms": pct(95),
        "p99_ms": pct(99),
        "mean_ms": statistics.fmean(latencies) * 1000,
        "throughput_rps": len(latencies) / wall,
        "payload_kb": len(payload) / 1024,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="per scenario")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument("--page-size", type=int, default=100, help="fixture server page size")
    args = parser.parse_args()

    resources = long_record(PATIENT, args.observations)
    workdir = tempfile.TemporaryDirectory(prefix="igg4-bench-")
    db_url = f"sqlite:///{workdir.name}/bench.db"
    upgrade(db_url)
    with FixtureFhirServer(resources, token=TOKEN, page_size=args.page_size) as fhir:
        port = free_port()
        env = {
            **os.environ,
            "IGG4_CDS_JWT_VERIFY": "false",
            "IGG4_CDS_FHIR_SERVER_ALLOWLIST": f"[{fhir.base_url}]",
            "IGG4_CDS_DATABASE_URL": db_url,
            "IGG4_CDS_DATABASE_AUTO_UPGRADE": "false",
            # the fixture server caps pages at its page size: a 500-Observation search spans pages
            "IGG4_CDS_FHIR_PAGE_SIZE": str(args.page_size),
            "IGG4_AS_OF": "2026-11-24",
        }
        gunicorn = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "cds_service.wsgi:app",
                "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
                "--threads", str(args.threads), "--worker-class", "gthread",
                "--log-level", "warning",
            ],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            for _ in range(300):
                try:
                    if requests.get(f"{base}/healthz", timeout=1).ok:
                        break
                except requests.RequestException:
                    time.sleep(0.1)
            else:
                print("gunicorn did not start", file=sys.stderr)
                return 1
            scenarios = {
                "full prefetch": orjson.dumps(body(None, full_prefetch(resources))),
                "no prefetch (fetched)": orjson.dumps(body(fhir.base_url, None)),
            }
            print(
                f"CDS hook load: {args.observations} Observations, gunicorn {args.workers} "
                f"workers x {args.threads} threads, client concurrency {args.concurrency}, "
                f"{args.requests} requests per scenario, {os.cpu_count()} CPUs"
            )
            print(
                f"{'scenario':24} {'req':>5} {'err':>4} {'p50 ms':>8} {'p95 ms':>8} "
                f"{'p99 ms':>8} {'mean ms':>8} {'req/s':>7} {'body KB':>8}"
            )
            failed = 0
            for name, payload in scenarios.items():
                run(base + HOOK, payload, min(20, args.requests), args.concurrency)  # warm-up
                r = run(base + HOOK, payload, args.requests, args.concurrency)
                failed += r["errors"]
                print(
                    f"{name:24} {r['requests']:>5} {r['errors']:>4} {r['p50_ms']:>8.1f} "
                    f"{r['p95_ms']:>8.1f} {r['p99_ms']:>8.1f} {r['mean_ms']:>8.1f} "
                    f"{r['throughput_rps']:>7.1f} {r['payload_kb']:>8.1f}"
                )
            print(f"fixture FHIR server requests served: {fhir.requests_served}")
            return 1 if failed else 0
        finally:
            gunicorn.terminate()
            gunicorn.wait(timeout=15)
            workdir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
