"""``--report DIR``: the summary as files: ``summary.json``, ``attrition.csv``, ``attrition.svg``
(the funnel as a picture) and ``malformed.csv`` (each unusable line: file, line, reason).

The SVG is written by hand (no plotting library): one row per criterion, a bar for the patients it
rules out and the number still in the funnel after it. Only counts: no patient data.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from html import escape
from pathlib import Path
from typing import Any

import orjson

from cds_service.screening.model import SourceIssue, SourceStats
from cds_service.screening.summary import STATUSES, Summary

_COLOURS = {"candidate": "#2e7d32", "needs-review": "#f9a825", "ineligible": "#9e9e9e"}


def attrition_svg(summary: Summary, title: str = "Screening attrition") -> str:
    rows = summary.attrition()
    width, left, bar_w, row_h, top = 860, 330, 360, 24, 104
    height = top + row_h * len(rows) + 40
    most = max([r["ruledOut"] for r in rows] + [1])
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="16" y="24" font-size="16" font-weight="bold">{escape(title)}</text>',
        f'<text x="16" y="44">Assessed {summary.assessed} patients</text>',
    ]
    # Overall status as one stacked bar.
    x = 16.0
    total = max(summary.assessed, 1)
    for s in STATUSES:
        w = (width - 32) * summary.status[s] / total
        if w > 0:
            out.append(
                f'<rect x="{x:.1f}" y="54" width="{w:.1f}" height="14" fill="{_COLOURS[s]}"/>'
            )
        x += w
    legend = "   ".join(f"{s}: {summary.status[s]}" for s in STATUSES)
    out.append(f'<text x="16" y="84">{escape(legend)}</text>')
    out.append(f'<text x="{left}" y="{top - 6}" fill="#555">ruled out by the criterion</text>')
    out.append(f'<text x="{left + bar_w + 60}" y="{top - 6}" fill="#555">remaining</text>')
    for i, r in enumerate(rows):
        y = top + i * row_h
        label = f"{r['id']} {r['title']}"
        label = label if len(label) <= 46 else label[:45] + "…"
        w = bar_w * r["ruledOut"] / most
        out.append(f'<text x="16" y="{y + 15}">{escape(label)}</text>')
        out.append(f'<rect x="{left}" y="{y + 4}" width="{w:.1f}" height="14" fill="#c62828"/>')
        out.append(f'<text x="{left + w + 4:.1f}" y="{y + 15}">{r["ruledOut"]}</text>')
        out.append(f'<text x="{left + bar_w + 60}" y="{y + 15}">{r["remaining"]}</text>')
    out.append("</svg>")
    return "\n".join(out)


def write_report(
    directory: Path,
    summary: Summary,
    stats: SourceStats,
    issues: Iterable[SourceIssue],
    extra: dict[str, Any] | None = None,
) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = [
        directory / n for n in ("summary.json", "attrition.csv", "attrition.svg", "malformed.csv")
    ]
    body = summary.to_dict(stats) | (extra or {})
    paths[0].write_bytes(orjson.dumps(body, option=orjson.OPT_INDENT_2))
    with open(paths[1], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "title", "ruledOut", "firstRuledOut", "remaining", "unknown"])
        for r in summary.attrition():
            w.writerow(
                [
                    r["id"],
                    r["title"],
                    r["ruledOut"],
                    r["firstRuledOut"],
                    r["remaining"],
                    r["unknown"],
                ]
            )
    paths[2].write_text(attrition_svg(summary), encoding="utf-8")
    with open(paths[3], "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["file", "line", "reason"])
        for issue in issues:
            w.writerow([issue.where, issue.line if issue.line is not None else "", issue.message])
    return paths
