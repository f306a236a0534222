"""Benchmark of the SMART app (issue 6): prints figures, asserts nothing.

    python benchmarks/smart_launch.py [--launches N] [--store memory|redis://127.0.0.1:6379/15]

Everything on loopback with real HTTP: the fixture FHIR server, the test EHR in front of it and
the app (werkzeug, threaded). Times N full EHR launches of a candidate (launch -> discovery ->
authorize -> consent -> callback -> token exchange -> FHIR reads with the user's token -> engine
-> page), N page reloads (FHIR reads + engine + page) and N referrals (worklist + Task write).
"""

from __future__ import annotations

import argparse
import logging
import re
import statistics
import tempfile
import threading
import time
from pathlib import Path

import requests
from werkzeug.serving import make_server

from cds_service.app import create_app
from cds_service.fhir_fixture_server import FixtureFhirServer
from cds_service.smart_testing import TestEhr

ROOT = Path(__file__).resolve().parents[1]


def figures(name: str, samples: list[float]) -> None:
    ms = sorted(s * 1000 for s in samples)
    p95 = ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))]
    print(
        f"{name:<28} n={len(ms):<4} median {statistics.median(ms):7.1f} ms   p95 {p95:7.1f} ms"
        f"   max {ms[-1]:7.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--launches", type=int, default=30)
    parser.add_argument("--store", default="memory")
    parser.add_argument("--patient", default="fx01")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    with (
        FixtureFhirServer.from_directory(ROOT / "fixtures" / "patients") as upstream,
        TestEhr(upstream) as ehr,
        tempfile.TemporaryDirectory() as tmp,
    ):
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{Path(tmp) / 'bench.db'}",
                "JWT_VERIFY": False,
                "FHIR_SERVER_ALLOWLIST": [ehr.fhir_base],
                "IGG4_AS_OF": "2026-11-24",
                "SMART_COOKIE_SECURE": False,
                "SMART_SESSION_STORE": args.store,
            }
        )
        server = make_server("127.0.0.1", 0, app, threaded=True)
        base = f"http://127.0.0.1:{server.server_port}"
        ehr.redirect_uris.add(f"{base}/smart/callback")
        threading.Thread(target=server.serve_forever, daemon=True).start()
        launches, reloads, referrals = [], [], []
        for _ in range(args.launches):
            browser = requests.Session()
            browser.trust_env = False
            t0 = time.perf_counter()
            consent = browser.get(ehr.launch_url(f"{base}/smart/launch", args.patient))
            txn = re.search(r'name="txn" value="([^"]+)"', consent.text)
            assert txn, "no consent page"
            scopes = re.findall(r'name="scope" value="([^"]+)"', consent.text)
            data = [("txn", txn.group(1)), ("decision", "approve"), *(("scope", s) for s in scopes)]
            page = browser.post(f"{ehr.base_url}/auth/decide", data=data)
            launches.append(time.perf_counter() - t0)
            assert page.status_code == 200, page.status_code
            t0 = time.perf_counter()
            again = browser.get(page.url)
            reloads.append(time.perf_counter() - t0)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', again.text)
            assert csrf
            t0 = time.perf_counter()
            done = browser.post(page.url + "/refer", data={"csrf_token": csrf.group(1)})
            referrals.append(time.perf_counter() - t0)
            assert done.status_code == 200
        print(f"SMART app, patient {args.patient}, session store {args.store}, 2 cores, loopback")
        figures("full EHR launch to page", launches)
        figures("page reload (reads+engine)", reloads)
        figures("referral (worklist+Task)", referrals)
        server.shutdown()


if __name__ == "__main__":
    main()
