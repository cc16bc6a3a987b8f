"""What users and files give the engine: ages, onsets and term lists as typed, and cases read from JSON Lines."""

import difflib
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

from oms_cli.errors import InputError
from oms_cli.kb.terms import ONSETS

MAX_AGE_YEARS = 120.0

_UNITS = r"(?P<unit>years?|yrs?|y/o|yo|y|months?|mos?|mths?|m|weeks?|wks?|w|days?|d)"  # longest first: "mo" before "m"
_AGE_PART = re.compile(r"\s*(?P<num>\d+(?:\.\d+)?|\.\d+)\s*" + _UNITS + r"\.?\s*(?:,|and)?", re.IGNORECASE)
_AGE_NUMBER = re.compile(r"^\s*[-+]?(?:\d+(?:\.\d+)?|\.\d+)\s*$")
_AGE_SUFFIX = re.compile(r"\s*(?:old|of age)\s*$", re.IGNORECASE)
_PER_YEAR = {"y": 1.0, "m": 12.0, "w": 365.25 / 7.0, "d": 365.25}
AGE_HELP = "give years (3, 2.5), units (18m, 2y6m, 1 year 6 months, 2yo, 10d) or ISO 8601 (P2Y6M)"


def _unit(word: str) -> str:
    word = word.lower()
    if word.startswith(("mo", "mt")) or word == "m":
        return "m"
    return word[0]  # y(ears), y/o, yo; w(eeks); d(ays)


def parse_age(text: str) -> float:
    """Age in years as people type it: '3', '2.5', '18m', '18 mo', '2y6m', '2y 6m', '1 year 6 months', '2yo',
    '10 days', or an ISO 8601 duration ('P2Y6M')."""
    stripped = text.strip()
    if stripped[:1] in ("P", "p"):
        return parse_iso_age(stripped)
    if _AGE_NUMBER.match(stripped):
        return check_age(float(stripped), text)
    body = _AGE_SUFFIX.sub("", stripped)
    years, pos, seen = 0.0, 0, set()
    for match in _AGE_PART.finditer(body):
        unit = _unit(match.group("unit"))
        if match.start() != pos or unit in seen:  # text between the parts, or a unit given twice: not an age
            break
        seen.add(unit)
        years += float(match.group("num")) / _PER_YEAR[unit]
        pos = match.end()
    if not seen or pos != len(body) or body.rstrip().endswith((",", "and")):
        raise InputError(f"cannot read age {clip(text)!r}; {AGE_HELP}")
    return check_age(years, text)


def check_age(years: float, shown: object | None = None) -> float:
    """Reject ages that are not finite or lie outside 0-120 years; -0 becomes 0."""
    if not math.isfinite(years) or years < 0 or years > MAX_AGE_YEARS:
        what = clip(str(shown)) if shown is not None else repr(years)
        raise InputError(f"impossible age {what!r}: must be between 0 and {MAX_AGE_YEARS:g} years")
    return years + 0.0  # -0.0 + 0.0 is 0.0: never echoed as "-0.0"


def parse_onset(text: str) -> str:
    """One of the onset tempos, case-insensitively."""
    key = text.strip().lower()
    if key in ONSETS:
        return key
    close = difflib.get_close_matches(key, ONSETS, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise InputError(f"unknown onset {text!r}{hint} (choose from {', '.join(ONSETS)})")


def split_terms(values: list[str] | None) -> list[str]:
    """Flatten repeated options and comma-separated lists; drop empty items."""
    out: list[str] = []
    for value in values or []:
        out += [part.strip() for part in value.split(",") if part.strip()]
    return out


_NUM = r"\d+(?:[.,]\d+)?"
_ISO_DURATION = (
    rf"^P(?:(?P<y>{_NUM})Y)?(?:(?P<m>{_NUM})M)?(?:(?P<w>{_NUM})W)?(?:(?P<d>{_NUM})D)?"
    rf"(?:T(?:(?P<h>{_NUM})H)?(?:(?P<mi>{_NUM})M)?(?:(?P<s>{_NUM})S)?)?$"
)  # compiled on first use (re caches it): only phenopackets and ages starting with P need it
_SECONDS_PER_YEAR = 365.25 * 86400.0


def parse_iso_age(text: str) -> float:
    """Age in years from an ISO 8601 duration (P3Y6M, P18M, P2W, P10D, P1DT12H), strictly: at least one
    component, and a T only before a time component ('P', 'PT' and 'P1YT' are refused, not read as 0)."""
    stripped = text.strip().upper()
    match = re.match(_ISO_DURATION, stripped)
    parts = {k: float(v.replace(",", ".")) for k, v in match.groupdict().items() if v is not None} if match else {}
    if not parts or stripped.endswith("T"):
        raise InputError(f"cannot read ISO 8601 age {clip(text)!r} (expected e.g. P3Y6M)")
    years = parts.get("y", 0.0) + sum(parts.get(u, 0.0) / _PER_YEAR[u] for u in ("m", "w", "d"))
    years += (parts.get("h", 0.0) * 3600.0 + parts.get("mi", 0.0) * 60.0 + parts.get("s", 0.0)) / _SECONDS_PER_YEAR
    return check_age(years, text)


# ----------------------------------------------------------------------------- cases (batch, evaluate)

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
    workup_present: tuple[str, ...] = ()  # test results, positive; used only when asked for (stage 2)
    workup_absent: tuple[str, ...] = ()  # tests done and normal

    def with_workup(self) -> "Case":
        """The case after its work-up: test results added to the findings."""
        return self._replace(
            present=(*self.present, *self.workup_present),
            absent=(*self.absent, *self.workup_absent),
            workup_present=(),
            workup_absent=(),
        )


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
    """A case from one parsed JSON object (keys id, present, absent, workup_present, workup_absent, age_years, onset,
    diagnosis)."""
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
        _terms(obj, "workup_present"),
        _terms(obj, "workup_absent"),
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
