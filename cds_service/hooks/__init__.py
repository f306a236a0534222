"""The CDS Hooks 2.0 service: discovery, the patient-view hook, feedback.

Modules: ``templates`` (prefetch templates, the data the criteria need), ``prefetch`` (what a
request's prefetch satisfies), ``gather`` (prefetch + FHIR fetches = one patient record), ``cards``
and ``referral`` (the response), ``suppression`` (overridden cards), ``blueprint`` (HTTP).
"""

SERVICE_ID = "igg4rd-trial-screening"
HOOK = "patient-view"
