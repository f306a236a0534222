"""``records.classify_line`` in DuckDB SQL, so that the bulk path classifies lines in C++ threads.

Each NDJSON line is read as one text column (a CSV reader with a delimiter JSON never contains: raw
control characters are not valid JSON), then classified with DuckDB's JSON functions. The result has
the columns ``file, line, kind, rtype, rid, key, sel, link``; ``kind`` is resource | shared | blank |
bad | other | unlinked as in ``records.Classified``. ``tests/screening/test_bulk_sql.py`` checks both agree.
"""

from __future__ import annotations

from cds_service.screening.records import (
    ENGINE_TYPES,
    PATIENT_REF_RE,
    PATIENT_REFERENCE,
    SHARED_REFERENCE,
    SHARED_TYPES,
    Selection,
    reference_re,
)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _list(items: list[str]) -> str:
    return "[" + ", ".join(_lit(i) for i in items) + "]::VARCHAR[]"


def _str(element: str) -> str:
    """A JSON element as text when it is a JSON string, else NULL (as ``isinstance(x, str)``)."""
    return (
        f"CASE WHEN json_type({element}) = 'VARCHAR' THEN json_extract_string({element}, '$') END"
    )


def buffer_size(max_line_size: int) -> int:
    """DuckDB's read buffer. A line longer than ``max_line_size`` is rejected and reported (file and
    line); one longer than the buffer itself is skipped unreported (a DuckDB limitation), so the
    buffer is four times the limit: 8 MB by default, lines up to 8 MB are reported. Each reading
    thread holds a buffer, so this is memory per thread."""
    return 4 * int(max_line_size)


def classified(files: list[str], selection: Selection, *, max_line_size: int) -> str:
    reader = (
        f"read_csv({_list(files)}, columns={{'line': 'VARCHAR'}}, delim=chr(1), quote='', "
        "escape='', header=false, auto_detect=false, filename=true, strict_mode=false, "
        f"ignore_errors=true, store_rejects=true, max_line_size={int(max_line_size)}, "
        f"buffer_size={buffer_size(max_line_size)})"
    )
    # One JSON parse per line: every field the rules need, extracted at once (NULL if invalid).
    fields = sorted(
        {f for f in PATIENT_REFERENCE.values() if f is not None}
        | {f for f, _ in SHARED_REFERENCE.values()}
    )
    paths = ["$.resourceType", "$.id", "$.code.coding", *(f"$.{f}.reference" for f in fields)]
    at = {f: i + 4 for i, f in enumerate(fields)}  # 1-based list index of each reference
    ref_cases = " ".join(
        f"WHEN {_lit(rtype)} THEN {_str(f'v[{at[field]}]')}"
        for rtype, field in PATIENT_REFERENCE.items()
        if field is not None
    )
    link_cases = " ".join(
        f"WHEN {_lit(rtype)} THEN {_lit(target + '/')} || nullif(regexp_extract("
        f"{_str(f'v[{at[field]}]')}, {_lit(reference_re(target))}, 1), '')"
        for rtype, (field, target) in SHARED_REFERENCE.items()
    )
    shared_cases = " ".join(
        f"WHEN {_lit(t)} THEN regexp_matches({_lit(t + '/')} || rid, {_lit(reference_re(t))})"
        for t in SHARED_TYPES
    )
    tokens = {
        rtype: _list(sorted(f"{s}|{c}" for s, c in selection.tokens_for(rtype)))
        for rtype in ("Condition", "Observation")
    }
    codings = (
        "list_transform(CAST(coding AS JSON[]), "
        "lambda c: json_extract_string(c, '$.system') || '|' || json_extract_string(c, '$.code'))"
    )
    engine_types = ", ".join(_lit(t) for t in ENGINE_TYPES)
    shared_types = ", ".join(_lit(t) for t in SHARED_TYPES)
    return f"""
WITH raw AS NOT MATERIALIZED (SELECT filename AS file, line FROM {reader}),
p AS NOT MATERIALIZED (
  SELECT file, line, line IS NULL OR trim(line) = '' AS blank,
    try(json_extract(line, {_list(paths)})) AS v
  FROM raw),
s AS NOT MATERIALIZED (
  SELECT file, line, blank, v IS NULL AS invalid, nullif({_str("v[1]")}, '') AS rtype,
    {_str("v[2]")} AS rid, v[3] AS coding,
    CASE {_str("v[1]")} WHEN 'Patient' THEN 'Patient/' || {_str("v[2]")} {ref_cases} END AS ref,
    CASE {_str("v[1]")} {link_cases} END AS link
  FROM p),
k AS NOT MATERIALIZED (
  SELECT *, nullif(regexp_extract(ref, {_lit(PATIENT_REF_RE)}, 1), '') AS pid,
    coalesce(CASE rtype {shared_cases} END, false) AS shared_ok
  FROM s)
SELECT file, line, rtype, rid, link,
  CASE WHEN blank THEN 'blank'
       WHEN invalid OR rtype IS NULL THEN 'bad'
       WHEN rtype IN ({shared_types}) THEN CASE WHEN shared_ok THEN 'shared' ELSE 'other' END
       WHEN rtype NOT IN ({engine_types}) THEN 'other'
       WHEN ref IS NULL OR ref = '' OR ref = 'Patient/' THEN 'bad'
       WHEN pid IS NULL THEN CASE WHEN rtype = 'Patient' THEN 'bad' ELSE 'unlinked' END
       ELSE 'resource' END AS kind,
  CASE WHEN shared_ok THEN rtype || '/' || rid
       WHEN rtype NOT IN ({shared_types}) THEN 'Patient/' || pid END AS key,
  CASE WHEN rtype = 'Condition' AND coding IS NOT NULL
         THEN coalesce(list_has_any({codings}, {tokens["Condition"]}), false)
       WHEN rtype = 'Observation' AND coding IS NOT NULL
         THEN coalesce(list_has_any({codings}, {tokens["Observation"]}), false)
       ELSE false END AS sel
FROM k
"""
