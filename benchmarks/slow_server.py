"""A long record on a slow, small-paged FHIR server: what the hook does and what the clinician sees.

A candidate-like patient with 400 Observations (the IgG4 course plus years of routine labs; not a
fixture: generated) is served by the fixture FHIR server capped at 3 resources per page, with
300 ms per page. The CDS service runs on loopback (werkzeug, JWT off, SQLite) with its default
2 s budget; each scenario calls the hook once, without prefetch (everything is fetched):

- floor: a plain server (pages of up to 200, no delay);
- pages of 3 without delay (what the page limit ``FHIR_MAX_PAGES`` does on its own);
- default: the Observations searched by patient (the default: any Observation may be an IgG4 result);
- by-code: ``PREFETCH_OBSERVATIONS_BY_CODE`` (the site's codes are all in its value sets), so the
  windowed labs are narrowed by date (``hooks/narrowing.py``);
- by-code, no narrowing: the same without ``FHIR_NARROW_BY_DATE`` (what narrowing saves).

Prints, per scenario: time, FHIR requests served, the assessment status, what was not read, and the
card's summary and detail as the clinician reads them.

    python benchmarks/slow_server.py [--observations 400] [--page-size 3] [--delay 0.3] [--budget 2]
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import requests
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hooks.synthetic import long_record  # noqa: E402

from cds_service.app import create_app  # noqa: E402
from cds_service.fhir_fixture_server import FixtureFhirServer  # noqa: E402
from cds_service.hooks.cards import EXTENSION_KEY  # noqa: E402

PATIENT = "slow-400"
HOOK = "/cds-services/igg4rd-trial-screening"


def run(
    resources: list[dict[str, Any]],
    *,
    page_size: int,
    delay: float,
    budget: float,
    by_code: bool,
    narrow: bool,
    tmp: Path,
) -> dict[str, Any]:
    with FixtureFhirServer(resources, page_size=page_size, page_delay_s=delay) as fhir:
        app = create_app(
            {
                "DATABASE_URL": f"sqlite:///{tmp / f'slow-{uuid.uuid4().hex[:6]}.db'}",
                "JWT_VERIFY": False,
                "FHIR_SERVER_ALLOWLIST": [fhir.base_url],
                "FHIR_TIME_BUDGET_S": budget,
                "IGG4_AS_OF": "2026-11-24",
                "PREFETCH_OBSERVATIONS_BY_CODE": by_code,
                "FHIR_NARROW_BY_DATE": narrow,
            }
        )
        server = make_server("127.0.0.1", 0, app, threaded=True)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            body = {
                "hook": "patient-view",
                "hookInstance": str(uuid.uuid4()),
                "context": {"userId": "Practitioner/bench", "patientId": PATIENT},
                "fhirServer": fhir.base_url,
            }
            started = time.perf_counter()
            answer = requests.post(
                f"http://127.0.0.1:{server.server_port}{HOOK}", json=body, timeout=120
            )
            seconds = time.perf_counter() - started
            served = fhir.requests_served
        finally:
            server.shutdown()
    (card,) = answer.json()["cards"]
    assessment = card["extension"][EXTENSION_KEY]
    return {"seconds": seconds, "served": served, "card": card, "assessment": assessment}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--observations", type=int, default=400)
    parser.add_argument("--page-size", type=int, default=3)
    parser.add_argument("--delay", type=float, default=0.3, help="seconds per search page")
    parser.add_argument("--budget", type=float, default=2.0, help="FHIR_TIME_BUDGET_S")
    args = parser.parse_args()
    resources = long_record(PATIENT, args.observations)
    small = args.page_size
    scenarios = [
        ("floor: plain server (pages of 200, no delay)", 200, 0.0, False, True),
        (f"pages of {small}, no delay", small, 0.0, False, True),
        ("default (Observations by patient)", small, args.delay, False, True),
        ("by-code, narrowed by date", small, args.delay, True, True),
        ("by-code, not narrowed", small, args.delay, True, False),
    ]
    print(
        f"{args.observations} Observations; server pages by {args.page_size}, "
        f"{args.delay * 1000:.0f} ms per page; budget {args.budget} s"
    )
    with tempfile.TemporaryDirectory() as tmp:
        for name, page_size, delay, by_code, narrow in scenarios:
            got = run(
                resources,
                page_size=page_size,
                delay=delay,
                budget=args.budget,
                by_code=by_code,
                narrow=narrow,
                tmp=Path(tmp),
            )
            assessment = got["assessment"]
            unknown = [c["id"] for c in assessment["criteria"] if c["status"] == "unknown"]
            print(f"\n=== {name}")
            print(
                f"hook {got['seconds']:.2f} s, {got['served']} FHIR requests, "
                f"status {assessment['status']}, unknown {', '.join(unknown)}"
            )
            print(f"summary: {got['card']['summary']}")
            print("detail:")
            print("  " + got["card"]["detail"].replace("\n", "\n  "))


if __name__ == "__main__":
    main()
