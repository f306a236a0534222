"""A one-line progress bar on stderr: patients done, rate, ETA. Counts only, never patient data."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


def _clock(seconds: float) -> str:
    s = max(0, int(seconds))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Progress:
    def __init__(
        self,
        total: int,
        *,
        enabled: bool,
        stream: TextIO | None = None,
        every: float = 0.25,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.total = total
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every = every
        self.clock = clock
        self.start = clock()
        self.done = 0
        self._last = -1.0

    def line(self) -> str:
        elapsed = max(self.clock() - self.start, 1e-9)
        rate = self.done / elapsed
        width = 30
        share = self.done / self.total if self.total else 1.0
        bar = "#" * int(width * share) + "-" * (width - int(width * share))
        eta = _clock((self.total - self.done) / rate) if rate > 0 and self.total else "?"
        return f"[{bar}] {self.done}/{self.total} patients {share:6.1%}  {rate:,.1f}/s  ETA {eta}"

    def advance(self, n: int) -> None:
        self.done += n
        if not self.enabled:
            return
        now = self.clock()
        if now - self._last >= self.every or self.done >= self.total:
            self._last = now
            self.stream.write("\r" + self.line())
            self.stream.flush()

    def finish(self) -> None:
        if self.enabled:
            self.stream.write("\r" + self.line() + "\n")
            self.stream.flush()
