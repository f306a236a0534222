"""igg4-cds: finds candidates for trial NCT05974683 in an EHR's FHIR data."""

__version__ = "0.1.0"
