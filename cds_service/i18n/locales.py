"""The languages igg4-cds speaks, and how a request's or a user's language tag maps onto them.

Two locales: ``en`` (English) and ``zh_Hans`` (Simplified Chinese). Every tag whose language is
Chinese maps to ``zh_Hans``: ``zh-CN``, ``zh-Hans``, ``zh-Hans-CN``, ``zh-SG``, plain ``zh``, and
also ``zh-TW``/``zh-Hant``/``zh-HK`` (a reader of Traditional Chinese reads Simplified far more
easily than English, and there is no Traditional catalog); every ``en-*`` tag maps to ``en``. Tags
are matched case-insensitively with ``-`` or ``_`` (``zh_CN.UTF-8`` from ``LANG`` too).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping

SUPPORTED: tuple[str, ...] = ("en", "zh_Hans")
DEFAULT = "en"
# What each locale is called in its own language (the language switcher)
NAMES: dict[str, str] = {"en": "English", "zh_Hans": "简体中文"}
# The HTML lang attribute of a page in each locale (BCP 47)
HTML_LANG: dict[str, str] = {"en": "en", "zh_Hans": "zh-Hans"}

_BY_LANGUAGE = {"en": "en", "zh": "zh_Hans"}
_TAG = re.compile(r"^[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*$")


def match(tag: str | None) -> str | None:
    """The supported locale of a language tag, or None (``zh-CN`` → ``zh_Hans``; ``fr`` → None)."""
    if not tag:
        return None
    text = tag.strip().split(".", 1)[0].split("@", 1)[0]  # POSIX: zh_CN.UTF-8@euro
    if text in SUPPORTED:
        return text
    if not _TAG.match(text):
        return None
    return _BY_LANGUAGE.get(re.split(r"[-_]", text, maxsplit=1)[0].lower())


def negotiate(tags: Iterable[str]) -> str | None:
    """The first supported locale among ``tags`` (in the reader's order of preference)."""
    for tag in tags:
        found = match(tag)
        if found is not None:
            return found
    return None


def parse_accept_language(header: str | None) -> list[str]:
    """The tags of an ``Accept-Language`` header, best first (q=0 dropped, ``*`` ignored)."""
    ranked: list[tuple[float, int, str]] = []
    for index, part in enumerate((header or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(ranked)]


def check_default(value: object) -> str:
    """``DEFAULT_LOCALE`` as a supported locale; ValueError names the choices."""
    found = match(value) if isinstance(value, str) else None
    if found is None:
        raise ValueError(
            f"DEFAULT_LOCALE must be one of {', '.join(SUPPORTED)} (or a tag such as zh-CN), "
            f"not {value!r}"
        )
    return found


def cli_locale(option: str | None, environ: Mapping[str, str]) -> str:
    """The command line's locale: ``--lang``, else the user's environment (``LANGUAGE``,
    ``LC_ALL``, ``LC_MESSAGES``, ``LANG``, as gettext reads them; ``C``/``POSIX`` name no language),
    else ``IGG4_CDS_DEFAULT_LOCALE``, else English."""
    if option:
        found = match(option)
        if found is None:
            raise ValueError(
                f"--lang must be one of {', '.join(SUPPORTED)} (or a tag such as zh-CN)"
            )
        return found
    for name in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "LANG"):
        for tag in (environ.get(name) or "").split(":"):
            found = match(tag)
            if found is not None:
                return found
    return match(environ.get("IGG4_CDS_DEFAULT_LOCALE")) or DEFAULT
