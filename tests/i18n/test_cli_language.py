"""``igg4-cds assess`` in the user's language: --lang, else LANG (LANGUAGE, LC_ALL, LC_MESSAGES),
else IGG4_CDS_DEFAULT_LOCALE, else English. The JSON is the same in every language."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from pathlib import Path

import pytest
from click.testing import CliRunner

from cds_service.cli import cli
from cds_service.i18n.locales import cli_locale, match, negotiate, parse_accept_language

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = str(ROOT / "fixtures" / "patients" / "01-candidate-mgl-male.json")
CLEAN = {
    "LANGUAGE": "",
    "LC_ALL": "",
    "LC_MESSAGES": "",
    "LANG": "C.UTF-8",
    "IGG4_CDS_DEFAULT_LOCALE": "",
}


def run(*args: str, **env: str) -> str:
    result = CliRunner().invoke(
        cli, ["assess", "--as-of", "2026-11-24", *args, BUNDLE], env={**CLEAN, **env}
    )
    assert result.exit_code == 0, result.output
    return result.output


def test_lang_option_and_environment() -> None:
    assert run().startswith("Patient/fx01  as of 2026-11-24")
    chinese = run("--lang", "zh-CN")
    assert (
        chinese.startswith("Patient/fx01  评估日期 2026年11月24日")
        and "总体结论：可能入组（候选）" in chinese
    )
    assert "I3   基线血清IgG4 > 1,400 mg/L" in chinese
    assert run(LANG="zh_CN.UTF-8") == chinese
    assert run(LANGUAGE="zh_CN:en", LANG="en_US.UTF-8") == chinese
    assert run(IGG4_CDS_DEFAULT_LOCALE="zh_Hans") == chinese  # LANG=C names no language
    assert run(LANG="en_US.UTF-8", IGG4_CDS_DEFAULT_LOCALE="zh_Hans").startswith(
        "Patient/fx01  as of"
    )
    assert run("--lang", "en", LANG="zh_CN.UTF-8").startswith("Patient/fx01  as of")


def test_json_is_the_same_in_every_language() -> None:
    assert run("--json", "--lang", "zh_Hans") == run("--json", "--lang", "en")


def test_unknown_lang_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["assess", "--lang", "fr", BUNDLE], env=CLEAN)
    assert result.exit_code == 2 and "--lang must be one of en, zh_Hans" in result.output


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def test_chinese_table_columns_line_up() -> None:
    """Statuses start in one column whatever the width of the Chinese titles before them."""
    rows = [
        line
        for line in run("--lang", "zh").splitlines()
        if line[:1] in ("I", "E") and line[1:2].isdigit()
    ]
    assert len(rows) == 18
    starts = set()
    for line in rows:
        for word in ("不符合", "符合", "未知"):
            at = line.find(f"  {word} ")
            if at >= 0:
                starts.add(_columns(line[: at + 2]))
                break
    assert len(starts) == 1, starts


@pytest.mark.parametrize(
    ("tag", "locale"),
    [
        ("zh-CN", "zh_Hans"),
        ("zh-Hans", "zh_Hans"),
        ("zh-Hans-CN", "zh_Hans"),
        ("zh", "zh_Hans"),
        ("ZH_cn", "zh_Hans"),
        ("zh-TW", "zh_Hans"),
        ("zh_CN.UTF-8", "zh_Hans"),
        ("en-GB", "en"),
        ("en", "en"),
        ("fr", None),
        ("C", None),
        ("", None),
        ("zh-<script>", None),
    ],
)
def test_tag_mapping(tag: str, locale: str | None) -> None:
    assert match(tag) == locale


def test_accept_language_order() -> None:
    assert parse_accept_language("fr;q=0.9, zh-CN;q=0.8, en;q=0.95") == ["en", "fr", "zh-CN"]
    assert negotiate(parse_accept_language("de, *;q=0.5, zh;q=0.1")) == "zh_Hans"
    assert negotiate(parse_accept_language("zh;q=0, de")) is None
    assert cli_locale(None, {"LANG": "C.UTF-8"}) == "en"


def test_assess_loads_no_web_framework() -> None:
    """The CLI's assess path stays light (start-up time): no Flask, no Flask-Babel."""
    code = (
        "import sys; from cds_service.cli import cli\n"
        f"cli(['assess', '--lang', 'zh', '--as-of', '2026-11-24', {BUNDLE!r}], standalone_mode=False)\n"
        "print('LOADED', sorted(m for m in ('flask', 'flask_babel', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "LOADED []" in out


def test_screen_summary_in_chinese() -> None:
    from cds_service.i18n.render import renderer
    from cds_service.screening.model import PatientResult
    from cds_service.screening.summary import Summary

    assessment = run("--json")
    summary = Summary()
    summary.add(
        [
            PatientResult("Patient/fx01", json.loads(assessment)),
            PatientResult("x", None, "no Patient resource"),
        ]
    )
    english = summary.render()
    assert "Assessed 1: candidate 1, needs-review 0, ineligible 0; not assessed 1" in english
    assert (
        "I3                 0       0          1        0  Baseline serum IgG4 > 1400 mg/L"
        in english
    )
    chinese = summary.render(tr=renderer("zh_Hans"))
    assert (
        "已评估1名：候选1名、待审核0名、不符合0名；未评估1名（no Patient resource: 1）" in chinese
    )
    assert "基线血清IgG4 > 1,400 mg/L" in chinese
