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
        # as people type them
        ("2y6m", 2.5),
        ("2y 6m", 2.5),
        ("1 year 6 months", 1.5),
        ("1 year, 6 months", 1.5),
        ("2yo", 2.0),
        ("2 y/o", 2.0),
        ("3 years old", 3.0),
        ("18 mo", 1.5),
        ("P2Y6M", 2.5),
        ("p18m", 1.5),
        ("-0", 0.0),
    ],
)
def test_parse_age(text: str, years: float) -> None:
    assert parse_age(text) == pytest.approx(years)


@pytest.mark.parametrize(
    "text", ["-1", "121", "abc", "", "3x", "nan", "inf", "1e3", "1500m", "2y2y", "2 years and", "2y junk", "PT", "P"]
)
def test_parse_age_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_age(text)


def test_minus_zero_is_zero() -> None:
    assert str(parse_age("-0")) == "0.0"


@given(
    st.integers(0, 100),
    st.integers(0, 11),
    st.sampled_from(["{y}y{m}m", "{y}y {m}m", "{y} years {m} months", "{y} yrs, {m} mo", "P{y}Y{m}M"]),
)
def test_compound_ages_agree_with_the_plain_forms(y: int, m: int, form: str) -> None:
    expected = parse_age(str(y)) + parse_age(f"{m}m")
    assert parse_age(form.format(y=y, m=m)) == pytest.approx(expected)
    assert parse_age(f"P{y}Y{m}M") == pytest.approx(expected)


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
    [
        ("P3Y6M", 3.5),
        ("P18M", 1.5),
        ("P2W", 14 / 365.25),
        ("P10D", 10 / 365.25),
        ("p2y", 2.0),
        ("P1Y0M", 1.0),
        ("PT5H", 5 / (24 * 365.25)),
        ("P1DT12H", 1.5 / 365.25),
    ],
)
def test_parse_iso_age(text: str, years: float) -> None:
    assert parse_iso_age(text) == pytest.approx(years)


@pytest.mark.parametrize("text", ["P", "PT", "P1YT", "3Y", "P-1Y", "P200Y", "P3Y6", "", "PXY"])
def test_parse_iso_age_rejects(text: str) -> None:
    with pytest.raises(InputError):
        parse_iso_age(text)
