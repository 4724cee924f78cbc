"""Checking one record against the schema, with problems that name the field.

Rules (the schema is a contract between everyone who reads the files):

* Every field of :data:`smtplab.schema.FIELDS` has a kind (int, str, list of str, …) and says
  whether it may be ``null``.  A field that may be ``null`` may also be left out: it reads as
  ``None``.  A field that may not be ``null`` must be present.
* Words from a fixed list (``outcome``, ``mode``, ``tls_mode``, ``source``, ``relay_check``,
  ``role``, a finding's ``severity``, a transcript line's ``dir``) must be one of the listed words.
* Unknown fields are problems when checking strictly; a lenient check drops them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

from smtplab.records.errors import RecordError, show, where
from smtplab.records.normalise import HugeInt, as_mapping, parse_time, to_json_ready
from smtplab.schema import (
    DIRECTIONS,
    ENUMS,
    EVENT_FIELDS,
    EVENT_KINDS,
    FIELDS,
    READABLE_SCHEMA_VERSIONS,
    SCHEMA_VERSION,
    SEVERITIES,
    upgrade_record,
)

__all__ = [
    "SUPPORTED_SCHEMA_VERSIONS",
    "Problem",
    "check_fields",
    "check_record",
    "first_error",
    "validate_record",
]

#: The schema versions this smtplab can read.  A file from a newer smtplab is refused with a
#: message saying so, rather than misread.
SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = READABLE_SCHEMA_VERSIONS

#: (field or None for the whole record, what is wrong)
Problem = tuple["str | None", str]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_FINDING_KEYS = ("code", "severity", "message")
_TRANSCRIPT_KEYS = ("t", "dir", "text")
#: Keys an event line may add (schema 3).
_EVENT_KEYS = ("kind", "data")
# Lone surrogates cannot be written as UTF-8 (JSON files, Parquet strings): refuse them early.
_SURROGATE = re.compile("[\ud800-\udfff]")

_Checked = tuple[Any, "str | None"]


def _check_str(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"expected text, got {show(value)}"
    if _SURROGATE.search(value):
        return (
            "text holds a lone surrogate, which cannot be stored as UTF-8 "
            "(decode server bytes with errors='replace')"
        )
    return None


def _check_int(name: str, value: Any) -> _Checked:
    if isinstance(value, HugeInt):
        return value, f"{show(value)} does not fit in 64 bits"
    if isinstance(value, bool) or not isinstance(value, int):
        return value, f"expected an integer, got {show(value)}"
    if not _INT64_MIN <= value <= _INT64_MAX:
        return value, f"the integer {show(value)} does not fit in 64 bits"
    if name == "port" and not 0 <= value <= 65535:
        return value, f"a TCP port is 0 to 65535, got {value}"
    if name == "schema_version" and value not in SUPPORTED_SCHEMA_VERSIONS:
        known = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        return value, (
            f"schema_version {value} is not one this smtplab reads (it reads version {known}); "
            "a newer smtplab wrote this file: upgrade smtplab to read it"
        )
    return value, None


def _check_float(name: str, value: Any) -> _Checked:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value, f"expected a number, got {show(value)}"
    if isinstance(value, int) and not _INT64_MIN <= value <= _INT64_MAX:
        return value, f"the number {show(value)} is out of range"
    if not math.isfinite(value):
        return value, f"expected a finite number, got {value!r}"
    return float(value), None


def _check_bool(name: str, value: Any) -> _Checked:
    if not isinstance(value, bool):
        return value, f"expected true or false, got {show(value)}"
    return value, None


def _check_text(name: str, value: Any) -> _Checked:
    problem = _check_str(value)
    if problem is None and name in ENUMS and value not in ENUMS[name]:
        problem = f"unknown word {show(value)}; expected one of: {', '.join(ENUMS[name])}"
    return value, problem


def _check_datetime(name: str, value: Any) -> _Checked:
    parsed = parse_time(value)
    if isinstance(parsed, str):
        return value, parsed
    return parsed, None


def _check_str_list(name: str, value: Any) -> _Checked:
    if not isinstance(value, (list, tuple)):
        return value, f"expected a list of text, got {show(value)}"
    for i, item in enumerate(value):
        problem = _check_str(item)
        if problem:
            return value, f"item {i}: {problem}"
    return list(value), None


def _check_finding(i: int, item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return f"finding {i}: expected an object with code, severity and message, got {show(item)}"
    if set(item) != set(_FINDING_KEYS):
        return (
            f"finding {i}: expected exactly the keys code, severity, message, "
            f"got {', '.join(sorted(map(str, item)))}"
        )
    for key in _FINDING_KEYS:
        problem = _check_str(item[key])
        if problem:
            return f"finding {i}, {key}: {problem}"
    if item["severity"] not in SEVERITIES:
        return (
            f"finding {i}: unknown severity {show(item['severity'])}; "
            f"expected one of: {', '.join(SEVERITIES)}"
        )
    return None


def _check_findings(name: str, value: Any) -> _Checked:
    if not isinstance(value, (list, tuple)):
        return value, f"expected a list of findings, got {show(value)}"
    out = []
    for i, item in enumerate(value):
        item = as_mapping(item)
        problem = _check_finding(i, item)
        if problem:
            return value, problem
        out.append({key: item[key] for key in _FINDING_KEYS})
    return out, None


def _check_transcript_line(i: int, item: Any) -> str | None:
    if not isinstance(item, Mapping):
        return f"line {i}: expected an object with t, dir and text, got {show(item)}"
    if not set(_TRANSCRIPT_KEYS) <= set(item) <= set(_TRANSCRIPT_KEYS + _EVENT_KEYS):
        return (
            f"transcript line {i}: expected the keys t, dir, text (and kind, data on an event), "
            f"got {', '.join(sorted(map(str, item)))}"
        )
    t = item["t"]
    if (
        isinstance(t, bool)
        or not isinstance(t, (int, float))
        or (isinstance(t, int) and not _INT64_MIN <= t <= _INT64_MAX)
        or not math.isfinite(t)
    ):
        return f"transcript line {i}: t must be a number of milliseconds, got {show(t)}"
    if item["dir"] not in DIRECTIONS:
        return (
            f"transcript line {i}: unknown dir {show(item['dir'])}; "
            f"expected one of: {', '.join(DIRECTIONS)}"
        )
    problem = _check_str(item["text"])
    if problem:
        return f"transcript line {i}, text: {problem}"
    kind = item.get("kind")
    if kind is not None and kind not in EVENT_KINDS:
        return (
            f"transcript line {i}: unknown event kind {show(kind)} (see smtplab.schema.EVENT_KINDS)"
        )
    data = item.get("data")
    if data is not None:
        if kind is None:
            return f"transcript line {i}: data without a kind"
        problem = _check_event_data(data)
        if problem:
            return f"transcript line {i}, data: {problem}"
    return None


def _check_event_data(data: Any) -> str | None:
    if not isinstance(data, Mapping):
        return f"expected an object, got {show(data)}"
    for key, value in data.items():
        kind = EVENT_FIELDS.get(key) if isinstance(key, str) else None
        if kind is None:
            return f"unknown field {show(key)} (see smtplab.schema.EVENT_FIELDS)"
        if value is None:
            continue
        if kind == "str":
            problem = _check_str(value)
        elif kind == "int":
            ok = (
                isinstance(value, int)
                and not isinstance(value, (bool, HugeInt))
                and _INT64_MIN <= value <= _INT64_MAX
            )
            problem = None if ok else f"expected a whole number, got {show(value)}"
        elif kind == "float":
            ok = (
                isinstance(value, (int, float))
                and not isinstance(value, (bool, HugeInt))
                and math.isfinite(value)
                and abs(value) < 2.0**63
            )
            problem = None if ok else f"expected a number, got {show(value)}"
        elif kind == "bool":
            problem = (
                None if isinstance(value, bool) else f"expected true or false, got {show(value)}"
            )
        else:
            ok = isinstance(value, (list, tuple)) and all(isinstance(x, str) for x in value)
            problem = (
                next((p for x in value if (p := _check_str(x))), None)
                if ok
                else f"expected a list of texts, got {show(value)}"
            )
        if problem:
            return f"{key}: {problem}"
    return None


def _check_transcript(name: str, value: Any) -> _Checked:
    if not isinstance(value, (list, tuple)):
        return value, f"expected a list of transcript lines, got {show(value)}"
    out = []
    for i, item in enumerate(value):
        item = as_mapping(item)
        problem = _check_transcript_line(i, item)
        if problem:
            return value, problem
        line: dict[str, Any] = {"t": float(item["t"]), "dir": item["dir"], "text": item["text"]}
        if item.get("kind") is not None:
            line["kind"] = item["kind"]
            data = {k: v for k, v in (item.get("data") or {}).items() if v is not None}
            if data:
                line["data"] = data
        out.append(line)
    return out, None


_CHECKERS: dict[str, Callable[[str, Any], _Checked]] = {
    "int": _check_int,
    "float": _check_float,
    "bool": _check_bool,
    "str": _check_text,
    "datetime": _check_datetime,
    "list[str]": _check_str_list,
    "findings": _check_findings,
    "transcript": _check_transcript,
}


def check_fields(rec: Any, *, keep_unknown: bool = False) -> tuple[dict[str, Any], list[Problem]]:
    """Check a record; return (normalised record in schema order, [(field, problem), ...]).

    The normalised record holds datetimes as aware UTC ``datetime`` objects and lists as lists.
    With ``keep_unknown=False`` unknown fields are problems; with True they are dropped silently.
    """
    rec = as_mapping(rec)
    if not isinstance(rec, Mapping):
        return {}, [(None, f"expected a JSON object (a record), got {show(rec)}")]
    # The version decides how to read everything else: check it first and stop if unknown.
    if "schema_version" not in rec:
        return {}, [
            ("schema_version", "missing field (every record starts with its schema_version)")
        ]
    _, problem = _check_int("schema_version", rec["schema_version"])
    if problem:
        return {}, [("schema_version", problem)]
    rec = upgrade_record(dict(rec))  # an older version read as the current one (v1 -> v2)
    problems: list[Problem] = []
    out: dict[str, Any] = {}
    for name, (kind, nullable) in FIELDS.items():
        value = rec.get(name)
        if value is None:
            if not nullable:
                problems.append((name, "missing field" if name not in rec else "must not be null"))
            out[name] = None
            continue
        value, problem = _CHECKERS[kind](name, value)
        if problem:
            problems.append((name, problem))
        out[name] = value
    if not keep_unknown:
        for name in rec:
            if name not in FIELDS:
                problems.append(
                    (
                        str(name),
                        f"unknown field (not in schema version {SCHEMA_VERSION}); "
                        "known fields are listed in smtplab.schema.FIELDS",
                    )
                )
    return out, problems


def first_error(
    problems: list[Problem], *, path: str | None = None, line: int | None = None
) -> RecordError:
    """The first problem of a record as a :class:`RecordError`."""
    field, reason = problems[0]
    return RecordError(reason, path=path, line=line, field=field)


def validate_record(rec: Any) -> list[str]:
    """The problems of one record, as readable sentences; an empty list means it is fine.

    ``rec`` is a dict in the record schema, or anything with a ``to_record()`` method (a probe
    result).  Example: ``["field 'port': expected an integer, got 'abc'"]``.
    """
    _, problems = check_fields(rec)
    return [where(None, None, field, reason) for field, reason in problems]


def check_record(rec: Any, *, path: str | None = None, line: int | None = None) -> dict[str, Any]:
    """A valid record as a plain dict in schema order; :class:`RecordError` for its first problem.

    Times come back as ISO-8601 UTC text, as they are written to JSON.
    """
    out, problems = check_fields(rec)
    if problems:
        raise first_error(problems, path=path, line=line)
    return to_json_ready(out)
