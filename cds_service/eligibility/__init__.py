"""The eligibility engine: clinical facts in, a criterion-by-criterion assessment out.

Public API::

    from cds_service.eligibility import assess_bundle, assess_resources, load_params

    assessment = assess_bundle(bundle_dict, as_of=date(2026, 11, 24))
    assessment.to_dict()   # the documented JSON shape

Pure: no HTTP, no database, no logging of patient data.
"""

from cds_service.eligibility.api import (
    AsOfError,
    BundleError,
    assess_bundle,
    assess_resources,
    check_as_of,
)
from cds_service.eligibility.assessment import Assessment, CriterionResult
from cds_service.eligibility.params import Params, load_params

__all__ = [
    "AsOfError",
    "Assessment",
    "BundleError",
    "CriterionResult",
    "Params",
    "assess_bundle",
    "assess_resources",
    "check_as_of",
    "load_params",
]
