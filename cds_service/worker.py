"""What a server process does once its application is built, before it takes traffic.

- The hook's writer starts (and replays outboxes left by processes that died).
- The dummy password hash of the worklist's login is computed (so the first login costs what
  later ones do).
- The garbage collector is told that everything built so far lives for good (``gc.freeze()``:
  modules, value sets, unit tables, the application), and collects young objects less often.
  A hook call allocates tens of thousands of short-lived containers (the parsed prefetch);
  without this, every few calls a full collection walks the whole permanent heap (~100 ms on
  the 2-core development machine, the p95/p99 of the hook) and young collections run dozens of
  times per call. ``python benchmarks/hook_load.py`` shows the effect.
"""

from __future__ import annotations

import gc
import logging

from flask import Flask

log = logging.getLogger("igg4_cds")

# Young-generation threshold: a hook call's garbage is collected about once per call, not
# dozens of times; older generations keep CPython's defaults.
GC_THRESHOLD_0 = 20_000


def ready(app: Flask) -> None:
    state = app.extensions.get("igg4_hooks")
    if state is not None:
        state.writes.start()
    if "igg4_worklist_settings" in app.extensions:
        from cds_service.worklist import accounts

        accounts.warm_up()
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_THRESHOLD_0, gen1, gen2)
