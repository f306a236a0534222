"""Raw FHIR R4 JSON to clinical facts. Knows nothing of Flask or HTTP."""
