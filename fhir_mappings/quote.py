"""Data text as it is quoted in reasons and data issues: one line, bounded.

A record's own words (a code, a display, a unit, a status, a study's title) are quoted so that the
reader sees what was sent, but never at any length: a hostile or broken record could otherwise put
a megabyte into every assessment, card and worklist row that cites it. Resource references
(``Observation/abc``) are identities, not quotations, and are not cut here.
"""

from __future__ import annotations

import re

TEXT_MAX = 80  # a display, a name, a title
CODE_MAX = 40  # a code (LOINC, SNOMED CT and ICD-10 codes are far shorter)
SYSTEM_MAX = 100  # a code system URI
_BREAKS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")  # control characters, line breaks


def clip(text: str, limit: int = TEXT_MAX) -> str:
    """``text`` on one line and at most ``limit`` characters, ending in "…" when it was cut."""
    if len(text) <= limit and text.isprintable():
        return text  # the common case, without a regular expression
    one_line = _BREAKS.sub(" ", text[: limit * 4])
    if len(one_line) <= limit and len(text) <= limit * 4:
        return one_line
    return one_line[: limit - 1].rstrip() + "…"
