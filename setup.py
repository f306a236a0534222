"""Build step of igg4-cds: the gettext catalogs are compiled when the package is built.

Everything else about the package is in pyproject.toml. ``build_py`` compiles each
``cds_service/translations/<locale>/LC_MESSAGES/messages.po`` into ``messages.mo`` with Babel: into
the wheel's build tree for a wheel, beside the ``.po`` for an editable install (``pip install -e``,
as ``scripts/setup.sh`` does). The ``.mo`` files are build output and are not kept in git.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

TRANSLATIONS = Path("cds_service") / "translations"


class BuildWithCatalogs(build_py):
    """build_py, then the compiled catalogs (fuzzy entries are left out, as pybabel compile does)."""

    def run(self) -> None:
        super().run()
        self.compile_catalogs()

    def compile_catalogs(self) -> None:
        from babel.messages.mofile import write_mo
        from babel.messages.pofile import read_po

        root = Path(__file__).resolve().parent
        source = root / TRANSLATIONS
        target = source if self.editable_mode else Path(self.build_lib) / TRANSLATIONS
        for po in sorted(source.glob("*/LC_MESSAGES/*.po")):
            locale = po.parent.parent.name
            with po.open("rb") as fp:
                catalog = read_po(fp, locale=locale)
            mo = target / po.relative_to(source).with_suffix(".mo")
            mo.parent.mkdir(parents=True, exist_ok=True)
            with mo.open("wb") as fp:
                write_mo(fp, catalog, use_fuzzy=False)


setup(cmdclass={"build_py": BuildWithCatalogs})
