"""Prometheus metrics at /metrics behind METRICS_ENABLED; counted across gunicorn workers."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import requests
from flask import Flask

from .conftest import HOOK_PATH, hook_body
from .synthetic import full_prefetch, long_record

BODY = hook_body("m1", prefetch=full_prefetch(long_record("m1", observations=10)))


def _value(text: str, name: str, labels: str = "") -> float:
    pattern = rf"^{re.escape(name)}{re.escape(labels)} ([0-9.e+]+)$"
    found = re.search(pattern, text, re.MULTILINE)
    assert found, f"{name}{labels} not in the metrics"
    return float(found.group(1))


def test_metrics_are_off_by_default(make_app: Callable[..., Flask]) -> None:
    assert make_app().test_client().get("/metrics").status_code == 404


def test_hook_and_feedback_are_counted(make_app: Callable[..., Flask]) -> None:
    client = make_app(METRICS_ENABLED=True).test_client()
    before = client.get("/metrics").get_data(as_text=True)
    (card,) = client.post(HOOK_PATH, json=BODY).json["cards"]
    assert client.post(HOOK_PATH, data=b"{").status_code == 400
    feedback = {
        "card": card["uuid"],
        "outcome": "accepted",
        "outcomeTimestamp": "2026-11-24T10:00:00Z",
    }
    assert client.post(f"{HOOK_PATH}/feedback", json={"feedback": [feedback]}).status_code == 200
    after = client.get("/metrics")
    assert after.mimetype.startswith("text/plain")
    text = after.get_data(as_text=True)

    def grew(name: str, labels: str) -> float:
        old = _value(before, name, labels) if f"{name}{labels}" in before else 0.0
        return _value(text, name, labels) - old

    assert grew("igg4_hook_seconds_count", '{outcome="card"}') == 1
    assert grew("igg4_hook_seconds_count", '{outcome="bad-request"}') == 1
    assert grew("igg4_cards_issued_total", '{status="candidate"}') == 1
    assert grew("igg4_feedback_total", '{outcome="accepted"}') == 1
    assert "m1" not in text  # counts only: no patient anywhere


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_metrics_add_up_every_gunicorn_worker(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "serve.yaml"
    config.write_text(
        f"DATABASE_URL: sqlite:///{tmp_path}/serve.db\nJWT_VERIFY: false\n"
        "IGG4_AS_OF: '2026-11-24'\nMETRICS_ENABLED: true\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("IGG4_", "PROMETHEUS_"))}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cds_service.cli import main; main()", "serve",
         "--port", str(port), "--config", str(config), "--workers", "2", "--threads", "1"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        calls = 12
        with requests.Session() as http:  # new connections: both workers get some
            for _ in range(calls):
                r = requests.post(base + HOOK_PATH, json=BODY, timeout=30)
                assert r.status_code == 200 and r.json()["cards"]
            for _ in range(4):  # whichever worker answers, the sum is the same
                text = http.get(f"{base}/metrics", timeout=10).text
                assert _value(text, "igg4_hook_seconds_count", '{outcome="card"}') == calls
    finally:
        process.terminate()
        process.wait(timeout=30)
