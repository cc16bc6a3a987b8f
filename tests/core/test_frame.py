"""score_frame: the data-frame API gives suggest's numbers bit for bit, in either layout, and reports bad rows."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_cli import score_frame
from oms_cli.core.engine import normalise_query, rank
from oms_cli.core.frame import frame_meta, result_columns
from oms_cli.errors import InputError, OmsError
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import DEV_V2

needs_dev_v2 = pytest.mark.skipif(not DEV_V2.is_file(), reason="../shared/vignettes/dev-v2.jsonl not present")


def _expected(kb: CompiledKnowledgeBase, present: Any, absent: Any, age: Any, onset: Any) -> Any:
    """What suggest says about one case: (ranked (id, probability) pairs, other) or the error message."""
    try:
        query = normalise_query(kb, list(present), list(absent), age, onset)
        ranking = rank(kb, query, contributions=False)
    except OmsError as err:
        return err.message
    return [(r.id, r.probability) for r in ranking.results], ranking.other_probability


def _row(out: pd.DataFrame, i: int, k: int) -> Any:
    row = out.iloc[i]
    if isinstance(row["error"], str):
        return row["error"]
    return [(row[f"condition_{j}"], row[f"probability_{j}"]) for j in range(1, k + 1)], row["other_probability"]


@needs_dev_v2
@pytest.mark.parametrize("workup", [False, True], ids=["stage1", "stage2"])
def test_development_cases_match_suggest_exactly(shipped_kb: CompiledKnowledgeBase, workup: bool) -> None:
    cases = [json.loads(line) for line in DEV_V2.read_text(encoding="utf-8").splitlines() if line.strip()]
    if workup:
        for c in cases:
            c["present"] = c["present"] + c.get("workup_present", [])
            c["absent"] = c["absent"] + c.get("workup_absent", [])
    df = pd.DataFrame(cases, index=pd.Index([f"row{i}" for i in range(len(cases))], name="key"))
    out = score_frame(df, shipped_kb, top=None, all_conditions=True)
    assert list(out.index) == list(df.index) and out.index.name == "key"
    n = len(shipped_kb.conditions)
    for i, c in enumerate(cases):
        ranked, other = _expected(shipped_kb, c["present"], c["absent"], c["age_years"], c["onset"])
        assert _row(out, i, n) == (ranked, other)  # bit for bit
        for cid, p in ranked:
            assert out.iloc[i][f"p_{cid}"] == p
        assert all(abs(out.iloc[i][f"probability_{j + 1}"] - p) <= 1e-12 for j, (_, p) in enumerate(ranked))


def test_columns_and_dtypes_match_the_declared_meta(toy_kb: CompiledKnowledgeBase) -> None:
    df = pd.DataFrame({"present": [["spots"], []], "absent": [[], ["cough"]]})
    out = score_frame(df, toy_kb, top=2, keep=["present"])
    assert list(out.columns) == ["present", *[name for name, _ in result_columns(toy_kb, 2)]]
    meta = frame_meta(toy_kb, 2)
    assert out.drop(columns="present").dtypes.to_dict() == meta.dtypes.to_dict()
    assert list(out.columns[1:]) == [
        "condition_1",
        "probability_1",
        "condition_2",
        "probability_2",
        "other_probability",
        "error",
    ]


def test_comma_strings_lists_arrays_and_missing_values_read_alike(toy_kb: CompiledKnowledgeBase) -> None:
    as_lists = pd.DataFrame(
        {
            "present": [["spots", "cough"], ["limp"], []],
            "absent": [["wheeze"], [], ["spots"]],
            "age_years": [3, 40, None],
        }
    )
    as_text = pd.DataFrame(
        {"present": ["spots, cough", "limp", None], "absent": ["wheeze", "", np.nan], "age_years": ["3", "40y", None]}
    )
    as_text.loc[2, "absent"] = "spots"
    as_arrays = as_lists.assign(present=[np.array(v, dtype=object) for v in as_lists["present"]])
    a = score_frame(as_lists, toy_kb)
    pd.testing.assert_frame_equal(score_frame(as_text, toy_kb), a, check_exact=True)
    pd.testing.assert_frame_equal(score_frame(as_arrays, toy_kb), a, check_exact=True)


def test_wide_layout_matches_the_long_one(toy_kb: CompiledKnowledgeBase) -> None:
    long = pd.DataFrame(
        {
            "present": [["spots"], ["fine-spots", "cough"], []],
            "absent": [["cough"], [], ["limp"]],
            "age_years": [3.0, 70.0, np.nan],
            "onset": ["acute", None, "Chronic"],
        }
    )
    wide = pd.DataFrame(
        {
            "spots": pd.array([True, None, None], dtype="boolean"),
            "fine_spots": [None, True, None],  # a synonym spelling of the id
            "cough": [0, 1, np.nan],
            "limp": [np.nan, np.nan, 0.0],
            "age_years": [3.0, 70.0, np.nan],
            "onset": ["acute", None, "Chronic"],
            "notes": ["x", "y", "z"],  # not a finding: ignored
        }
    )
    pd.testing.assert_frame_equal(score_frame(wide, toy_kb), score_frame(long, toy_kb), check_exact=True)
    named = score_frame(wide, toy_kb, findings=["spots", "fine_spots", "cough", "limp"])
    pd.testing.assert_frame_equal(named, score_frame(long, toy_kb), check_exact=True)
    with pytest.raises(OmsError):
        score_frame(wide, toy_kb, findings=["sopts"])


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ({"present": ["sopts"]}, "unknown finding 'sopts'"),
        ({"present": ["spots"], "absent": ["spots"]}, "both present and absent: spots"),
        ({"present": ["fine-spots"], "absent": ["spots"]}, "both present and absent once nesting is applied"),
        ({"present": ["sudden"], "onset": "chronic"}, "sudden implies an acute onset"),
        ({"present": ["spots"], "age_years": 130}, "impossible age"),
        ({"present": ["spots"], "age_years": "tall"}, "cannot read age"),
        ({"present": ["spots"], "onset": "yesterday"}, "unknown onset"),
        ({"present": [3]}, "'present' must be a list of finding names"),
    ],
)
def test_a_bad_row_gets_its_reason_and_the_others_are_scored(
    toy_kb: CompiledKnowledgeBase, row: dict[str, Any], message: str
) -> None:
    good = {"present": ["spots"], "absent": [], "age_years": 5.0, "onset": None}
    df = pd.DataFrame([good, {**good, **row}, good])
    out = score_frame(df, toy_kb)
    assert message in out.iloc[1]["error"]
    assert math.isnan(out.iloc[1]["probability_1"]) and pd.isna(out.iloc[1]["condition_1"])
    assert out.iloc[0].equals(out.iloc[2]) and pd.isna(out.iloc[0]["error"])


def test_top_is_clamped_and_checked(toy_kb: CompiledKnowledgeBase) -> None:
    df = pd.DataFrame({"present": [["spots"]]})
    assert "condition_4" in score_frame(df, toy_kb, top=99).columns
    assert "condition_5" not in score_frame(df, toy_kb, top=99).columns
    with pytest.raises(InputError):
        score_frame(df, toy_kb, top=0)


def test_a_frame_without_findings_is_an_input_error(toy_kb: CompiledKnowledgeBase) -> None:
    with pytest.raises(InputError, match="no 'present' or 'absent' column"):
        score_frame(pd.DataFrame({"age_years": [3.0], "notes": ["x"]}), toy_kb)


def test_an_empty_frame_gives_an_empty_result(toy_kb: CompiledKnowledgeBase) -> None:
    out = score_frame(pd.DataFrame({"present": pd.Series([], dtype=object)}), toy_kb)
    assert len(out) == 0 and list(out.columns) == [name for name, _ in result_columns(toy_kb, 3)]


TOY_TERMS = ["spots", "fine-spots", "cough", "wheeze", "limp", "rare-sign", "sudden", "swab-positive", "red dots", "x"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(
        st.tuples(
            st.lists(st.sampled_from(TOY_TERMS), max_size=5),
            st.lists(st.sampled_from(TOY_TERMS), max_size=4),
            st.one_of(st.none(), st.floats(min_value=0, max_value=120), st.just(float("nan"))),
            st.sampled_from([None, "acute", "subacute", "chronic", "episodic"]),
        ),
        max_size=30,
    )
)
def test_generated_frames_match_suggest(toy_kb: CompiledKnowledgeBase, rows: list[tuple[Any, ...]]) -> None:
    df = pd.DataFrame(rows, columns=["present", "absent", "age_years", "onset"], dtype=object)
    out = score_frame(df, toy_kb, top=None)
    n = len(toy_kb.conditions)
    for i, (p, a, age, onset) in enumerate(rows):
        age = None if age is None or math.isnan(age) else age
        want = _expected(toy_kb, p, a, age, onset)
        got = _row(out, i, n)
        assert got == want if isinstance(want, tuple) else want in got
