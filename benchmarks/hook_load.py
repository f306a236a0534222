"""Load benchmark of the CDS hook under gunicorn on loopback.

Generates a patient with 500 Observations (not a fixture), serves it from the fixture FHIR server,
starts ``gunicorn cds_service.wsgi:app`` and drives the hook with a threaded Python client in two
scenarios: full prefetch (everything in the request, no FHIR call) and no prefetch (everything
fetched from the fixture server, in pages, with a bearer token). Prints p50/p95/p99 latency and
throughput per scenario.

    python benchmarks/hook_load.py                      # 1 and 8 clients, 3 rounds of 200
    python benchmarks/hook_load.py --requests 500 --concurrency 1,4,8 --workers 2 --threads 4

Everything is on: JWT verification (ES384 tokens signed before the clock starts, one per
request), prefetch checks, fetches, engine, cards, the worklist hand-off and the card record in
SQLite. Each round of the service is followed by a round of the floor, a trivial Flask app under
the same gunicorn settings (``benchmarks/floor_app.py``); medians of the rounds are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hooks.synthetic import full_prefetch, long_record  # noqa: E402
from serving import TOKEN, free_port, gunicorn, hook_request, wait_ready  # noqa: E402  (benchmarks/serving.py)

from cds_service.db import upgrade  # noqa: E402
from cds_service.fhir_fixture_server import FixtureFhirServer  # noqa: E402

PATIENT = "bench-500"
HOOK = "/cds-services/igg4rd-trial-screening"


def run(
    url: str,
    payloads: list[bytes],
    total: int,
    concurrency: int,
    tokens: Iterator[str] | None = None,
    expect_card: bool = True,
) -> dict[str, Any]:
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    remaining = iter(range(total))

    def worker() -> None:
        session = requests.Session()
        headers = {"Content-Type": "application/json"}
        while True:
            with lock:
                n = next(remaining, None)
                if n is None:
                    return
                payload = payloads[n % len(payloads)]
                if tokens is not None:
                    headers = {**headers, "Authorization": f"Bearer {next(tokens)}"}
            started = time.perf_counter()
            response = session.post(url, data=payload, headers=headers, timeout=30)
            elapsed = time.perf_counter() - started
            ok = response.status_code == 200
            if ok and expect_card:
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
        "payload_kb": len(payloads[0]) / 1024,
    }


class Tokens:
    """CDS client JWTs signed in advance (ES384, a fresh jti each), so that the client's signing
    does not compete with the server for the CPU while timed."""

    ISSUER = "https://bench-ehr.invalid"

    def __init__(self, audience: str) -> None:
        from joserfc.jwk import ECKey

        self.key = ECKey.generate_key("P-384", parameters={"kid": "bench-1"})
        self.audience = audience
        self.jwks = {"keys": [self.key.as_dict(private=False)]}

    def make(self, n: int) -> Iterator[str]:
        from joserfc import jwt

        now = int(time.time())
        header = {"alg": "ES384", "typ": "JWT", "kid": "bench-1"}
        made = [
            jwt.encode(
                header,
                {"iss": self.ISSUER, "aud": self.audience, "iat": now, "exp": now + 600,
                 "jti": str(uuid.uuid4())},
                self.key,
                algorithms=["ES384"],
            )
            for _ in range(n)
        ]  # fmt: skip
        return iter(made)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=200, help="per round and scenario")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved with the floor")
    parser.add_argument("--concurrency", default="1,8", help="client threads, comma-separated")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--observations", type=int, default=500)
    parser.add_argument("--patients", type=int, default=50, help="distinct patients, in turn")
    parser.add_argument("--page-size", type=int, default=100, help="fixture server page size")
    parser.add_argument("--no-jwt", action="store_true", help="turn JWT verification off")
    parser.add_argument("--no-fetch", action="store_true", help="skip the fetched scenario")
    parser.add_argument("--json", action="store_true", help="also print the figures as JSON")
    args = parser.parse_args()
    levels = [int(c) for c in args.concurrency.split(",")]

    resources = long_record(PATIENT, args.observations)
    workdir = tempfile.TemporaryDirectory(prefix="igg4-bench-")
    db_url = f"sqlite:///{workdir.name}/bench.db"
    upgrade(db_url)
    port, floor_port = free_port(), free_port()
    base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
    tokens = None if args.no_jwt else Tokens(base + HOOK)
    with FixtureFhirServer(resources, token=TOKEN, page_size=args.page_size) as fhir:
        env = {
            **os.environ,
            "IGG4_CDS_JWT_VERIFY": "false" if tokens is None else "true",
            "IGG4_CDS_FHIR_SERVER_ALLOWLIST": f"[{fhir.base_url}]",
            "IGG4_CDS_DATABASE_URL": db_url,
            "IGG4_CDS_DATABASE_AUTO_UPGRADE": "false",
            "IGG4_CDS_PUBLIC_BASE_URL": base,
            # the fixture server caps pages at its page size: a 500-Observation search spans pages
            "IGG4_CDS_FHIR_PAGE_SIZE": str(args.page_size),
            "IGG4_AS_OF": "2026-11-24",
        }
        if tokens is not None:
            env["IGG4_CDS_JWT_ISSUERS"] = orjson.dumps(
                {Tokens.ISSUER: {"jwks": tokens.jwks}}
            ).decode()
        servers = [
            gunicorn("cds_service.wsgi:app", port, env, workers=args.workers, threads=args.threads),
            gunicorn("floor_app:app", floor_port, env, workers=args.workers, threads=args.threads),
        ]
        try:
            if not (wait_ready(base) and wait_ready(floor_base)):
                print("gunicorn did not start", file=sys.stderr)
                return 1
            # Distinct patients, one after the other (each is listed on the worklist and gets a
            # card record): the database work of a clinic, not of one chart opened again.
            full = [
                orjson.dumps(
                    hook_request(pid, prefetch=full_prefetch(long_record(pid, args.observations)))
                )
                for pid in [PATIENT, *(f"bench-{i}" for i in range(1, args.patients))]
            ]
            fetched = [orjson.dumps(hook_request(PATIENT, fhir=fhir.base_url))]
            scenarios = [(f"full prefetch, {c} client{'s' * (c > 1)}", full, c) for c in levels]
            if not args.no_fetch:
                scenarios.append((f"fetched, {levels[-1]} clients", fetched, levels[-1]))
            print(
                f"CDS hook load: {args.patients} patients of {args.observations} Observations "
                f"({len(full[0]) / 1024:.0f} KB prefetch each), gunicorn {args.workers} workers x {args.threads} threads, JWT "
                f"{'off' if tokens is None else 'on (ES384)'}, {args.rounds} rounds x "
                f"{args.requests} requests, interleaved with the floor (a trivial Flask app that "
                f"parses the body, same gunicorn); {os.cpu_count()} CPUs; medians of the rounds"
            )
            header = (
                f"{'scenario':28} {'':8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'req/s':>7}"
            )
            print(header)
            failed = 0
            results: dict[str, Any] = {}
            for name, payload, conc in scenarios:
                n = args.requests
                pre = tokens.make(n * args.rounds + 20) if tokens is not None else None
                run(base + HOOK, payload, 20, conc, pre)  # warm-up
                run(floor_base + HOOK, full, 20, conc, expect_card=False)
                rounds: dict[str, list[dict[str, Any]]] = {"service": [], "floor": []}
                for _ in range(args.rounds):
                    rounds["service"].append(run(base + HOOK, payload, n, conc, pre))
                    if payload is full:
                        rounds["floor"].append(
                            run(floor_base + HOOK, full, n, conc, expect_card=False)
                        )
                results[name] = {}
                for who, rs in rounds.items():
                    if not rs:
                        continue
                    failed += sum(r["errors"] for r in rs) if who == "service" else 0
                    med = {
                        k: statistics.median(r[k] for r in rs)
                        for k in ("p50_ms", "p95_ms", "p99_ms", "throughput_rps")
                    }
                    results[name][who] = med
                    print(
                        f"{name if who == 'service' else '':28} {who:8} {med['p50_ms']:>8.1f} "
                        f"{med['p95_ms']:>8.1f} {med['p99_ms']:>8.1f} "
                        f"{med['throughput_rps']:>7.1f}"
                    )
            print(f"fixture FHIR server requests served: {fhir.requests_served}; errors {failed}")
            if args.json:
                print(orjson.dumps(results).decode())
            return 1 if failed else 0
        finally:
            for server in servers:
                server.terminate()
                server.wait(timeout=15)
            workdir.cleanup()


if __name__ == "__main__":
    raise SystemExit(main())
