"""Starting the service (issue 10, the Dockerfile): without SECRET_KEY the key is kept in the
instance folder (``INSTANCE_PATH``, the container's volume); when it cannot be kept, or the
configuration is wrong, the start stops with one line that says what to set."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from cds_service.app import create_app


def _config(tmp_path: Path, **extra: object) -> dict[str, object]:
    return {
        "DATABASE_URL": f"sqlite:///{tmp_path}/start.db",
        "JWT_VERIFY": False,
        "TESTING": True,
        **extra,
    }


def test_without_secret_key_one_is_kept_in_the_instance_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IGG4_CDS_SECRET_KEY", raising=False)
    home = tmp_path / "data"
    app = create_app(_config(tmp_path, INSTANCE_PATH=str(home)))
    key = home / "secret_key"
    assert app.instance_path == str(home)
    assert key.read_text().strip() == app.secret_key
    assert (key.stat().st_mode & 0o777) == 0o600
    assert create_app(_config(tmp_path, INSTANCE_PATH=str(home))).secret_key == app.secret_key


def test_a_key_that_cannot_be_kept_is_a_clear_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("IGG4_CDS_SECRET_KEY", raising=False)
    blocker = tmp_path / "a-file"
    blocker.write_text("")  # a folder below a file cannot be made, even by root
    with pytest.raises(ValueError, match="IGG4_CDS_SECRET_KEY"):
        create_app(_config(tmp_path, INSTANCE_PATH=str(blocker / "instance")))
    with pytest.raises(ValueError, match="INSTANCE_PATH must be an absolute path"):
        create_app(_config(tmp_path, INSTANCE_PATH="relative/dir"))


def test_the_wsgi_entry_point_stops_with_one_line(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("IGG4_CDS_") and k != "IGG4_AS_OF"
    }
    env["IGG4_CDS_DATABASE_URL"] = f"sqlite:///{tmp_path}/wsgi.db"
    done = subprocess.run(
        [sys.executable, "-c", "import cds_service.wsgi"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 3  # gunicorn's "worker failed to boot": it halts
    assert "configuration error: JWT_VERIFY is on but no audience" in done.stderr
    assert "Traceback" not in done.stderr


def _dockerfile_command() -> list[str]:
    """The image's CMD, as the Dockerfile writes it (exec form, JSON)."""
    text = (Path(__file__).parents[2] / "Dockerfile").read_text().replace("\\\n", "")
    (line,) = [x for x in text.splitlines() if x.startswith("CMD ")]
    command: list[str] = json.loads(line[4:])
    return command


def test_the_images_start_command_serves(tmp_path: Path) -> None:
    """The Dockerfile's CMD, run as the image runs it (its environment, a free port): the service
    answers /healthz and the CDS Hooks discovery. (No Docker daemon is needed for this.)"""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command = [str(port) if part == "8080" else part for part in _dockerfile_command()]
    command = ["127.0.0.1" if part == "0.0.0.0" else part for part in command]
    assert command[0] == "igg4-cds"
    command[0] = str(Path(sys.executable).with_name("igg4-cds"))
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("IGG4_CDS_") and k != "IGG4_AS_OF"
    }
    env |= {
        "IGG4_CDS_DATABASE_URL": f"sqlite:///{tmp_path}/igg4-cds.db",
        "IGG4_CDS_INSTANCE_PATH": str(tmp_path),
        "IGG4_CDS_PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
    }
    server = subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.communicate()[0]
                assert time.monotonic() < deadline, "the service did not start in 60 s"
                time.sleep(0.2)
        assert health.status_code == 200
        discovery = requests.get(f"http://127.0.0.1:{port}/cds-services", timeout=5).json()
        assert [s["hook"] for s in discovery["services"]] == ["patient-view"]
        assert (tmp_path / "secret_key").exists()  # kept on the volume
    finally:
        server.terminate()
        out = server.communicate(timeout=30)[0]
    assert "Traceback" not in out
