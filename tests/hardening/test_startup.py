"""Starting the service (issue 10, the Dockerfile): without SECRET_KEY the key is kept in the
instance folder (``INSTANCE_PATH``, the container's volume); when it cannot be kept, or the
configuration is wrong, the start stops with one line that says what to set."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
