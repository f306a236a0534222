"""The IgG4 chart: an SVG with results, baseline, nadir, current, threshold and 1400 line."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date
from itertools import pairwise

import pytest

from cds_service.worklist.chart import (
    COMPACT,
    WIDE,
    date_ticks,
    igg4_chart,
    nice_step,
    tick_label,
)

from .conftest import assessment

SVG = "{http://www.w3.org/2000/svg}"


def _y_of_line(svg: str, cls: str) -> float:
    match = re.search(rf'<g class="{cls}"><line [^>]*y1="([\d.]+)"', svg)
    assert match, cls
    return float(match.group(1))


def test_chart_is_well_formed_svg_with_every_element() -> None:
    svg = str(igg4_chart(assessment("p")["igg4"]))
    root = ET.fromstring(svg)
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    circles = root.findall(f".//{SVG}circle[@class='result']")
    assert len(circles) == 3
    titles = [c.find(f"{SVG}title").text for c in circles]  # type: ignore[union-attr]
    assert titles == ["2024-01-10: 5,200 mg/L", "2025-03-01: 900 mg/L", "2026-10-01: 1,800 mg/L"]
    for mark in ("baseline", "nadir", "current"):
        assert f'class="mark mark-{mark}"' in svg
    assert "treatment start 2024-02-01" in svg
    assert ">re-elevation 1,560<" in svg and ">I3 1,400<" in svg
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Baseline 5,200 mg/L on 2024-01-10." in (desc.text or "")


def test_lines_are_at_the_right_height() -> None:
    svg = str(igg4_chart(assessment("p")["igg4"]))
    threshold_y, inclusion_y = _y_of_line(svg, "threshold-line"), _y_of_line(svg, "inclusion-line")
    assert WIDE.top < threshold_y < inclusion_y < WIDE.height - WIDE.bottom  # 1560 above 1400
    points = re.search(r'<polyline class="series" points="([^"]+)"', svg)
    assert points
    ys = [float(p.split(",")[1]) for p in points.group(1).split()]
    assert ys[1] > inclusion_y > ys[2] and ys[0] < ys[2]  # 900 below the line, 1800 above


def test_empty_and_malformed_data() -> None:
    assert "No serum IgG4 results" in str(igg4_chart(None))
    assert "No serum IgG4 results" in str(igg4_chart({"series": [{"date": "x", "value": "y"}]}))
    one = igg4_chart(
        {
            "series": [{"date": "2026-01-01", "value": 800}],
            "threshold": None,
            "treatmentStart": None,
            "inclusionThreshold": 1400,
        }
    )
    ET.fromstring(str(one))
    assert 'class="threshold-line"' not in str(one)


def test_text_is_escaped() -> None:
    svg = str(igg4_chart({"unit": "<mg/L>", "series": [{"date": "2026-01-01", "value": 1}]}))
    assert "<mg/L>" not in svg and "&lt;mg/L&gt;" in svg
    ET.fromstring(svg)


def _texts(svg: str, cls: str = "axis") -> list[tuple[float, float, str]]:
    root = ET.fromstring(svg)
    return [
        (float(t.get("x") or 0), float(t.get("y") or 0), t.text or "")
        for t in root.iter(f"{SVG}text")
        if t.get("class") == cls
    ]


@pytest.mark.parametrize("compact", [False, True])
def test_value_ticks_are_written_alike(compact: bool) -> None:
    svg = str(igg4_chart(assessment("p")["igg4"], compact=compact))
    labels = [t for _x, _y, t in _texts(svg) if t[:1].isdigit()]
    assert labels[0] == "0"  # not "0.0" beside "1,000"
    assert all("." not in t for t in labels), labels
    assert tick_label(2.5, 0.5) == "2.5" and tick_label(0, 0.25) == "0.00"
    assert nice_step(5720, 5) == 2000.0 and nice_step(9, 4) == 2.5


def test_date_ticks_fall_on_even_calendar_boundaries() -> None:
    ticks, by_year = date_ticks(date(2021, 11, 20), date(2026, 10, 20), 7)
    assert by_year and ticks == [date(y, 1, 1) for y in range(2022, 2027)]
    ticks, by_year = date_ticks(date(2025, 12, 5), date(2026, 10, 1), 7)
    assert not by_year and [t.month for t in ticks] == [1, 3, 5, 7, 9]
    svg = str(igg4_chart(assessment("p")["igg4"]))
    labels = [t for _x, _y, t in _texts(svg) if t.startswith("20")]
    months = [int(t[:4]) * 12 + (int(t[5:7]) - 1 if len(t) > 4 else 0) for t in labels]
    steps = {b - a for a, b in pairwise(months)}
    assert len(steps) == 1 and steps <= {1, 2, 3, 6, 12, 24, 60}, labels  # one calendar step
    assert all(m % next(iter(steps)) == 0 for m in months), labels  # on its boundaries
    xs = [x for x, _y, t in _texts(svg) if t.startswith("20")]
    gaps = [b - a for a, b in pairwise(xs)]
    # calendar intervals: months of 28-31 days differ by at most a few percent
    assert len(xs) >= 3 and max(gaps) - min(gaps) <= 0.04 * max(gaps), xs


def _boxes(svg: str) -> list[tuple[str, float, float, float, float]]:
    """(label, x0, y0, x1, y1) of every text that is not an axis label (as the chart sizes them)."""
    root = ET.fromstring(svg)
    out = []
    for g in root.iter(f"{SVG}g"):
        for t in g.iter(f"{SVG}text"):
            x, y, text = float(t.get("x") or 0), float(t.get("y") or 0), t.text or ""
            font = 12.0 if "compact" in (root.get("class") or "") else 11.0
            width = len(text) * font * 0.58
            anchor = t.get("text-anchor") or "start"
            x0 = x - width if anchor == "end" else x - width / 2 if anchor == "middle" else x
            out.append((text, x0, y - font, x0 + width, y + font * 0.3))
    return out


@pytest.mark.parametrize("compact", [False, True])
@pytest.mark.parametrize("current", [1400.0, 1420.0, 1560.0, 1580.0])
def test_labels_never_overlap(compact: bool, current: float) -> None:
    """The "current" label beside the 1,400 line label (seen on fixture 01) and every other pair."""
    igg4 = dict(assessment("p")["igg4"])
    igg4["current"] = {"date": "2026-10-01", "value": current}
    igg4["series"] = [*igg4["series"][:2], {"date": "2026-10-01", "value": current}]
    boxes = _boxes(str(igg4_chart(igg4, compact=compact)))
    assert any(b[0].startswith("current") for b in boxes)
    layout = COMPACT if compact else WIDE
    for i, a in enumerate(boxes):
        assert a[1] >= -1 and a[3] <= layout.width + 1, a  # inside the picture
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, (a, b)


def test_the_compact_chart_is_its_own_picture() -> None:
    wide = str(igg4_chart(assessment("p")["igg4"]))
    compact = str(igg4_chart(assessment("p")["igg4"], compact=True))
    assert 'class="igg4-chart compact"' in compact and 'viewBox="0 0 360 ' in compact
    ids = set(re.findall(r' id="([^"]+)"', wide)) & set(re.findall(r' id="([^"]+)"', compact))
    assert ids == set()  # both on one page: no duplicate ids


def test_censored_results_show_their_comparator() -> None:
    """docs/criteria.md, censored values: '<70 mg/L' is drawn at 70 and labelled '<70'."""
    igg4 = assessment("p")["igg4"]
    igg4["series"][-1] = {**igg4["series"][-1], "value": 70.0, "comparator": "<"}
    igg4["current"] = igg4["series"][-1]
    igg4["baseline"] = {**igg4["baseline"], "comparator": ">"}
    igg4["thresholdComparator"] = ">"
    for compact in (False, True):
        svg = str(igg4_chart(igg4, compact=compact))
        ET.fromstring(svg)
        assert "2026-10-01: &lt;70 mg/L" in svg and "current &lt;70" in svg
        assert "baseline &gt;5,200" in svg and "re-elevation &gt;1,560" in svg
