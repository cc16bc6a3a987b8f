"""Parsing of user-entered ages, onsets and finding lists into engine inputs."""

from __future__ import annotations

import difflib
import math
import re

from oms_cli.errors import InputError

ONSETS: tuple[str, ...] = ("acute", "subacute", "chronic", "episodic")
MAX_AGE_YEARS = 120.0

_AGE = re.compile(
    r"^\s*(?P<num>[-+]?(?:\d+(?:\.\d+)?|\.\d+))\s*"
    r"(?P<unit>y|yr|yrs|year|years|m|mo|mos|month|months|w|wk|wks|week|weeks|d|day|days)?\s*$",
    re.IGNORECASE,
)
_PER_YEAR = {"y": 1.0, "m": 12.0, "w": 365.25 / 7.0, "d": 365.25}


def parse_age(text: str) -> float:
    """Age in years from '3', '2.5', '18m', '18mo', '2y', '10 days' and the like."""
    match = _AGE.match(text)
    if not match:
        raise InputError(f"cannot read age {text!r}; give years (3, 2.5) or a unit (18m, 2y, 6w, 10d)")
    value = float(match.group("num"))
    unit = (match.group("unit") or "y").lower()
    years = value / _PER_YEAR["m" if unit.startswith("mo") or unit == "m" else unit[0]]
    return check_age(years, text)


def check_age(years: float, shown: object | None = None) -> float:
    """Reject ages that are not finite or lie outside 0-120 years."""
    if not math.isfinite(years) or years < 0 or years > MAX_AGE_YEARS:
        raise InputError(
            f"impossible age {shown if shown is not None else years!r}: must be between 0 and {MAX_AGE_YEARS:g} years"
        )
    return years


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


_ISO_DURATION = (
    r"^P(?!$)(?:(?P<y>\d+(?:\.\d+)?)Y)?(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<w>\d+(?:\.\d+)?)W)?(?:(?P<d>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:\d+(?:\.\d+)?H)?(?:\d+(?:\.\d+)?M)?(?:\d+(?:\.\d+)?S)?)?$"
)  # compiled on first use (re caches it): only phenopacket input needs it


def parse_iso_age(text: str) -> float:
    """Age in years from an ISO 8601 duration as phenopackets write it (P3Y6M, P18M, P2W, P10D)."""
    match = re.match(_ISO_DURATION, text.strip().upper())
    if not match:
        raise InputError(f"cannot read ISO 8601 age {text!r} (expected e.g. P3Y6M)")
    parts = {k: float(v) for k, v in match.groupdict().items() if v is not None}
    years = parts.get("y", 0.0) + sum(parts.get(u, 0.0) / _PER_YEAR[u] for u in ("m", "w", "d"))
    return check_age(years, text)
