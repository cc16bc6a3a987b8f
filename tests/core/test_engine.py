"""Engine behaviour on the toy knowledge base: posterior arithmetic, terms, ties and contributions."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_cli.core.engine import Query, age_group, normalise_query, rank
from oms_cli.errors import InputError, UnknownFindingError
from oms_cli.kb.compiled import CompiledKnowledgeBase


def probs(kb: CompiledKnowledgeBase, q: Query) -> dict[str, float]:
    return {r.id: r.probability for r in rank(kb, q).results}


def test_prior_only_is_the_renormalised_prior(toy_kb: CompiledKnowledgeBase) -> None:
    p = probs(toy_kb, Query())
    # unknown age: mean of child and adult priors -> 0.5, 0.25, 0.25, 0.25 -> /1.25
    assert p == pytest.approx({"alpha": 0.4, "beta": 0.2, "gamma": 0.2, "delta": 0.2})


def test_present_finding_matches_hand_computed_bayes(toy_kb: CompiledKnowledgeBase) -> None:
    p = probs(toy_kb, Query(present=("spots",)))
    # joint: alpha .5*.9, beta .25*.1, gamma .25*.1, delta .25*.1 (leak)
    z = 0.45 + 0.025 * 3
    assert p["alpha"] == pytest.approx(0.45 / z)
    assert p["delta"] == pytest.approx(0.025 / z)


def test_absent_finding_uses_complement(toy_kb: CompiledKnowledgeBase) -> None:
    p = probs(toy_kb, Query(absent=("spots",)))
    z = 0.5 * 0.1 + 0.25 * 0.9 * 3
    assert p["alpha"] == pytest.approx(0.05 / z)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        (Query(present=("spots",)), "alpha"),
        (Query(present=("cough", "limp")), "beta"),
        (Query(present=("limp",), onset="acute"), "delta"),
        (Query(present=("limp",), absent=("cough",), age_years=40), "delta"),
        (Query(absent=("spots",), age_years=5), "beta"),
    ],
)
def test_ranking_table(toy_kb: CompiledKnowledgeBase, query: Query, first: str) -> None:
    assert rank(toy_kb, query).results[0].id == first


def test_identical_conditions_tie_break_by_id(toy_kb: CompiledKnowledgeBase) -> None:
    ids = [r.id for r in rank(toy_kb, Query(present=("cough",))).results]
    assert ids.index("beta") + 1 == ids.index("gamma")


def test_age_uses_group_priors_and_band_profile(toy_kb: CompiledKnowledgeBase) -> None:
    child = probs(toy_kb, Query(age_years=5))
    adult = probs(toy_kb, Query(age_years=40))
    # delta: child prior .1 with band weight .2/(.2+.8) within the child group... only one child band -> 1
    assert child["delta"] == pytest.approx(0.1 / 1.1)
    assert adult["delta"] == pytest.approx(0.4 / 1.4)


@pytest.mark.parametrize(
    ("age", "group"), [(None, None), (0.0, "child"), (17.99, "child"), (18.0, "adult"), (120.0, "adult")]
)
def test_age_group(age: float | None, group: str | None) -> None:
    assert age_group(age) == group


def test_onset_term(toy_kb: CompiledKnowledgeBase) -> None:
    p = probs(toy_kb, Query(onset="acute"))
    z = 0.5 * 0.25 + 0.25 * 0.25 * 2 + 0.25 * 0.7
    assert p["delta"] == pytest.approx(0.25 * 0.7 / z)


def test_contribution_is_log_lr_against_prior_weighted_others(toy_kb: CompiledKnowledgeBase) -> None:
    res = rank(toy_kb, Query(present=("spots",)))
    alpha = next(r for r in res.results if r.id == "alpha")
    (c,) = alpha.contributions
    others = (0.25 * 0.1 * 3) / 0.75
    assert c.log_lr == pytest.approx(math.log(0.9 / others))
    assert c.state == "present" and c.listed
    delta = next(r for r in res.results if r.id == "delta")
    assert delta.contributions[0].listed is False
    assert delta.contributions[0].log_lr < 0


def test_unlisted_finding_warns_and_changes_nothing(toy_kb: CompiledKnowledgeBase) -> None:
    res = rank(toy_kb, Query(present=("rare-sign",)))
    assert any("rare-sign" in w for w in res.warnings)
    assert {r.id: r.probability for r in res.results} == pytest.approx(probs(toy_kb, Query()))


def test_top_limits_results(toy_kb: CompiledKnowledgeBase) -> None:
    assert [r.rank for r in rank(toy_kb, Query(), top=2).results] == [1, 2]


def test_normalise_query_resolves_and_rejects_conflicts(toy_kb: CompiledKnowledgeBase) -> None:
    q = normalise_query(toy_kb, ["Red Dots", "HP:0000001", "cough"], ["LIMP"], 3.0, "acute")
    assert q.present == ("spots", "cough") and q.absent == ("limp",)
    with pytest.raises(InputError, match="both present and absent: spots"):
        normalise_query(toy_kb, ["spots"], ["red_dots"], None, None)
    with pytest.raises(UnknownFindingError):
        normalise_query(toy_kb, ["sopts"], [], None, None)
    with pytest.raises(InputError):
        normalise_query(toy_kb, [], [], 130.0, None)


FINDINGS = ["spots", "cough", "limp", "rare-sign"]


@settings(max_examples=200, deadline=None)
@given(
    states=st.lists(st.sampled_from(["present", "absent", "unknown"]), min_size=4, max_size=4),
    age=st.one_of(st.none(), st.floats(min_value=0, max_value=120)),
    onset=st.one_of(st.none(), st.sampled_from(["acute", "subacute", "chronic", "episodic"])),
)
def test_posterior_is_a_distribution_and_sorted(
    toy_kb: CompiledKnowledgeBase, states: list[str], age: float | None, onset: str | None
) -> None:
    q = Query(
        present=tuple(f for f, s in zip(FINDINGS, states, strict=True) if s == "present"),
        absent=tuple(f for f, s in zip(FINDINGS, states, strict=True) if s == "absent"),
        age_years=age,
        onset=onset,
    )
    res = rank(toy_kb, q)
    ps = [r.probability for r in res.results]
    assert math.fsum(ps) == pytest.approx(1.0, abs=1e-12)
    assert all(0 <= p <= 1 for p in ps)
    assert ps == sorted(ps, reverse=True)
    assert [r.rank for r in res.results] == list(range(1, len(ps) + 1))
    # the unnormalised terms reproduce each probability
    for r in res.results:
        assert math.exp(r.log_joint - res.log_evidence) == pytest.approx(r.probability, rel=1e-9)
    assert rank(toy_kb, q) == res
