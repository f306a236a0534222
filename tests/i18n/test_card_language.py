"""The card speaks the reader's language, over real HTTP: the request's Accept-Language, else the
site's DEFAULT_LOCALE. The assessment it carries is the same in every language."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from flask import Flask

from cds_service.eligibility import assess_resources
from cds_service.fhir_fixture_server import bundle_resources
from cds_service.hooks.cards import EXTENSION_KEY, CardContext, screening_card
from cds_service.i18n.message import TEMPLATES
from tests.hooks.conftest import FIXTURES, HOOK_PATH, LiveServer, hook_body
from tests.hooks.synthetic import full_prefetch

CANDIDATE = FIXTURES / "01-candidate-mgl-male.json"
HAN = re.compile(r"[\u4e00-\u9fff]")


def _body(path: Path) -> dict[str, Any]:
    resources = bundle_resources(orjson.loads(path.read_bytes()))
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    return hook_body(patient["id"], prefetch=full_prefetch(resources))


@pytest.fixture
def serve(make_app: Callable[..., Flask]) -> Iterator[Callable[..., str]]:
    servers: list[LiveServer] = []

    def start(**config: Any) -> str:
        server = LiveServer(make_app(**config)).__enter__()
        servers.append(server)
        return server.url + HOOK_PATH

    yield start
    for server in servers:
        server.__exit__(None, None, None)


def _card(
    url: str, headers: dict[str, str] | None = None
) -> tuple[dict[str, Any], requests.Response]:
    response = requests.post(url, json=_body(CANDIDATE), headers=headers or {}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    (card,) = response.json()["cards"]
    return card, response


def _chinese(card: dict[str, Any]) -> bool:
    return bool(HAN.search(card["summary"])) and "可能符合入组条件" in card["detail"]


def test_accept_language_chooses_the_card_language(serve: Callable[..., str]) -> None:
    url = serve()  # the site default: English
    zh, response = _card(url, {"Accept-Language": "zh-CN"})
    assert _chinese(zh), zh["summary"]
    assert zh["summary"].startswith("IgG4-RD试验NCT05974683（低剂量MMF）可能的入组候选者")
    assert "血清IgG4：基线2,600（2022年3月1日）" in zh["detail"]
    assert [link["label"] for link in zh["links"]][:1] == ["在招募工作列表中打开"]
    assert zh["suggestions"][0]["label"] == "转介至NCT05974683研究团队"
    assert response.headers["Content-Language"] == "zh-Hans"
    assert "Accept-Language" in response.headers["Vary"]
    en, response = _card(url, {"Accept-Language": "en"})
    assert not HAN.search(en["summary"] + en["detail"])
    assert en["summary"].startswith("Possible candidate for IgG4-RD trial NCT05974683")
    assert "Serum IgG4: baseline 2,600 (2022-03-01)" in en["detail"]
    assert response.headers["Content-Language"] == "en"
    # what programs read is the same in both languages
    assert zh["extension"][EXTENSION_KEY] == en["extension"][EXTENSION_KEY]
    reason = zh["extension"][EXTENSION_KEY]["criteria"][2]["reason"]
    assert reason.startswith("baseline IgG4 2600 mg/L (2022-03-01")


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        ("zh-Hans-CN", True),
        ("zh-Hans", True),
        ("zh", True),
        ("zh-TW", True),
        ("fr-FR, zh-CN;q=0.8, en;q=0.5", True),
        ("fr-FR, en;q=0.8, zh-CN;q=0.5", False),
        ("en-GB", False),
        ("zh-CN;q=0, en", False),
    ],
)
def test_tags_that_map_to_simplified_chinese(
    serve: Callable[..., str], header: str, chinese: bool
) -> None:
    card, _ = _card(serve(), {"Accept-Language": header})
    assert _chinese(card) is chinese


def test_the_site_default_applies_without_the_header(serve: Callable[..., str]) -> None:
    card, response = _card(serve(DEFAULT_LOCALE="zh-CN"))
    assert _chinese(card) and response.headers["Content-Language"] == "zh-Hans"
    card, _ = _card(serve(DEFAULT_LOCALE="zh_Hans"), {"Accept-Language": "de"})  # none we speak
    assert _chinese(card)
    card, _ = _card(serve(DEFAULT_LOCALE="zh_Hans"), {"Accept-Language": "en-US"})
    assert not _chinese(card)
    card, _ = _card(serve())  # DEFAULT_LOCALE's own default
    assert card["summary"].startswith("Possible candidate")


def test_default_locale_is_checked_at_start_up(make_app: Callable[..., Flask]) -> None:
    with pytest.raises(ValueError, match="DEFAULT_LOCALE must be one of en, zh_Hans"):
        make_app(DEFAULT_LOCALE="fr")


def _literal_parts(template: str) -> list[str]:
    """The words of an English template between its named values (a few words at least: one word
    could be the record's own, e.g. a diagnosis named in English)."""
    parts = (p.strip(" -:;,.()") for p in re.split(r"\{\w+\}", template.replace("**", "")))
    return [p for p in parts if len(p) >= 12 and " " in p]


CASES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


@pytest.mark.parametrize("path", CASES, ids=[p.stem[:2] for p in CASES])
def test_no_english_words_on_a_chinese_card(path: Path) -> None:
    """Every fixture's card in Chinese: no sentence of the card's or the engine's English templates
    is left (data from the record, codes and units may stay as they are)."""
    resources = bundle_resources(orjson.loads(path.read_bytes()))
    (patient,) = [r for r in resources if r["resourceType"] == "Patient"]
    assessment = assess_resources(resources, as_of=date(2026, 11, 24)).to_dict()
    context = CardContext(
        card_uuid="c",
        suggestion_uuid="s",
        patient_id=patient["id"],
        fhir_server="https://ehr.example.org/fhir",
        user_id=None,
        worklist_base_url="https://cds.example.org",
        smart_launch_url="https://cds.example.org/smart/launch",
        trial_url="https://clinicaltrials.gov/study/NCT05974683",
        study_team=None,
        now=datetime(2026, 11, 24, tzinfo=UTC),
        unread={"Procedure": "timeout"},
        locale="zh_Hans",
    )
    card = screening_card(assessment, context)
    shown = " ".join(
        [card["summary"], card["detail"], card["source"]["label"]]
        + [link["label"] for link in card["links"]]
        + [r["display"] for r in card["overrideReasons"]]
    )
    english = {part for t in TEMPLATES.values() for part in _literal_parts(t.singular)}
    # whole words only: the record's "Human immunodeficiency virus" holds "an immunodeficiency"
    left = sorted(p for p in english if re.search(rf"(?<!\w){re.escape(p)}(?!\w)", shown))
    assert left == [], left
