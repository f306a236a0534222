"""The gettext catalogs: complete in Chinese, in step with the sources, compiled as built.

- re-extracting the sources with Babel (``scripts/translations.sh extract``) gives exactly the
  messages of ``messages.pot`` and of each locale's ``messages.po`` (none added, none left over);
- every message has a Simplified Chinese translation, not fuzzy, with the same named values;
- every message template the code registers (``N_``/``NN_``) is in the catalog;
- the compiled ``.mo`` next to each ``.po`` (built by ``pip install``) says what the ``.po`` says.
"""

from __future__ import annotations

import gettext
import importlib
import os
import pkgutil
import re
import subprocess
from pathlib import Path

import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

import cds_service
from cds_service.i18n.message import TEMPLATES

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "cds_service" / "translations"
LOCALES = ("en", "zh_Hans")
BRACE = re.compile(r"\{(\w+)\}")
PERCENT = re.compile(r"%\((\w+)\)[sdr]")

Key = tuple[str | None, str]


def load(path: Path, locale: str | None = None) -> Catalog:
    with path.open("rb") as fp:
        return read_po(fp, locale=locale)


def keys(catalog: Catalog) -> set[Key]:
    out: set[Key] = set()
    for m in catalog:
        if m.id:
            out.add((m.context, m.id if isinstance(m.id, str) else m.id[0]))
    return out


def problems(catalog: Catalog) -> list[str]:
    """What makes a catalog incomplete: a message without a translation, a fuzzy one, or one whose
    named values differ from the English (a value lost or invented)."""
    found = []
    for m in catalog:
        if not m.id:
            continue
        ids = [m.id] if isinstance(m.id, str) else list(m.id)
        strings = [m.string] if isinstance(m.string, str) else list(m.string)
        where = f"{m.context or ''}|{ids[0]!r}"
        if not all(s.strip() for s in strings):
            found.append(f"untranslated: {where}")
            continue
        if m.fuzzy:
            found.append(f"fuzzy: {where}")
        for pattern in (BRACE, PERCENT):
            wanted = set(pattern.findall(ids[0]))
            for s in strings:
                if set(pattern.findall(s)) != wanted:
                    found.append(
                        f"named values {sorted(set(pattern.findall(s)))} != {sorted(wanted)}: {where}"
                    )
    return found


@pytest.fixture(scope="module")
def extracted(tmp_path_factory: pytest.TempPathFactory) -> Catalog:
    """The sources, extracted now with the project's own command."""
    pot = tmp_path_factory.mktemp("pot") / "messages.pot"
    subprocess.run(
        ["bash", str(ROOT / "scripts" / "translations.sh"), "extract"],
        cwd=ROOT,
        env={**os.environ, "POT": str(pot)},
        check=True,
        capture_output=True,
    )
    return load(pot)


@pytest.mark.parametrize(
    "name", ["messages.pot", *(f"{loc}/LC_MESSAGES/messages.po" for loc in LOCALES)]
)
def test_catalog_is_in_step_with_the_sources(extracted: Catalog, name: str) -> None:
    catalog = load(TRANSLATIONS / name)
    added = sorted(keys(extracted) - keys(catalog), key=str)
    stale = sorted(keys(catalog) - keys(extracted), key=str)
    assert not added, (
        f"{name} lacks messages of the sources (run scripts/translations.sh extract, update): {added[:10]}"
    )
    assert not stale, (
        f"{name} holds messages the sources no longer have (run extract, update): {stale[:10]}"
    )


def test_every_message_has_a_chinese_translation() -> None:
    catalog = load(TRANSLATIONS / "zh_Hans" / "LC_MESSAGES" / "messages.po", "zh_Hans")
    assert len(catalog) > 500
    assert problems(catalog) == []


def test_the_check_catches_missing_fuzzy_and_broken_translations() -> None:
    catalog = Catalog(locale="zh_Hans")
    catalog.add("Patients", "患者")
    catalog.add("Notes", "")
    catalog.add("Age {min}-{max} years", "年龄{min}岁", context="title.I2")
    catalog.add("as of %(day)s", "评估日期", flags=["fuzzy"])
    assert problems(catalog) == [
        "untranslated: |'Notes'",
        "named values ['min'] != ['max', 'min']: title.I2|'Age {min}-{max} years'",
        "fuzzy: |'as of %(day)s'",
        "named values [] != ['day']: |'as of %(day)s'",
    ]


def _import_everything() -> None:
    """Every module that registers message templates (N_/NN_ in ``define``)."""
    for info in pkgutil.walk_packages(cds_service.__path__, "cds_service."):
        path = Path(cds_service.__path__[0]).parent / (info.name.replace(".", "/") + ".py")
        if path.exists() and "define(" in path.read_text(encoding="utf-8"):
            importlib.import_module(info.name)


def test_every_registered_template_is_in_the_catalog() -> None:
    _import_everything()
    catalog = keys(load(TRANSLATIONS / "messages.pot"))
    missing = [
        (key, t.singular) for key, t in TEMPLATES.items() if (key, t.singular) not in catalog
    ]
    assert missing == []


@pytest.mark.parametrize("locale", LOCALES)
def test_compiled_catalog_says_what_the_po_says(locale: str) -> None:
    po = load(TRANSLATIONS / locale / "LC_MESSAGES" / "messages.po", locale)
    mo_path = TRANSLATIONS / locale / "LC_MESSAGES" / "messages.mo"
    assert mo_path.exists(), "not compiled: pip install (scripts/setup.sh) compiles the catalogs"
    with mo_path.open("rb") as fp:
        mo = gettext.GNUTranslations(fp)
    for m in po:
        if not m.id or m.fuzzy:
            continue
        if isinstance(m.id, str):
            expected = m.string or m.id
            got = mo.pgettext(m.context, m.id) if m.context else mo.gettext(m.id)
        else:
            expected = m.string[0] or m.id[0]
            got = (
                mo.npgettext(m.context, m.id[0], m.id[1], 1)
                if m.context
                else mo.ngettext(m.id[0], m.id[1], 1)
            )
        assert got == expected, (
            f"{locale}: {m.context}|{m.id!r} is stale in messages.mo (recompile)"
        )
