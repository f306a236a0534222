"""Which FHIR searches can be narrowed by date without changing any answer, and how.

A slow server that pages by a few resources makes a long record expensive: every page is a round
trip. The hook asks for large pages (``_count``, ``FHIR_PAGE_SIZE``), and narrows by date only what
the rules of ``docs/criteria.md`` never read beyond a window. That is little, on purpose:

- **never narrowed**: the serum IgG4 history (baseline = the highest result on or before treatment
  start, nadir after it: years back); infection markers (E3 reads the *latest* HBsAg, HIV, HCV and
  IGRA result, however old); Conditions (an active malignancy or an IgG4-RD diagnosis counts at any
  date, an undated one makes E4 unknown); medications (treatment start is the *earliest* therapy
  record); Procedures (a prostatectomy *more* than 3 years ago is E4's exception); ResearchSubjects
  (decided by status). Nor any Observation when they are fetched by patient alone (the default):
  a local IgG4 code is recognised by its name (fixture 04), so any Observation may be an IgG4 result.
- **narrowed**, only when the Observation search names codes (``PREFETCH_OBSERVATIONS_BY_CODE``: the
  site says its value sets hold every local code): the analytes read only within a look-back window
  (E11's screening labs, the Responder Index of E1, the pregnancy status and hCG of E10) are asked
  for from ``asOf`` minus their window minus a ``MARGIN_DAYS`` margin (time zones: the window is
  counted by calendar date in the result's own zone; a server compares instants). Their older
  results can decide nothing: the engine takes the latest result within the window, and a later
  unreadable one hides it only from inside the window.
- **and their undated results still come**: the FHIR ``date`` search parameter reads
  ``effective[x]`` only, while the engine dates a result without it by ``issued`` (and reports one
  with neither). A second search, ``date:missing=true``, brings those. A server that does not know
  the modifier and ignores it returns every result of those codes (more than needed, never less);
  one that refuses it is asked for the same codes without a date bound instead.

``tests/hooks/test_narrowing.py`` assesses every fixture on the narrowed record and on the whole one
and requires the same criteria and status: it fails when the engine starts reading a windowed
analyte beyond its window.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from cds_service.eligibility import Params
from fhir_mappings.valuesets import ValueSets

MARGIN_DAYS = 3  # server time zone vs the result's own calendar date, and inclusive windows

# Analyte (fhir_mappings value set name) -> the parameter naming its look-back window (criteria.md).
# An analyte not listed here is never narrowed (the IgG4 history, infection markers, new analytes).
WINDOWED: dict[str, str] = {
    "hemoglobin": "lab_lookback_days",
    "neutrophils": "lab_lookback_days",
    "platelets": "lab_lookback_days",
    "alt": "lab_lookback_days",
    "ast": "lab_lookback_days",
    "bilirubin": "lab_lookback_days",
    "creatinine": "lab_lookback_days",
    "egfr-mdrd": "lab_lookback_days",
    "egfr-other": "lab_lookback_days",
    "responder-index": "responder_index_lookback_days",
    "pregnancy-status": "pregnancy_status_lookback_days",
    "hcg": "hcg_lookback_days",
    "hcg-quant": "hcg_lookback_days",
}
# The screening labs are the bulk of a long record: they get their own, shortest window. The few
# other windowed results share one search bounded by the longest of their windows.
LABS_PARAM = "lab_lookback_days"


@dataclass(frozen=True, slots=True)
class ObservationPlan:
    """The Observation searches that replace ``Observation?patient=..&code=<all>``."""

    history: str  # codes never narrowed: every result
    windowed: dict[str, str]  # key -> search bounded by date (ge)
    undated: str  # the windowed codes' results without effective[x]
    unbounded: str  # the windowed codes without a date bound: fallback if undated is refused


def _codes(valuesets: ValueSets, analytes: list[str]) -> str:
    found: list[str] = []
    for name in analytes:
        matcher = valuesets.labs.get(name)
        if matcher is not None:
            found.extend(f"{system}|{code}" for system, code in sorted(matcher.codes))
    return ",".join(dict.fromkeys(found))


def observation_plan(
    patient_id: str, as_of: date, params: Params, valuesets: ValueSets
) -> ObservationPlan | None:
    """The narrowed searches for this patient, or None when nothing can be narrowed."""
    names = list(valuesets.labs)
    history = [n for n in names if n not in WINDOWED]
    labs = [n for n in names if WINDOWED.get(n) == LABS_PARAM]
    others = [n for n in names if n in WINDOWED and WINDOWED[n] != LABS_PARAM]
    if not labs and not others:
        return None
    base = f"Observation?patient={patient_id}"

    def since(param_names: list[str]) -> str:
        days = max(int(getattr(params, p)) for p in param_names)
        return (as_of - timedelta(days=days + MARGIN_DAYS)).isoformat()

    windowed: dict[str, str] = {}
    if labs:
        windowed["observations-labs"] = (
            f"{base}&code={_codes(valuesets, labs)}&date=ge{since([LABS_PARAM])}"
        )
    if others:
        windowed["observations-windowed"] = (
            f"{base}&code={_codes(valuesets, others)}&date=ge{since([WINDOWED[n] for n in others])}"
        )
    all_windowed = _codes(valuesets, labs + others)
    return ObservationPlan(
        history=f"{base}&code={_codes(valuesets, history)}",
        windowed=windowed,
        undated=f"{base}&code={all_windowed}&date:missing=true",
        unbounded=f"{base}&code={all_windowed}",
    )
