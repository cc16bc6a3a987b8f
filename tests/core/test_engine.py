"""Engine behaviour on the toy knowledge base: the open world, background rates, nesting, overlap groups,
implied onsets and age-specific frequencies, against numbers worked out by hand (tests/data/README.md)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from oms_cli.core.engine import Query, age_group, implications, normalise_query, rank
from oms_cli.errors import InputError, UnknownFindingError
from oms_cli.kb.compiled import CompiledKnowledgeBase

# Priors at an unknown age (mean of child and adult): alpha .35, beta .2, gamma .2, delta .15, other .1.
PRIOR = {"alpha": 0.35, "beta": 0.2, "gamma": 0.2, "delta": 0.15, "other": 0.1}


def probs(kb: CompiledKnowledgeBase, q: Query) -> dict[str, float]:
    res = rank(kb, q)
    return {**{r.id: r.probability for r in res.results}, "other": res.other_probability}


def findings_likelihood(kb: CompiledKnowledgeBase, q: Query, cid: str) -> float:
    (r,) = [r for r in rank(kb, q).results if r.id == cid]
    return math.exp(r.log_findings)


def posterior_from(joints: dict[str, float]) -> dict[str, float]:
    z = math.fsum(joints.values())
    return {k: v / z for k, v in joints.items()}


def test_prior_only_leaves_other_its_share(toy_kb: CompiledKnowledgeBase) -> None:
    assert probs(toy_kb, Query()) == pytest.approx(PRIOR)


@pytest.mark.parametrize(
    ("query", "likelihoods"),
    [
        # alpha lists spots .9, beta and gamma .1; delta does not list it and other never does: background .1.
        (Query(present=("spots",)), {"alpha": 0.9, "beta": 0.1, "gamma": 0.1, "delta": 0.1, "other": 0.1}),
        (Query(absent=("spots",)), {"alpha": 0.1, "beta": 0.9, "gamma": 0.9, "delta": 0.9, "other": 0.9}),
        # fine-spots is within spots: alpha lists .6; the others take the background share of their spots.
        (
            Query(present=("fine-spots",)),
            {"alpha": 0.6, "beta": 0.1 * 0.5, "gamma": 0.1 * 0.5, "delta": 0.05, "other": 0.05},
        ),
    ],
)
def test_posterior_matches_hand_computed_bayes(
    toy_kb: CompiledKnowledgeBase, query: Query, likelihoods: dict[str, float]
) -> None:
    expected = posterior_from({k: PRIOR[k] * likelihoods[k] for k in PRIOR})
    assert probs(toy_kb, query) == pytest.approx(expected)


def test_entering_the_broader_finding_as_well_changes_nothing(toy_kb: CompiledKnowledgeBase) -> None:
    narrow = Query(present=("fine-spots",), age_years=5)
    both = Query(present=("fine-spots", "spots"), age_years=5)
    assert probs(toy_kb, both) == probs(toy_kb, narrow)
    known = implications(toy_kb, narrow)
    assert known.implied_present == ("spots",) and known.present == {"fine-spots", "spots"}


def test_an_absent_broader_finding_rules_out_the_narrower(toy_kb: CompiledKnowledgeBase) -> None:
    known = implications(toy_kb, Query(absent=("spots",)))
    assert known.implied_absent == ("fine-spots",)
    assert probs(toy_kb, Query(absent=("spots", "fine-spots"))) == probs(toy_kb, Query(absent=("spots",)))
    with pytest.raises(InputError, match="fine-spots"):
        normalise_query(toy_kb, ["fine-spots"], ["spots"], None, None)


def test_overlapping_findings_count_once(toy_kb: CompiledKnowledgeBase) -> None:
    # alpha lists cough .2 and not wheeze (child background .2); the cough-or-wheeze group has dependence .5, so
    # P(at least one) = .2 + .5 * (1 - .8 * .8 - .2) = .28, and P(both) = .2 + .2 - .28 = .12, not .04.
    both = Query(present=("cough", "wheeze"), age_years=5)
    assert findings_likelihood(toy_kb, both, "alpha") == pytest.approx(0.12, rel=1e-6)
    assert findings_likelihood(toy_kb, Query(present=("cough",), age_years=5), "alpha") == pytest.approx(0.2, rel=1e-6)
    assert findings_likelihood(toy_kb, Query(absent=("cough", "wheeze"), age_years=5), "alpha") == pytest.approx(
        1 - 0.28, rel=1e-6
    )


def test_a_required_group_collapses_when_every_member_is_absent(toy_kb: CompiledKnowledgeBase) -> None:
    # beta needs cough or wheeze: at least one in .95 of children with it.
    none = Query(absent=("cough", "wheeze"), age_years=5)
    assert findings_likelihood(toy_kb, none, "beta") == pytest.approx(0.05, rel=1e-6)
    one_unknown = Query(absent=("cough",), age_years=5)
    assert findings_likelihood(toy_kb, one_unknown, "beta") == pytest.approx(1 - 0.8, rel=1e-6)
    assert probs(toy_kb, none)["beta"] < probs(toy_kb, one_unknown)["beta"] / 3


def test_a_finding_that_implies_the_onset_sets_it(toy_kb: CompiledKnowledgeBase) -> None:
    known = implications(toy_kb, Query(present=("sudden",)))
    assert known.onset == "acute" and known.onset_implied_by == "sudden"
    # alpha: sudden .2 overall, .25 of its onsets acute: P(acute) * P(sudden | acute) = .2, as if entered alone.
    res = rank(toy_kb, Query(present=("sudden",)))
    alpha = next(r for r in res.results if r.id == "alpha")
    assert math.exp(alpha.log_onset + alpha.log_findings) == pytest.approx(0.2)
    assert probs(toy_kb, Query(present=("sudden",), onset="acute")) == probs(toy_kb, Query(present=("sudden",)))
    with pytest.raises(InputError, match="implies an acute onset"):
        normalise_query(toy_kb, ["sudden"], [], None, "chronic")
    assert "sudden" in implications(toy_kb, Query(onset="chronic")).implied_absent


@pytest.mark.parametrize(("age", "value"), [(5.0, 0.7), (40.0, 0.3), (None, 0.5)])
def test_age_specific_frequencies(toy_kb: CompiledKnowledgeBase, age: float | None, value: float) -> None:
    q = Query(present=("wheeze",), age_years=age)
    # beta lists wheeze .7 for children and .3 for adults; an unknown age takes the mean.
    assert findings_likelihood(toy_kb, q, "beta") == pytest.approx(value, rel=1e-6)


@pytest.mark.parametrize(
    ("query", "first"),
    [
        (Query(present=("spots",)), "alpha"),
        (Query(present=("cough", "limp")), "beta"),
        (Query(present=("limp",), onset="acute"), "delta"),
        (Query(present=("limp",), absent=("cough",), age_years=40), "delta"),
        (Query(absent=("spots",), age_years=5), "beta"),
        (Query(present=("swab-positive",)), "alpha"),
    ],
)
def test_ranking_table(toy_kb: CompiledKnowledgeBase, query: Query, first: str) -> None:
    assert rank(toy_kb, query).results[0].id == first


def test_identical_conditions_tie_break_by_id(toy_kb: CompiledKnowledgeBase) -> None:
    ids = [r.id for r in rank(toy_kb, Query(present=("limp",))).results]
    assert ids.index("beta") + 1 == ids.index("gamma")


def test_age_uses_group_priors_and_band_profile(toy_kb: CompiledKnowledgeBase) -> None:
    child = probs(toy_kb, Query(age_years=5))
    adult = probs(toy_kb, Query(age_years=40))
    # children: delta prior .1, its child band is the only one (weight 1); other gets 1 - .9 = .1
    assert child["delta"] == pytest.approx(0.1) and child["other"] == pytest.approx(0.1)
    # adults: priors .3 .2 .2 .2, other .1; one adult band each: the priors stand
    assert adult["delta"] == pytest.approx(0.2) and adult["other"] == pytest.approx(0.1)


@pytest.mark.parametrize(
    ("age", "group"), [(None, None), (0.0, "child"), (17.99, "child"), (18.0, "adult"), (120.0, "adult")]
)
def test_age_group(age: float | None, group: str | None) -> None:
    assert age_group(age) == group


def test_onset_term(toy_kb: CompiledKnowledgeBase) -> None:
    # delta: .7 of onsets acute; alpha, beta, gamma and other: .25
    expected = posterior_from({k: PRIOR[k] * (0.7 if k == "delta" else 0.25) for k in PRIOR})
    assert probs(toy_kb, Query(onset="acute")) == pytest.approx(expected)


def test_contribution_is_log_lr_against_prior_weighted_others(toy_kb: CompiledKnowledgeBase) -> None:
    res = rank(toy_kb, Query(present=("spots",)))
    alpha = next(r for r in res.results if r.id == "alpha")
    (c,) = alpha.contributions
    others = (0.2 * 0.1 + 0.2 * 0.1 + 0.15 * 0.1 + 0.1 * 0.1) / (1 - 0.35)
    assert c.log_lr == pytest.approx(math.log(0.9 / others))
    assert c.state == "present" and c.listed
    delta = next(r for r in res.results if r.id == "delta")
    assert delta.contributions[0].listed is False and delta.contributions[0].log_lr < 0


def test_a_finding_no_condition_lists_moves_nothing(toy_kb: CompiledKnowledgeBase) -> None:
    # rare-sign takes its background rate everywhere, other causes included: no evidence for or against anything.
    assert probs(toy_kb, Query(present=("rare-sign",))) == pytest.approx(probs(toy_kb, Query()))


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


FINDINGS = ["spots", "fine-spots", "cough", "wheeze", "limp", "rare-sign", "sudden", "swab-positive"]


@settings(max_examples=300, deadline=None)
@given(
    states=st.lists(st.sampled_from(["present", "absent", "unknown"]), min_size=8, max_size=8),
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
    try:
        implications(toy_kb, q)
    except InputError:
        return  # a contradiction through nesting or the onset: refused, never scored
    res = rank(toy_kb, q)
    ps = [r.probability for r in res.results]
    assert math.fsum([*ps, res.other_probability]) == pytest.approx(1.0, abs=1e-12)
    assert all(0 <= p <= 1 for p in ps)
    assert ps == sorted(ps, reverse=True)
    assert [r.rank for r in res.results] == list(range(1, len(ps) + 1))
    for r in res.results:  # the unnormalised terms reproduce each probability
        assert math.exp(r.log_joint - res.log_evidence) == pytest.approx(r.probability, rel=1e-9)
    # Adding what the findings imply changes nothing: the broader findings of those present, the onset they set.
    known = implications(toy_kb, q)
    explicit = Query(tuple(sorted(known.present)), tuple(sorted(known.absent)), age, known.onset)
    assert probs(toy_kb, explicit) == pytest.approx(probs(toy_kb, q), rel=1e-12)
    assert rank(toy_kb, q) == res
