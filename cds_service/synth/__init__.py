"""Synthetic populations for tests and benchmarks, written as FHIR Bulk Data NDJSON.

Deterministic: the same ``seed`` gives the same population, and patient ``i`` does not depend on how
many patients are generated (each patient has its own random stream). Nothing here is real data.

    from cds_service.synth import generate_population, write_bulk
    write_bulk(generate_population(1000, seed=7, as_of=date(2026, 11, 24)), "out/",
               shared=shared_resources(7), files_per_type=2)
"""

from cds_service.synth.generator import (
    SynthPatient,
    generate_patient,
    generate_population,
    shared_resources,
)
from cds_service.synth.profiles import PROFILES, Profile
from cds_service.synth.writer import BulkWriteSummary, write_bulk

__all__ = [
    "PROFILES",
    "BulkWriteSummary",
    "Profile",
    "SynthPatient",
    "generate_patient",
    "generate_population",
    "shared_resources",
    "write_bulk",
]
