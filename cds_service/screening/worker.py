"""What the engine's worker processes were started with. Set by the pool's initializer, which must
stay light: on the bulk path the workers scan the export's files before they assess anyone, and the
engine is imported only when the first patient is (``runner.assess_batch``)."""

from __future__ import annotations

from datetime import date

params_path: str | None = None
as_of: date | None = None
started = False


def init(path: str | None, day: date | None) -> None:
    global params_path, as_of, started
    params_path, as_of, started = path, day, True
