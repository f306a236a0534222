"""Assess patient groups with the eligibility engine, on every core, in the order they came.

Groups are batched (a few thousand resources per task) and sent to a process pool; at most
``2 × workers`` batches are in flight, so a fast source never piles patients up in memory, and
results come back in submission order, so the output is the same run after run. A group is either
its resources (``PatientGroup``) or where to find them (a ``LoadableGroup``, e.g. the bulk path's:
the worker reads the lines itself). With one worker everything runs in this process (no pool),
which the Spark executors use too.
"""

from __future__ import annotations

import multiprocessing
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from datetime import date
from typing import Any, Protocol

import orjson

from cds_service.eligibility import BundleError, Params, assess_resources, load_params
from cds_service.screening import worker
from cds_service.screening.model import PatientGroup, PatientResult
from cds_service.screening.records import resource_order
from cds_service.worklist.manual import display_name
from fhir_mappings.summary import MrnRule, handoff, patient_summary

BATCH_RESOURCES = 4000
BATCH_PATIENTS = 200

_worker_params: Params | None = None
_worker_as_of: date | None = None
_mrn_rule: MrnRule | None = None


def mrn_rule() -> MrnRule:
    """The site's MRN identifier (``MRN_IDENTIFIER`` of the configuration), read once."""
    global _mrn_rule
    if _mrn_rule is None:
        from cds_service.config import build_config

        _mrn_rule = MrnRule.from_config(build_config()["MRN_IDENTIFIER"])
    return _mrn_rule


def _init_worker(params_path: str | None, as_of: date | None) -> None:
    global _worker_params, _worker_as_of
    _worker_params = load_params(params_path)
    _worker_as_of = as_of


def assess_group(group: PatientGroup, params: Params, as_of: date | None) -> PatientResult:
    """One patient through the engine. Unreadable lines become data issues of that patient."""
    resources: list[dict[str, Any]] = []
    unreadable = 0
    for item in group.resources:
        if isinstance(item, dict):
            resources.append(item)
            continue
        try:
            parsed = orjson.loads(item)
        except orjson.JSONDecodeError:
            unreadable += 1
            continue
        if isinstance(parsed, dict):
            resources.append(parsed)
        else:
            unreadable += 1
    resources.sort(key=resource_order)
    patient = next((r for r in resources if r.get("resourceType") == "Patient"), None)
    if patient is None:
        return PatientResult(group.ref, None, "no Patient resource", len(resources))
    try:
        assessment = assess_resources(
            resources, as_of=as_of, params=params, patient_ref=group.ref
        ).to_dict()
    except BundleError:
        return PatientResult(group.ref, None, "not one patient's data", len(resources))
    except Exception as exc:  # an engine bug must not end a population run; counted by type
        return PatientResult(group.ref, None, f"engine error: {type(exc).__name__}", len(resources))
    if unreadable:
        assessment["dataIssues"] = [
            *assessment.get("dataIssues", []),
            f"{unreadable} resource line(s) of this patient could not be parsed",
        ]
    name = display_name({"entry": [{"resource": patient}]})
    # What the worklist shows beside the assessment: for the patients it lists, the contact
    # summary and the cited evidence; for the others (listed only if already on it) the summary.
    if assessment.get("status") in ("candidate", "needs-review"):
        extra = handoff(resources, assessment, mrn_rule())
    else:
        extra = {"patient": patient_summary(patient, mrn_rule()).to_dict()}
    return PatientResult(group.ref, assessment, None, len(resources), name, extra)


class LoadableGroup(Protocol):
    """A patient whose resources the worker loads itself (``load()``); ``size``: how many."""

    @property
    def ref(self) -> str: ...

    @property
    def size(self) -> int: ...

    def load(self) -> PatientGroup: ...


Group = PatientGroup | LoadableGroup


def _size(group: Group) -> int:
    return len(group.resources) if isinstance(group, PatientGroup) else group.size


def assess_batch(batch: list[Group]) -> list[PatientResult]:
    """Pool task: the worker's params and as-of date were set by ``_init_worker`` (in this
    process) or by the pool's initializer (``worker.init``)."""
    if _worker_params is None and worker.started:
        _init_worker(worker.params_path, worker.as_of)
    params = _worker_params if _worker_params is not None else load_params()
    return [
        assess_group(g if isinstance(g, PatientGroup) else g.load(), params, _worker_as_of)
        for g in batch
    ]


def pool(workers: int, *, as_of: date | None, params_path: str | None) -> ProcessPoolExecutor:
    """The engine's worker processes. "spawn": the parent may hold threads and HTTP pools, which
    must not be forked."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=worker.init,
        initargs=(params_path, as_of),
    )


def batches(groups: Iterable[Group]) -> Iterator[list[Group]]:
    """Groups in batches. If the source fails (a server gone), the patients already read are
    still handed on before the error, so that their results are kept."""
    batch: list[Group] = []
    size = 0
    source = iter(groups)
    while True:
        try:
            group = next(source)
        except StopIteration:
            break
        except Exception:
            if batch:
                yield batch
            raise
        batch.append(group)
        size += _size(group)
        if size >= BATCH_RESOURCES or len(batch) >= BATCH_PATIENTS:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def run(
    groups: Iterable[Group],
    *,
    workers: int,
    as_of: date | None,
    params_path: str | None,
    executor: ProcessPoolExecutor | None = None,
) -> Iterator[list[PatientResult]]:
    """Results batch by batch, in the order of ``groups``; on ``executor`` (a ``pool()`` made with
    the same as-of date and params) when given, else on a pool of its own."""
    if workers <= 1:
        _init_worker(params_path, as_of)
        for batch in batches(groups):
            yield assess_batch(batch)
        return
    if executor is None:
        with pool(workers, as_of=as_of, params_path=params_path) as own:
            yield from _run_on(own, groups, workers)
    else:
        yield from _run_on(executor, groups, workers)


def _run_on(
    executor: ProcessPoolExecutor, groups: Iterable[Group], workers: int
) -> Iterator[list[PatientResult]]:
    window: deque[Future[list[PatientResult]]] = deque()
    try:
        for batch in batches(groups):
            window.append(executor.submit(assess_batch, batch))
            while len(window) >= 2 * workers:
                yield window.popleft().result()
    except Exception:  # the source failed: what was read is still assessed and kept
        while window:
            yield window.popleft().result()
        raise
    while window:
        yield window.popleft().result()
