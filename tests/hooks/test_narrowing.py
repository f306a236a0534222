"""Date-narrowed Observation searches change no answer; a slow server's unread data is said.

The narrowed searches (``hooks/narrowing.py``) are run against the fixture FHIR server, which
implements ``date`` and ``date:missing`` on ``effective[x]``, and compared with the unnarrowed
by-code search for every fixture and for edge cases (results dated only by ``issued``, undated
ones, a window boundary in a far time zone, a period, old unreadable labs).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import responses
from flask import Flask

from cds_service.eligibility import assess_resources, load_params
from cds_service.fhir_client import Allowlist, FhirClient, FhirError, FhirLimits
from cds_service.fhir_fixture_server import FixtureFhirServer, bundle_resources
from cds_service.hooks.cards import EXTENSION_KEY
from cds_service.hooks.gather import UNDATED_KEY, gather
from cds_service.hooks.narrowing import MARGIN_DAYS, WINDOWED, observation_plan
from cds_service.hooks.templates import prefetch_templates
from fhir_mappings.valuesets import default_valuesets

from .conftest import FIXTURES, HOOK_PATH, LiveServer, hook_body
from .synthetic import long_record, observation

AS_OF = date(2026, 11, 24)
PARAMS = load_params(None)
VS = default_valuesets()
BUNDLES = sorted(p for p in FIXTURES.glob("*.json") if not p.name.endswith(".expected.json"))


def _edge_record(pid: str) -> list[dict[str, Any]]:
    """A candidate-like record whose windowed labs sit where narrowing could go wrong."""
    record = long_record(pid, observations=40)
    since = AS_OF - timedelta(days=PARAMS.lab_lookback_days)
    issued_only = observation(f"{pid}-hb-issued", pid, "718-7", "Hemoglobin", 7.0, "g/dL", AS_OF)
    del issued_only["effectiveDateTime"]
    issued_only["issued"] = (AS_OF - timedelta(days=3)).isoformat() + "T10:00:00Z"
    undated = observation(f"{pid}-plt-undated", pid, "777-3", "Platelets", 90, "10*3/uL", AS_OF)
    del undated["effectiveDateTime"]
    far_zone = observation(f"{pid}-alt-tz", pid, "1742-6", "ALT", 30, "U/L", AS_OF)
    far_zone["effectiveDateTime"] = f"{since.isoformat()}T23:30:00-10:00"  # first day, local
    period = observation(f"{pid}-ast-period", pid, "1920-8", "AST", 30, "U/L", AS_OF)
    del period["effectiveDateTime"]
    period["effectivePeriod"] = {"start": (since - timedelta(days=10)).isoformat(),
                                 "end": (since + timedelta(days=2)).isoformat()}  # fmt: skip
    old_bad = observation(f"{pid}-hb-old-bad", pid, "718-7", "Hemoglobin", 13, "mmol/L", AS_OF)
    old_bad["effectiveDateTime"] = (since - timedelta(days=400)).isoformat()
    old_bad["valueQuantity"]["code"] = old_bad["valueQuantity"]["unit"] = "furlong"
    hcg = observation(f"{pid}-hcg", pid, "2106-3", "hCG", 0, "[IU]/L", AS_OF)
    hcg["effectiveDateTime"] = (AS_OF - timedelta(days=20)).isoformat()
    return [*record, issued_only, undated, far_zone, period, old_bad, hcg]


def _records() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    for path in BUNDLES:
        resources = bundle_resources(orjson.loads(path.read_bytes()))
        patient = next(r["id"] for r in resources if r["resourceType"] == "Patient")
        yield patient, resources
    yield "edge1", _edge_record("edge1")


RECORDS = list(_records())


@pytest.fixture(scope="module")
def fhir() -> Iterator[FixtureFhirServer]:
    everything = [r for _, resources in RECORDS for r in resources]
    with FixtureFhirServer(everything, page_size=25) as server:
        yield server


def _verdict(resources: list[dict[str, Any]], patient: str) -> dict[str, Any]:
    out = assess_resources(
        resources, as_of=AS_OF, params=PARAMS, patient_ref=f"Patient/{patient}"
    ).to_dict()
    return {
        "status": out["status"],
        "criteria": [(c["id"], c["status"], c["reason"], c["evidence"]) for c in out["criteria"]],
        "igg4": out["igg4"],
    }


@pytest.mark.parametrize(("patient", "resources"), RECORDS, ids=[p for p, _ in RECORDS])
def test_narrowed_searches_change_no_answer(
    fhir: FixtureFhirServer, patient: str, resources: list[dict[str, Any]]
) -> None:
    plan = observation_plan(patient, AS_OF, PARAMS, VS)
    assert plan is not None
    by_code = prefetch_templates(observations_by_code=True)["observations"].replace(
        "{{context.patientId}}", patient
    )
    limits = FhirLimits(time_budget_s=120, max_pages=1000, page_size=None)
    client = FhirClient(fhir.base_url, allowlist=Allowlist([fhir.base_url]), limits=limits)
    with client:
        whole = client.search(by_code)
        queries = {"history": plan.history, **plan.windowed, "undated": plan.undated}
        parts = client.fetch_many(queries)
    narrowed: list[dict[str, Any]] = []
    for result in parts.values():
        assert not isinstance(result, FhirError)
        narrowed.extend(result)
    others = [r for r in resources if r["resourceType"] != "Observation"]
    assert _verdict([*others, *narrowed], patient) == _verdict([*others, *whole], patient)
    if patient == "edge1":  # the edge cases are all brought by the narrowed searches
        ids = {r["id"] for r in narrowed}
        assert {"edge1-hb-issued", "edge1-plt-undated", "edge1-alt-tz", "edge1-ast-period"} <= ids
        assert "edge1-hb-old-bad" not in ids and len(narrowed) < len(whole)


def test_the_plan_narrows_only_windowed_labs() -> None:
    plan = observation_plan("p1", AS_OF, PARAMS, VS)
    assert plan is not None
    assert "http://loinc.org|2469-5" in plan.history  # the IgG4 history: whole
    assert "http://loinc.org|5195-3" in plan.history  # HBsAg: the latest, however old
    assert "date" not in plan.history
    assert "718-7" not in plan.history and "718-7" in plan.windowed["observations-labs"]
    since = AS_OF - timedelta(days=PARAMS.lab_lookback_days + MARGIN_DAYS)
    assert plan.windowed["observations-labs"].endswith(f"&date=ge{since.isoformat()}")
    longest = max(PARAMS.pregnancy_status_lookback_days, PARAMS.responder_index_lookback_days)
    other_since = AS_OF - timedelta(days=longest + MARGIN_DAYS)
    assert plan.windowed["observations-windowed"].endswith(f"&date=ge{other_since.isoformat()}")
    assert plan.undated.endswith("&date:missing=true") and "718-7" in plan.undated
    assert "date" not in plan.unbounded and "82810-3" in plan.unbounded
    assert set(WINDOWED) <= set(VS.labs)  # every windowed analyte is a value set of the engine


@responses.activate
def test_a_server_refusing_date_missing_is_asked_without_the_bound() -> None:
    base = "https://ehr.example.org/fhir"
    plan = observation_plan("p1", AS_OF, PARAMS, VS)
    assert plan is not None
    record = long_record("p1", observations=20)

    def answer(request: Any) -> tuple[int, dict[str, str], str]:
        url = request.url
        if "date%3Amissing" in url or "date:missing" in url:
            outcome = {"resourceType": "OperationOutcome", "issue": []}
            return 400, {}, orjson.dumps(outcome).decode()
        rtype = url.split("/fhir/", 1)[1].split("?", 1)[0].split("/", 1)[0]
        if "?" not in url:
            return 200, {}, orjson.dumps(record[0]).decode()
        found = [r for r in record if r["resourceType"] == rtype]
        entries = [{"resource": r} for r in found]
        bundle = {"resourceType": "Bundle", "type": "searchset", "entry": entries}
        return 200, {}, orjson.dumps(bundle).decode()

    responses.add_callback(responses.GET, url=__import__("re").compile(f"{base}/.*"),
                           callback=answer)  # fmt: skip
    templates = prefetch_templates(observations_by_code=True)
    got = gather(
        patient_id="p1",
        prefetch=None,
        templates=templates,
        fhir_server=base,
        access_token="t",
        allowlist=Allowlist([base]),
        limits=FhirLimits(),
        observation_plan=plan,
    )
    assert got.failure is None and got.unavailable == {}
    urls = [c.request.url for c in responses.calls]
    assert any("missing" in u for u in urls)  # asked, refused ...
    unbounded = [u for u in urls if "date" not in u and "Observation" in u and "718-7" in u]
    assert unbounded  # ... then asked again without a date bound
    assert UNDATED_KEY == "observations-undated"


def test_slow_server_card_says_what_was_not_read_in_time(
    make_app: Callable[..., Flask], tmp_path: Path
) -> None:
    record = long_record("slow1", observations=60)
    with FixtureFhirServer(record, page_size=3, page_delay_s=0.2) as slow:
        app = make_app(FHIR_SERVER_ALLOWLIST=[slow.base_url], FHIR_TIME_BUDGET_S=0.6)
        with LiveServer(app) as live:
            import requests

            answer = requests.post(
                f"{live.url}{HOOK_PATH}", json=hook_body("slow1", fhirServer=slow.base_url),
                timeout=30,
            )  # fmt: skip
    assert answer.status_code == 200
    (card,) = answer.json()["cards"]
    assert card["extension"][EXTENSION_KEY]["status"] == "needs-review"
    assert card["summary"].endswith("EHR data not all read")
    detail = card["detail"]
    assert "Serum IgG4 results: not read from the EHR" in detail
    assert "- Laboratory results and observations (Observation): not read in time" in detail
    assert "could not be used" not in detail  # the unread type is not counted as a data issue


def test_fixture_server_date_search(fhir: FixtureFhirServer) -> None:
    import requests

    def ids(query: str) -> set[str]:
        url: str | None = f"{fhir.base_url}/Observation?patient=edge1&{query}"
        found: set[str] = set()
        while url:
            bundle = requests.get(url, timeout=10).json()
            found |= {e["resource"]["id"] for e in bundle.get("entry", [])}
            url = next((lk["url"] for lk in bundle["link"] if lk["relation"] == "next"), None)
        return found

    since = (AS_OF - timedelta(days=PARAMS.lab_lookback_days)).isoformat()
    recent = ids(f"date=ge{since}")
    assert {"edge1-alt-tz", "edge1-ast-period", "edge1-hcg"} <= recent
    assert not recent & {"edge1-hb-issued", "edge1-plt-undated", "edge1-hb-old-bad"}
    assert ids("date:missing=true") == {"edge1-hb-issued", "edge1-plt-undated"}
    assert "edge1-hb-old-bad" in ids(f"date=lt{since}") and "edge1-hcg" not in ids(
        f"date=lt{since}"
    )
    assert ids(f"date=eq{since}") >= {"edge1-alt-tz", "edge1-ast-period"}
