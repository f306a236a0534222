"""Write a synthetic population as a FHIR Bulk Data export: one NDJSON file (or several) per type.

Streamed: one patient at a time goes to disk. With ``files_per_type`` > 1, Patient ``i`` goes to file
``i % k`` while Observations are dealt round-robin over the files, so a patient's resources are spread
across files as in real exports. ``truth.csv`` lists each patient's profile and the status it was
built for; ``manifest.json`` sums it up (and where any deliberately broken lines were put).
"""

from __future__ import annotations

import csv
import gzip
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import orjson

from cds_service.synth.generator import SynthPatient

TYPES = (
    "Patient",
    "Observation",
    "Condition",
    "MedicationRequest",
    "MedicationStatement",
    "ResearchSubject",
)

# Broken lines a test can ask for: each is counted and reported, never fatal.
_BROKEN: tuple[bytes, ...] = (
    b'{"resourceType": "Observation", "id": "broken-truncated", "status": "fin',
    b"this is not json",
    b'["a JSON array, not a resource"]',
    b'{"resourceType": "Observation", "id": "broken-no-subject", "status": "final"}',
)


@dataclass(slots=True)
class BulkWriteSummary:
    out_dir: Path
    patients: int = 0
    resources: Counter[str] = field(default_factory=Counter)
    profiles: Counter[str] = field(default_factory=Counter)
    files: list[str] = field(default_factory=list)
    broken: list[tuple[str, int]] = field(default_factory=list)  # (file, line)
    bytes_written: int = 0

    @property
    def total_resources(self) -> int:
        return sum(self.resources.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "patients": self.patients,
            "resources": dict(self.resources),
            "totalResources": self.total_resources,
            "profiles": dict(sorted(self.profiles.items())),
            "files": self.files,
            "broken": [{"file": f, "line": n} for f, n in self.broken],
            "bytes": self.bytes_written,
        }


class _Files:
    def __init__(self, out_dir: Path, k: int, gz: bool) -> None:
        self.out_dir, self.k, self.gz = out_dir, k, gz
        self.handles: dict[tuple[str, int], IO[bytes]] = {}
        self.lines: Counter[tuple[str, int]] = Counter()
        self.bytes = 0

    def name(self, rtype: str, n: int) -> str:
        stem = rtype if self.k == 1 else f"{rtype}.{n:03d}"
        return f"{stem}.ndjson" + (".gz" if self.gz else "")

    def write(self, rtype: str, n: int, line: bytes) -> tuple[str, int]:
        key = (rtype, n)
        fh = self.handles.get(key)
        if fh is None:
            path = self.out_dir / self.name(rtype, n)
            if self.gz:
                fh = cast(IO[bytes], gzip.open(path, "wb", compresslevel=5))  # noqa: SIM115
            else:
                fh = open(path, "wb")  # noqa: SIM115
            self.handles[key] = fh
        fh.write(line + b"\n")
        self.lines[key] += 1
        self.bytes += len(line) + 1
        return self.name(rtype, n), self.lines[key]

    def close(self) -> list[str]:
        for fh in self.handles.values():
            fh.close()
        return sorted(self.name(t, n) for t, n in self.handles)


def write_bulk(
    patients: Iterable[SynthPatient],
    out_dir: str | Path,
    *,
    files_per_type: int = 1,
    gzip_files: bool = False,
    broken_lines: int = 0,
    shared: Iterable[dict[str, Any]] = (),
) -> BulkWriteSummary:
    """``shared``: resources of no patient (``generator.shared_resources``), one file per type."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    k = max(1, files_per_type)
    files = _Files(out, k, gzip_files)
    summary = BulkWriteSummary(out)
    for resource in shared:
        files.write(resource["resourceType"], 0, orjson.dumps(resource))
        summary.resources[resource["resourceType"]] += 1
    obs_counter = 0
    with open(out / "truth.csv", "w", newline="", encoding="utf-8") as truth_fh:
        truth = csv.writer(truth_fh)
        truth.writerow(["patient", "profile", "intended"])
        for i, patient in enumerate(patients):
            summary.patients += 1
            summary.profiles[patient.profile.name] += 1
            truth.writerow(
                [f"Patient/{patient.id}", patient.profile.name, patient.profile.intended]
            )
            for rtype in TYPES:
                for resource in patient.resources.get(rtype, ()):
                    if rtype == "Observation":
                        n = obs_counter % k
                        obs_counter += 1
                    else:
                        n = i % k
                    files.write(rtype, n, orjson.dumps(resource))
                    summary.resources[rtype] += 1
            # Spread the broken lines over the population, not all at its end.
            if broken_lines and summary.patients % 7 == 3 and len(summary.broken) < broken_lines:
                line = _BROKEN[len(summary.broken) % len(_BROKEN)]
                summary.broken.append(files.write("Observation", i % k, line))
    summary.files = files.close()
    summary.bytes_written = files.bytes
    (out / "manifest.json").write_bytes(orjson.dumps(summary.to_dict(), option=orjson.OPT_INDENT_2))
    return summary
