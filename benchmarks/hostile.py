"""Hostile inputs against the CDS hook under gunicorn on loopback (issue 10): the worst probes
replayed, with CPU and wall time per request and the workers' threads after (and 5 s later).

    python benchmarks/hostile.py                  # defaults: 2 workers x 4 threads, JWT off
    python benchmarks/hostile.py --trickle-hooks 20 --body-mb 100 --unit-kb 1024

Scenarios, each beside a floor measured in the same run:

- **row 1, nested UCUM strings at 1 MB**: a full-prefetch hook whose IgG4 Observations carry
  ``"(" * 2000 + "g" + ")" * 2000`` as their unit code, up to ``--unit-kb``; and one Observation
  whose unit is a single nested string of that size. Run one at a time (CPU per request), then four
  at once with a normal hook timed meanwhile (does anything stall?). Floor: a normal
  500-Observation full-prefetch hook on the same service.
- **row 2, a ``--body-mb`` request body**: declared by Content-Length, and sent chunked (no
  length). Floor: the same body to a trivial app under the same gunicorn (``floor_app.py``: it reads
  and parses the body, which is what the service did before). Peak memory of the workers is shown.
- **row 4, a FHIR server that sends headers, then one byte every 0.5 s**: ``--trickle-hooks`` hook
  calls at once that must fetch from it. Floor: as many calls fetched from the fixture FHIR
  server. Threads per worker and connections still open to the FHIR server are counted when the
  calls return and 5 s later.

CPU is the workers' user+system time from /proc (10 ms ticks), divided by the requests; "max" is
over requests sent one at a time. JWT verification is off (the client would otherwise spend the
CPU signing tokens); everything else is on. Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import requests

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hardening.servers import TricklingServer  # noqa: E402
from hooks.synthetic import full_prefetch, long_record  # noqa: E402
from serving import TOKEN, free_port, gunicorn, hook_request, wait_ready  # noqa: E402  (benchmarks/serving.py)

from cds_service.db import upgrade  # noqa: E402
from cds_service.fhir_fixture_server import FixtureFhirServer  # noqa: E402

HOOK = "/cds-services/igg4rd-trial-screening"
TICK = os.sysconf("SC_CLK_TCK")
NESTED = "(" * 2000 + "g" + ")" * 2000  # the probe's unit: 4,001 characters, nested 2,000 deep


# --- the gunicorn processes -----------------------------------------------------------------------


def workers(master: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                found.append(int(entry))
    return sorted(found)


def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / TICK


def status_field(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    return 0


def threads(pids: list[int]) -> list[int]:
    return [status_field(pid, "Threads") for pid in pids]


def sockets_to(pids: list[int], port: int) -> list[int]:
    """Per worker, its TCP connections to ``port`` on loopback that are not yet closed."""
    counts = []
    for pid in pids:
        inodes = set()
        for fd in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
        n = 0
        for row in Path(f"/proc/{pid}/net/tcp").read_text().splitlines()[1:]:
            cols = row.split()
            remote_port = int(cols[2].split(":")[1], 16)
            closed = cols[3] in ("06", "07")  # TIME_WAIT, CLOSE
            if remote_port == port and cols[9] in inodes and not closed:
                n += 1
        counts.append(n)
    return counts


def peak_rss_mb(pids: list[int]) -> list[int]:
    return [status_field(pid, "VmHWM") // 1024 for pid in pids]


# --- requests -------------------------------------------------------------------------------------


def hook_body(
    patient: str, *, prefetch: dict[str, Any] | None = None, fhir: str | None = None
) -> bytes:
    return orjson.dumps(hook_request(patient, prefetch=prefetch, fhir=fhir))


def post(url: str, payload: bytes, timeout: float = 300) -> tuple[int, float]:
    started = time.perf_counter()
    try:
        response = requests.post(
            url, data=payload, headers={"Content-Type": "application/json"}, timeout=timeout
        )
        status = response.status_code
    except requests.RequestException as exc:
        status = -1 if not isinstance(exc, requests.Timeout) else -2
    return status, time.perf_counter() - started


def one_at_a_time(url: str, payload: bytes, n: int, pids: list[int]) -> dict[str, Any]:
    """``n`` requests in a row: wall and CPU of each (the workers' CPU over that request)."""
    walls, cpus, codes = [], [], []
    for _ in range(n):
        before = cpu_seconds(pids)
        code, wall = post(url, payload)
        cpus.append(cpu_seconds(pids) - before)
        walls.append(wall)
        codes.append(code)
    return {"wall": walls, "cpu": cpus, "codes": codes}


def at_once(url: str, payloads: list[bytes], pids: list[int]) -> dict[str, Any]:
    """All payloads at the same time: wall of each, and the workers' CPU over the burst."""
    results: list[tuple[int, float]] = [(0, 0.0)] * len(payloads)

    def send(i: int) -> None:
        results[i] = post(url, payloads[i])

    before = cpu_seconds(pids)
    started = time.perf_counter()
    pool = [threading.Thread(target=send, args=(i,)) for i in range(len(payloads))]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {
        "wall": [w for _, w in results],
        "codes": [c for c, _ in results],
        "cpu_total": cpu_seconds(pids) - before,
        "burst": time.perf_counter() - started,
    }


def raw_post(port: int, total: int, *, chunked: bool, timeout: float = 300) -> dict[str, Any]:
    """POST a ``total``-byte JSON body over a raw socket, 1 MiB at a time, stopping as soon as the
    server answers (a server that refuses early is not made to swallow the rest)."""
    head = b'{"hook": "patient-view", "padding": "'
    tail = b'"}'
    fill = total - len(head) - len(tail)
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    framing = b"Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}".encode()
    started = time.perf_counter()
    sock.sendall(
        b"POST " + HOOK.encode() + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\n" + framing + b"\r\n\r\n"
    )
    sent = 0
    block = b"x" * (1 << 20)
    pieces = [head] + [block] * (fill // len(block)) + [b"x" * (fill % len(block)), tail]
    try:
        for piece in pieces:
            if select.select([sock], [], [], 0)[0]:
                break  # the server has answered (or hung up): stop sending
            data = b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece
            sock.sendall(data)
            sent += len(piece)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except OSError:
        pass  # the server closed the connection while we were sending
    status = -1
    try:
        line = sock.makefile("rb").readline()
        status = int(line.split()[1]) if line.startswith(b"HTTP/") else -1
    except (OSError, ValueError, IndexError):
        pass
    wall = time.perf_counter() - started
    sock.close()
    return {"status": status, "wall": wall, "sent_mb": sent / (1 << 20)}


# --- the inputs -----------------------------------------------------------------------------------


def nested_unit_record(kilobytes: int, *, one_string: bool) -> tuple[str, dict[str, Any], int]:
    """A patient whose IgG4 Observations carry nested UCUM codes, to about ``kilobytes`` in all."""
    pid = "hostile-units"
    resources: list[dict[str, Any]] = [
        {"resourceType": "Patient", "id": pid, "birthDate": "1970-01-01", "gender": "female"}
    ]

    def observation(i: int, unit: str) -> dict[str, Any]:
        return {
            "resourceType": "Observation",
            "id": f"o{i}",
            "status": "final",
            "subject": {"reference": f"Patient/{pid}"},
            "code": {"coding": [{"system": "http://loinc.org", "code": "2469-5"}]},
            "effectiveDateTime": f"2025-{1 + i % 12:02d}-{1 + i % 28:02d}",
            "valueQuantity": {"value": 1200, "system": "http://unitsofmeasure.org", "code": unit},
        }

    if one_string:
        depth = kilobytes * 1024 // 2
        resources.append(observation(1, "(" * depth + "g" + ")" * depth))
    else:
        size = 0
        while size < kilobytes * 1024:
            resources.append(observation(len(resources), NESTED))
            size += len(NESTED) + 300
    return pid, full_prefetch(resources), len(resources) - 1


# --- output ---------------------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.0f} ms"


def line(label: str, wall: list[float], cpu: list[float], codes: list[int], floor: float) -> None:
    worst = max(cpu) if cpu else 0.0
    ratio = f"{worst / floor:6.1f} x floor" if floor > 0 else ""
    print(
        f"  {label:46} wall med {ms(statistics.median(wall)):>9} max {ms(max(wall)):>9}   "
        f"CPU med {ms(statistics.median(cpu)):>8} max {ms(worst):>8} {ratio}   "
        f"HTTP {sorted(set(codes))}"
    )


def settle(pids: list[int], extra: Callable[[], str] = lambda: "") -> None:
    """Threads per worker when the calls returned, 1 s and 5 s later."""
    print(f"    threads per worker when the calls returned: {threads(pids)}{extra()}")
    time.sleep(1)
    print(f"    threads per worker 1 s later:               {threads(pids)}{extra()}")
    time.sleep(4)
    print(f"    threads per worker 5 s later:               {threads(pids)}{extra()}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--unit-kb", type=int, default=1024, help="row 1: size of the units")
    parser.add_argument("--repeat", type=int, default=3, help="requests one at a time, per input")
    parser.add_argument("--body-mb", type=int, default=100, help="row 2: the body's size")
    parser.add_argument("--trickle-hooks", type=int, default=20, help="row 4: calls at once")
    parser.add_argument("--budget", type=float, default=2.0, help="FHIR_TIME_BUDGET_S")
    parser.add_argument(
        "--tree", type=Path, default=None, help="serve the code of another checkout (before/after)"
    )
    parser.add_argument("--skip", default="", help="rows to skip, comma-separated: 1,2,4")
    args = parser.parse_args()
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}

    workdir = tempfile.TemporaryDirectory(prefix="igg4-hostile-")
    db_url = f"sqlite:///{workdir.name}/hostile.db"
    upgrade(db_url)
    port, floor_port = free_port(), free_port()
    base, floor_base = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{floor_port}"
    normal = long_record("bench-500", 500)
    with (
        FixtureFhirServer(normal, token=TOKEN, page_size=100) as fhir,
        TricklingServer(interval_s=0.5) as trickle,
    ):
        env = {
            **os.environ,
            "IGG4_CDS_JWT_VERIFY": "false",
            "IGG4_CDS_FHIR_SERVER_ALLOWLIST": f"[{fhir.base_url}, {trickle.base}]",
            "IGG4_CDS_FHIR_TIME_BUDGET_S": str(args.budget),
            "IGG4_CDS_DATABASE_URL": db_url,
            "IGG4_CDS_DATABASE_AUTO_UPGRADE": "false",
            "IGG4_CDS_PUBLIC_BASE_URL": base,
            "IGG4_CDS_SECRET_KEY": "hostile-bench-" + "k" * 32,
            "IGG4_AS_OF": "2026-11-24",
        }
        if args.tree is not None:
            env["PYTHONPATH"] = str(args.tree.resolve())
        servers = [
            gunicorn(
                "cds_service.wsgi:app",
                port,
                env,
                workers=args.workers,
                threads=args.threads,
                timeout=120,
            ),
            gunicorn(
                "floor_app:app",
                floor_port,
                env,
                workers=args.workers,
                threads=args.threads,
                timeout=120,
            ),
        ]
        try:
            if not (wait_ready(base) and wait_ready(floor_base)):
                print("gunicorn did not start", file=sys.stderr)
                return 1
            if args.tree is not None:  # the code under test must be the other checkout's
                assert requests.get(f"{base}/cds-services", timeout=5).ok
            pids = workers(servers[0].pid)
            floor_pids = workers(servers[1].pid)
            url = base + HOOK
            normal_body = hook_body("bench-500", prefetch=full_prefetch(normal))
            for _ in range(3):  # warm-up: every worker has loaded the engine and started its
                at_once(url, [normal_body] * 2 * args.workers * args.threads, pids)  # threads
            time.sleep(3)
            idle = threads(pids)
            print(
                f"Hostile inputs (issue 10): gunicorn {args.workers} workers x {args.threads} "
                f"threads (gthread), JWT off, FHIR_TIME_BUDGET_S {args.budget}; {os.cpu_count()} "
                f"CPUs. Idle threads per worker: {idle}; peak RSS per worker {peak_rss_mb(pids)} MB"
            )

            # Floor: a normal hook (500 Observations, full prefetch, about 0.5 MB).
            floor = one_at_a_time(url, normal_body, 2 * args.repeat, pids)
            floor_cpu = statistics.median(floor["cpu"])
            print(f"\nfloor: a normal hook, 500 Observations, {len(normal_body) // 1024} KB")
            line("one at a time", floor["wall"], floor["cpu"], floor["codes"], 0)

            # Row 1: nested UCUM strings.
            if "1" not in skip:
                print(f"\nrow 1: nested UCUM unit strings, {args.unit_kb} KB of them")
            for one_string in () if "1" in skip else (False, True):
                pid, prefetch, n = nested_unit_record(args.unit_kb, one_string=one_string)
                payload = hook_body(pid, prefetch=prefetch)
                what = (
                    f"one {args.unit_kb} KB nested unit"
                    if one_string
                    else f"{n} Observations x 4,001-char unit"
                )
                res = one_at_a_time(url, payload, args.repeat, pids)
                line(f"{what} ({len(payload) // 1024} KB), one at a time", *_wcc(res), floor_cpu)
                during: dict[str, Any] = {}
                probe = threading.Thread(
                    target=lambda out=during: out.update(r=one_at_a_time(url, normal_body, 3, pids))
                )
                probe.start()  # a normal hook while the four hostile ones run
                burst = at_once(url, [payload] * 4, pids)
                probe.join()
                print(
                    f"    4 at once: wall max {ms(max(burst['wall']))}, workers' CPU "
                    f"{ms(burst['cpu_total'] / 4)} per request; a normal hook meanwhile: wall max "
                    f"{ms(max(during['r']['wall']))} (floor {ms(statistics.median(floor['wall']))})"
                )
            if "1" not in skip:
                settle(pids)

            # Row 2: a huge body.
            total = args.body_mb << 20
            if "2" not in skip:
                print(f"\nrow 2: a {args.body_mb} MB request body")
            for chunked in () if "2" in skip else (False, True):
                how = "chunked, no Content-Length" if chunked else "with Content-Length"
                before = cpu_seconds(pids)
                ours = raw_post(port, total, chunked=chunked)
                cpu = cpu_seconds(pids) - before
                before = cpu_seconds(floor_pids)
                theirs = raw_post(floor_port, total, chunked=chunked)
                floor_body_cpu = cpu_seconds(floor_pids) - before
                print(
                    f"  {how:28} service: HTTP {ours['status']}, wall {ms(ours['wall'])}, CPU "
                    f"{ms(cpu)}, {ours['sent_mb']:.0f} MB sent before the answer | floor (reads and"
                    f" parses it): HTTP {theirs['status']}, wall {ms(theirs['wall'])}, CPU "
                    f"{ms(floor_body_cpu)}"
                )
            if "2" not in skip:
                print(
                    f"    peak RSS per worker: service {peak_rss_mb(pids)} MB, floor "
                    f"{peak_rss_mb(floor_pids)} MB"
                )
                settle(pids)

            # Row 4: a trickling FHIR server, many hooks at once.
            if "4" not in skip:
                n = args.trickle_hooks
                print(
                    f"\nrow 4: {n} hooks at once, all data to fetch from a FHIR server that sends "
                    "headers, then one byte every 0.5 s"
                )
                fetched = [hook_body("bench-500", fhir=fhir.base_url) for _ in range(n)]
                res = at_once(url, fetched, pids)
                print(
                    f"  floor: {n} at once fetched from the fixture server: wall med "
                    f"{ms(statistics.median(res['wall']))} max {ms(max(res['wall']))}, CPU "
                    f"{ms(res['cpu_total'] / n)} per request, HTTP {sorted(set(res['codes']))}"
                )
                settle(pids)
                hostile = [hook_body("p1", fhir=trickle.base) for _ in range(n)]
                res = at_once(url, hostile, pids)
                print(
                    f"  trickling server: wall med {ms(statistics.median(res['wall']))} max "
                    f"{ms(max(res['wall']))} (queued behind {args.workers * args.threads} threads), "
                    f"CPU {ms(res['cpu_total'] / n)} per request, HTTP {sorted(set(res['codes']))}"
                )
                trickle_port = int(trickle.base.split(":")[2].split("/")[0])
                settle(
                    pids,
                    lambda: (
                        f"; the workers' sockets to that server: {sockets_to(pids, trickle_port)}"
                    ),
                )
                single = one_at_a_time(url, hostile[0], args.repeat, pids)
                line("trickling server, one at a time", *_wcc(single), floor_cpu)
            print(f"\nidle threads per worker at the start: {idle}")
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                try:
                    server.wait(timeout=45)
                except subprocess.TimeoutExpired:  # workers stuck in reads never finish gracefully
                    for pid in workers(server.pid):
                        os.kill(pid, 9)
                    server.kill()
                    server.wait()
    return 0


def _wcc(res: dict[str, Any]) -> tuple[list[float], list[float], list[int]]:
    return res["wall"], res["cpu"], res["codes"]


if __name__ == "__main__":
    raise SystemExit(main())
