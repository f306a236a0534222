"""Entry points: FHIR resources (or a Bundle) of one patient in, an Assessment out."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from cds_service.eligibility import exclusion as ex
from cds_service.eligibility import inclusion as inc
from cds_service.eligibility.assessment import Assessment
from cds_service.eligibility.availability import apply_unavailable
from cds_service.eligibility.context import Context, titled
from cds_service.eligibility.overall import overall_status
from cds_service.eligibility.params import Params, load_params
from cds_service.eligibility.timeline import build_timeline, chart_data
from cds_service.eligibility.uncertain import apply_uncertain
from cds_service.i18n.message import Arg
from cds_service.i18n.render import STABLE
from fhir_mappings.extract import FULL_URL_KEY, RecordError, build_record
from fhir_mappings.facts import PatientRecord
from fhir_mappings.valuesets import ValueSets, default_valuesets


class BundleError(ValueError):
    """The input is not a Bundle of exactly one patient's data; the message says what is wrong."""


class AsOfError(BundleError):
    """The screening date is outside the range the engine's windows can be computed over."""


# The look-back windows are subtracted from as-of (years), and nobody screens before 1900 or
# after 2999: outside this range the date is an input error, not a computation to attempt.
AS_OF_MIN = date(1900, 1, 1)
AS_OF_MAX = date(2999, 12, 31)


def check_as_of(day: date) -> date:
    """``day`` when it is a usable screening date; AsOfError (a clear message) otherwise."""
    if not AS_OF_MIN <= day <= AS_OF_MAX:
        raise AsOfError(
            f"the as-of date must be between {AS_OF_MIN.isoformat()} and {AS_OF_MAX.isoformat()}"
        )
    return day


_default_params: Params | None = None


def _params(params: Params | None) -> Params:
    global _default_params
    if params is not None:
        return params
    if _default_params is None:
        _default_params = load_params()
    return _default_params


def assess_record(
    record: PatientRecord,
    *,
    as_of: date,
    params: Params,
    unavailable: Mapping[str, Arg] | None = None,
) -> Assessment:
    """The eighteen criteria, in protocol order, and the overall status. Pure.

    ``unavailable`` maps resource types that could not be read to why (e.g. ``{"Condition":
    "no read scope"}``): the criteria that rest on their absence become ``unknown``.
    """
    ctx = Context(record=record, as_of=as_of, params=params)
    timeline = build_timeline(ctx.labs("igg4"), ctx.therapies, as_of, params)
    i4 = inc.major_organ_involvement(ctx)
    criteria = [
        inc.i1_diagnosis(ctx),
        inc.i2_age(ctx),
        inc.i3_baseline(ctx, timeline),
        i4,
        inc.i5_reelevation(ctx, timeline),
        inc.i6_consent(ctx),
        inc.i7_contraception(ctx),
        ex.e1_responder_index(ctx),
        ex.e2_no_major_organ(i4),
        ex.e3_infection(ctx),
        ex.e4_malignancy(ctx),
        ex.e5_immunodeficiency(ctx),
        ex.e6_comorbidity(ctx),
        ex.e7_rheumatic(ctx),
        ex.e8_other_trial(ctx),
        ex.e9_substance(ctx),
        ex.e10_pregnancy(ctx),
        ex.e11_labs(ctx),
    ]
    criteria = apply_uncertain(criteria, ctx)  # docs/criteria.md: conditions not in the value sets
    criteria = [titled(c, params) for c in apply_unavailable(criteria, unavailable or {})]
    issues = [
        f"{rtype}: could not be read ({STABLE(why)})" for rtype, why in (unavailable or {}).items()
    ]
    issues += [str(i) for i in record.issues]
    issues += [
        f"{lab.ref}: {lab.analyte} result not used: {lab.problem}"
        for lab in record.labs
        if lab.problem
    ]
    issues += [f"{d.ref}: not used: {d.problem}" for d in record.diagnoses if d.problem]
    later = sum(1 for lab in record.labs if lab.when is not None and lab.when.day > as_of)
    if later:
        issues.append(f"{later} result(s) dated after {as_of.isoformat()} ignored")
    return Assessment(
        trial=params.trial,
        patient=record.patient.ref,
        as_of=as_of,
        status=overall_status(criteria),
        criteria=criteria,
        igg4=chart_data(timeline, params),
        data_issues=issues,
        parameters={"reelevation_rule": params.reelevation_rule},
    )


def assess_resources(
    resources: Iterable[Mapping[str, Any]],
    *,
    as_of: date | None = None,
    params: Params | None = None,
    patient_ref: str | None = None,
    valuesets: ValueSets | None = None,
    unavailable: Mapping[str, Arg] | None = None,
) -> Assessment:
    """Assess one patient from raw FHIR R4 resource dicts (the Patient and its data).

    ``unavailable``: resource types that could not be read, and why (see ``assess_record``).
    """
    day = check_as_of(as_of or date.today())
    try:
        record = build_record(resources, valuesets or default_valuesets(), patient_ref)
    except RecordError as exc:
        raise BundleError(str(exc)) from exc
    return assess_record(record, as_of=day, params=_params(params), unavailable=unavailable)


def bundle_resources(bundle: Any) -> Iterator[Mapping[str, Any]]:
    """The resources of a Bundle's entries (any Bundle type), each with its entry's fullUrl, so that
    a resource without an id is cited by it and ``urn:uuid:`` references resolve."""
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        kind = bundle.get("resourceType") if isinstance(bundle, Mapping) else type(bundle).__name__
        raise BundleError(f"expected a FHIR Bundle, got {kind or 'JSON without resourceType'}")
    entries = bundle.get("entry") or []
    if not isinstance(entries, list):
        raise BundleError("Bundle.entry is not a list")
    for entry in entries:
        if isinstance(entry, Mapping) and isinstance(entry.get("resource"), Mapping):
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str) and full_url:
                yield {**entry["resource"], FULL_URL_KEY: full_url}
            else:
                yield entry["resource"]


def assess_bundle(
    bundle: Any,
    *,
    as_of: date | None = None,
    params: Params | None = None,
    valuesets: ValueSets | None = None,
) -> Assessment:
    """Assess the one patient of a Bundle; BundleError when it holds no Patient or several."""
    return assess_resources(
        list(bundle_resources(bundle)), as_of=as_of, params=params, valuesets=valuesets
    )
