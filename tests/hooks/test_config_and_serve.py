"""Configuration layering, and ``igg4-cds serve`` really serving under gunicorn."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
import requests

from cds_service.config import build_config


def test_file_then_environment_then_code(tmp_path: Path) -> None:
    config_file = tmp_path / "site.yaml"
    config_file.write_text(
        "fhir_server_allowlist: [https://a.example/fhir]\nSHOW_INELIGIBLE_CARD: true\n"
        "FHIR_TIME_BUDGET_S: 1.5\n"
    )
    environ = {
        "IGG4_CDS_CONFIG": str(config_file),
        "IGG4_CDS_FHIR_TIME_BUDGET_S": "0.75",
        "IGG4_CDS_JWT_VERIFY": "false",
        "IGG4_CDS_NOT_A_KEY": "ignored",
        "IGG4_AS_OF": "2026-11-24",
    }
    config = build_config({"SHOW_INELIGIBLE_CARD": False}, environ=environ)
    assert config["FHIR_SERVER_ALLOWLIST"] == ["https://a.example/fhir"]
    assert config["FHIR_TIME_BUDGET_S"] == 0.75
    assert config["JWT_VERIFY"] is False
    assert config["SHOW_INELIGIBLE_CARD"] is False
    assert config["IGG4_AS_OF"] == date(2026, 11, 24)
    assert "NOT_A_KEY" not in config


@pytest.mark.parametrize(
    "overrides",
    [
        {"JWT_VERIFY": "yes"},
        {"FETCH_FAILURE_RESPONSE": "500"},
        {"IGG4_AS_OF": "24/11/2026"},
        {"FHIR_TIME_BUDGET_S": 0},
        {"JWT_ALGORITHMS": ["none"]},
    ],
)
def test_bad_configuration_fails_at_start(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build_config(overrides, environ={})


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_serve_runs_gunicorn(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config_file = tmp_path / "serve.yaml"
    config_file.write_text(
        f"DATABASE_URL: sqlite:///{tmp_path}/serve.db\nJWT_VERIFY: false\nIGG4_AS_OF: '2026-11-24'\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("IGG4_")}
    process = subprocess.Popen(
        [sys.executable, "-c", "from cds_service.cli import main; main()", "serve",
         "--port", str(port), "--config", str(config_file), "--workers", "2"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(f"{base}/healthz", timeout=2).ok:
                    break
            except requests.RequestException:
                time.sleep(0.1)
        services = requests.get(f"{base}/cds-services", timeout=5).json()["services"]
        assert services[0]["id"] == "igg4rd-trial-screening"
        bad = requests.post(f"{base}/cds-services/igg4rd-trial-screening", data=b"{", timeout=5)
        assert bad.status_code == 400
    finally:
        process.terminate()
        output = process.communicate(timeout=30)[0].decode()
    assert "JWT verification of CDS clients is OFF" in output
    assert (tmp_path / "serve.db").exists()
