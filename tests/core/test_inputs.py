"""Parsing of ages, onsets and finding lists."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_cli.core.inputs import parse_age, parse_iso_age, parse_onset, split_terms
from oms_cli.errors import InputError


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("3", 3.0),
        ("2.5", 2.5),
        (".5", 0.5),
        ("18m", 1.5),
        ("18mo", 1.5),
        ("18 months", 1.5),
        ("2y", 2.0),
        ("2 Years", 2.0),
        ("0", 0.0),
        ("120", 120.0),
        ("26w", 26 * 7 / 365.25),
        ("10d", 10 / 365.25),
    ],
)
def test_parse_age(text: str, years: float) -> None:
    assert parse_age(text) == pytest.approx(years)


@pytest.mark.parametrize("text", ["-1", "121", "abc", "", "3x", "nan", "inf", "1e3", "1500m"])
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_age(text)


@given(st.text(max_size=20))
def test_parse_age_only_raises_input_error(text: str) -> None:
    try:
        years = parse_age(text)
    except InputError:
        return
    assert 0 <= years <= 120


@pytest.mark.parametrize(("text", "onset"), [("acute", "acute"), (" SubAcute ", "subacute"), ("episodic", "episodic")])
def test_parse_onset(text: str, onset: str) -> None:
    assert parse_onset(text) == onset


def test_parse_onset_suggests() -> None:
    with pytest.raises(InputError, match="did you mean 'chronic'"):
        parse_onset("chronc")


def test_split_terms() -> None:
    assert split_terms(["a,b", " c ", ",,", "d"]) == ["a", "b", "c", "d"]
    assert split_terms(None) == []


@pytest.mark.parametrize(
    ("text", "years"),
    [("P3Y6M", 3.5), ("P18M", 1.5), ("P2W", 14 / 365.25), ("P10D", 10 / 365.25), ("p2y", 2.0), ("P1Y0M", 1.0)],
)
def test_parse_iso_age(text: str, years: float) -> None:
    assert parse_iso_age(text) == pytest.approx(years)


@pytest.mark.parametrize("text", ["P", "3Y", "P-1Y", "P200Y", "P3Y6", "", "PXY"])
def test_parse_iso_age_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_iso_age(text)
