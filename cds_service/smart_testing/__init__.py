"""Test doubles for the SMART app: an EHR on loopback (authorization server + scope-enforcing FHIR
gateway over the fixture FHIR server + a Task endpoint). For tests and demos only."""

from cds_service.smart_testing.ehr import TestEhr

__all__ = ["TestEhr"]
