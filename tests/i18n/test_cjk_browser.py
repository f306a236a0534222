"""Chinese pages in Chromium: the worklist (list, patient page with its chart) and the SMART app,
in a browser whose language is zh-CN. Each page is in Chinese, passes axe-core, and its Chinese
text is drawn with a CJK font, never as boxes ("tofu"): Chromium's own report of the platform font
it used for the text (DevTools CSS.getPlatformFontsForNode) names a CJK font, and on a canvas in
the element's font different characters give different glyphs (a missing glyph is the same box
for every character). Screenshots go to test-artifacts/."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from cds_service.smart_testing.demo import launch_url
from tests.a11y import DESKTOP, PHONE, assert_accessible, assert_fits, new_context
from tests.worklist.test_browser import ARTIFACTS, Stack, stack  # noqa: F401 (the demo stack)

pytestmark = pytest.mark.browser
CJK_FONT = re.compile(
    r"CJK|Source Han|Hei|Song|Ming|Kai|PingFang|YaHei|WenQuanYi|Droid Sans Fallback", re.I
)


def _cjk_fonts_installed() -> bool:
    if shutil.which("fc-list") is None:
        return False
    found = subprocess.run(["fc-list", ":lang=zh", "family"], capture_output=True, text=True)
    return bool(found.stdout.strip())


@pytest.fixture
def zh_page(browser: Any) -> Iterator[Any]:
    if not _cjk_fonts_installed():
        pytest.skip(
            "no CJK font installed (apt-get install -y fonts-noto-cjk; scripts/test.sh does)"
        )
    context = new_context(browser, DESKTOP, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(
        path=str(ARTIFACTS / f"zh-{name}-{page.viewport_size['width']}.png"), full_page=True
    )


def platform_fonts(page: Any, selector: str) -> list[str]:
    """The fonts Chromium drew the element's own text with (DevTools protocol)."""
    cdp = page.context.new_cdp_session(page)
    try:
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        root = cdp.send("DOM.getDocument", {"depth": -1})["root"]["nodeId"]
        node = cdp.send("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        assert node, f"no {selector}"
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        return [f["familyName"] for f in fonts]
    finally:
        cdp.detach()


DISTINCT_GLYPHS = """(selector) => {
    const el = document.querySelector(selector);
    const style = getComputedStyle(el);
    const han = [...new Set([...el.textContent].filter(c => /[\\u4e00-\\u9fff]/.test(c)))].slice(0, 6);
    const draw = (ch) => {
        const canvas = document.createElement('canvas');
        canvas.width = 64; canvas.height = 64;
        const g = canvas.getContext('2d');
        g.font = `40px ${style.fontFamily}`;
        g.fillText(ch, 4, 48);
        return canvas.toDataURL();
    };
    const tofu = draw('\\ue000');  // a private-use character: no font has it, a box is drawn
    const glyphs = han.map(draw);
    return {han: han.join(''), distinct: new Set(glyphs).size, boxes: glyphs.filter(g => g === tofu).length};
}"""


def assert_chinese_drawn(page: Any, selector: str) -> None:
    fonts = platform_fonts(page, selector)
    assert any(CJK_FONT.search(f) for f in fonts), f"{selector}: drawn with {fonts}"
    found = page.evaluate(DISTINCT_GLYPHS, selector)
    assert len(found["han"]) >= 2, found
    assert found["distinct"] == len(found["han"]) and found["boxes"] == 0, found


def _login(page: Any, stack: Stack) -> None:  # noqa: F811
    username, password = stack.logins["recruiter"]
    page.goto(f"{stack.base}/worklist/login")
    assert page.locator("h1").inner_text() == "登录"
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("form button[type=submit]")
    page.wait_for_selector("table.worklist")


def test_worklist_in_chinese_is_drawn_with_a_cjk_font(zh_page: Any, stack: Stack) -> None:  # noqa: F811
    page = zh_page
    _login(page, stack)
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    assert "待联系患者" in page.locator("h1").inner_text()
    assert_chinese_drawn(page, "main h1")
    assert_accessible(page, "the list in Chinese")
    _shot(page, "list")
    page.goto(f"{stack.base}/worklist/patients/{stack.row_id('fx01')}")
    page.wait_for_selector("svg.igg4-chart.wide")
    head = page.locator(".patient-head").inner_text()
    assert "候选" in head and "负责人" in head
    assert "基线IgG4 2,600 mg/L（2022年3月1日" in page.locator("table.criteria").inner_text()
    assert_chinese_drawn(page, "#missing-title")
    # the chart's own text: its title, a mark's label, the treatment start
    assert (
        page.locator("svg.igg4-chart.wide title").first.text_content()
        == "血清IgG4随时间变化（mg/L）"
    )
    assert_chinese_drawn(page, "svg.igg4-chart.wide g.treatment-start text")
    assert_chinese_drawn(page, "svg.igg4-chart.wide g.mark-baseline text")
    assert_accessible(page, "the patient page in Chinese")
    _shot(page, "patient")


def test_smart_app_in_chinese_is_drawn_with_a_cjk_font(zh_page: Any, stack: Stack) -> None:  # noqa: F811
    page = zh_page
    page.goto(launch_url(f"{stack.base}/smart/launch", stack.ehr, "fx01", iss=stack.fhir))
    page.click("#approve")
    page.wait_for_selector("table.criteria")
    assert page.evaluate("document.documentElement.lang") == "zh-Hans"
    verdict = page.locator(".verdict-line").inner_text()
    assert "可能符合入组条件" in verdict and "试验NCT05974683" in verdict
    assert page.locator("#refer").inner_text() == "转介至研究团队"
    assert_chinese_drawn(page, ".verdict-line strong")
    assert_chinese_drawn(page, "svg.igg4-chart.wide g.mark-current text")
    assert_accessible(page, "the SMART app in Chinese")
    _shot(page, "smart")
    page.set_viewport_size(PHONE)
    assert_fits(page, "the SMART app in Chinese at 390 px")
    _shot(page, "smart")
