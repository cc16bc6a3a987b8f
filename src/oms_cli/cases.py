"""Case records for batch runs: reading JSON Lines cases into engine inputs, one line at a time."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from oms_cli.errors import InputError
from oms_cli.parsing import check_age, parse_age, parse_onset

MAX_ERROR_CHARS = 300
_STR_ONLY = {str}


class Case(NamedTuple):
    """One case as read from its source, before its terms are resolved against a knowledge base."""

    id: str | int | None
    line: int
    present: tuple[str, ...]
    absent: tuple[str, ...]
    age_years: float | None
    onset: str | None
    diagnosis: str | None = None
    warnings: tuple[str, ...] = ()
    source: str | None = None


class CaseError(NamedTuple):
    """A line or file that could not be read as a case; it is reported, and the run goes on."""

    id: str | int | None
    line: int
    error: str
    code: str
    source: str | None = None


def clip(text: str) -> str:
    # A 10 MB line must not turn into a 10 MB error message.
    return text if len(text) <= MAX_ERROR_CHARS else text[:MAX_ERROR_CHARS] + "…"


def _case_id(obj: dict[str, Any]) -> str | int | None:
    value = obj.get("id")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        return None
    return value


def _terms(obj: dict[str, Any], key: str) -> tuple[str, ...]:
    value = obj.get(key)
    if value is None:
        return ()
    if type(value) is str:
        return (value,)
    if type(value) is not list or not set(map(type, value)) <= _STR_ONLY:  # C-level check, once per case
        raise InputError(f"'{key}' must be a list of finding names")
    return tuple(value)


def _age(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool):
        raise InputError("'age_years' must be a number, a string such as '18m', or null")
    if isinstance(value, (int, float)):
        years = float(value)
        return check_age(years, value if math.isfinite(years) else str(value))
    if isinstance(value, str):
        return parse_age(value)
    raise InputError("'age_years' must be a number, a string such as '18m', or null")


def case_from_object(obj: Any, line: int, source: str | None = None) -> Case:
    """A case from one parsed JSON object (keys id, present, absent, age_years, onset, diagnosis)."""
    if not isinstance(obj, dict):
        raise InputError(f"expected a JSON object, got {type(obj).__name__}")
    onset = obj.get("onset")
    if onset is not None and not isinstance(onset, str):
        raise InputError("'onset' must be a string or null")
    diagnosis = obj.get("diagnosis")
    return Case(
        _case_id(obj),
        line,
        _terms(obj, "present"),
        _terms(obj, "absent"),
        _age(obj.get("age_years")),
        parse_onset(onset) if onset is not None else None,
        diagnosis if isinstance(diagnosis, str) else None,
        (),
        source,
    )


def read_jsonl(lines: Iterable[bytes], source: str | None = None, first_line: int = 1) -> Iterator[Case | CaseError]:
    """Cases from JSON Lines, in order, one per non-blank line; a bad line yields a CaseError, never an exception.

    Lines are numbered from `first_line` (a chunk of a longer input knows where it starts)."""
    import orjson  # strict RFC 8259 (no NaN, no lone surrogates) and several times faster than json

    for number, raw in enumerate(lines, start=first_line):
        if not raw.strip():
            continue  # blank lines separate nothing and are not cases
        try:
            obj = orjson.loads(raw)  # validates UTF-8 itself; decoding first would cost a copy per line
        except orjson.JSONDecodeError as exc:
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as bad:
                yield CaseError(None, number, f"not UTF-8 text (byte {bad.start})", "invalid_encoding", source)
                continue
            yield CaseError(None, number, clip(f"invalid JSON: {exc.msg} (column {exc.colno})"), "invalid_json", source)
            continue
        try:
            yield case_from_object(obj, number, source)
        except InputError as err:
            yield CaseError(
                _case_id(obj) if isinstance(obj, dict) else None, number, clip(err.message), err.code, source
            )


def read_input_file(path: Path) -> bytes:
    """The bytes of a case file named by the user; InputError when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {path} ({exc.strerror or exc})") from None
