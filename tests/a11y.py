"""Accessibility and layout checks for the browser tests: axe-core (vendored, see
``tests/vendor/axe-core/README.md``) and "no horizontal scroll" at a phone's width.

axe is injected as a script tag, which the pages' Content-Security-Policy forbids: use a browser
context made with ``bypass_csp=True`` for the pages you check (``new_context`` below).
"""

from __future__ import annotations

import base64
import hashlib
from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
AXE_SRI = "KTSJmUUM3yhJqOcLeRL8LahahJ2jnA0NU5T1HUqe2Vw="  # axe-core 4.14.1 (sri-history.json)
BLOCKING = ("critical", "serious")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 900}


@cache
def axe_source() -> str:
    data = AXE.read_bytes()
    digest = base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert digest == AXE_SRI, "tests/vendor/axe-core/axe.min.js is not axe-core 4.14.1"
    return data.decode("utf-8")


def new_context(browser: Any, viewport: dict[str, int] | None = None, **extra: Any) -> Any:
    """A browser context for checked pages (CSP bypassed so that axe can be injected)."""
    return browser.new_context(viewport=viewport or DESKTOP, bypass_csp=True, **extra)


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's violations of impact critical or serious on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=axe_source())
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"][:5]],
        }
        for v in result["violations"]
        if v.get("impact") in BLOCKING
    ]


def assert_accessible(page: Any, where: str) -> None:
    found = axe_violations(page)
    assert found == [], f"axe-core on {where}: {found}"


def horizontal_overflow(page: Any) -> int:
    """How many CSS pixels the document is wider than the viewport (0: no horizontal scroll)."""
    width: int = page.evaluate(
        "() => Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
        " - window.innerWidth"
    )
    return max(0, width)


def assert_fits(page: Any, where: str) -> None:
    over = horizontal_overflow(page)
    assert over == 0, f"{where} is {over} px wider than the {page.viewport_size['width']} px screen"
