"""The IgG4 chart: an SVG with results, baseline, nadir, current, threshold and 1400 line."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from cds_service.worklist.chart import BOTTOM, HEIGHT, TOP, igg4_chart

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
    assert "re-elevation 1,560 mg/L" in svg and "I3 line 1,400 mg/L" in svg
    desc = root.find(f"{SVG}desc")
    assert desc is not None and "Baseline 5,200 mg/L on 2024-01-10." in (desc.text or "")


def test_lines_are_at_the_right_height() -> None:
    svg = str(igg4_chart(assessment("p")["igg4"]))
    threshold_y, inclusion_y = _y_of_line(svg, "threshold-line"), _y_of_line(svg, "inclusion-line")
    assert TOP < threshold_y < inclusion_y < HEIGHT - BOTTOM  # 1560 above 1400 (smaller y)
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


def test_censored_results_show_their_comparator() -> None:
    """docs/criteria.md, censored values: '<70 mg/L' is drawn at 70 and labelled '<70'."""
    igg4 = assessment("p")["igg4"]
    igg4["series"][-1] = {**igg4["series"][-1], "value": 70.0, "comparator": "<"}
    igg4["current"] = igg4["series"][-1]
    igg4["baseline"] = {**igg4["baseline"], "comparator": ">"}
    igg4["thresholdComparator"] = ">"
    svg = str(igg4_chart(igg4))
    ET.fromstring(svg)
    assert "2026-10-01: &lt;70.0 mg/L" in svg and "current &lt;70.0" in svg
    assert "baseline &gt;5,200" in svg and "re-elevation &gt;1,560 mg/L" in svg
