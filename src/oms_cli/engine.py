"""The naive-Bayes differential engine: pure functions from a query to a ranked, explained result."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

from oms_cli.errors import InputError
from oms_cli.knowledge import CompiledCondition, CompiledKnowledgeBase
from oms_cli.parsing import ONSETS, check_age

ADULT_AGE_YEARS = 18.0
_new_tuple = tuple.__new__


class Query(NamedTuple):
    """What is known about the patient; anything not entered is unknown and does not count."""

    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    age_years: float | None = None
    onset: str | None = None


class Contribution(NamedTuple):
    """How one entered finding moves one condition against the others (natural-log likelihood ratio)."""

    finding: str
    state: str
    log_lr: float
    p_condition: float
    p_others: float
    listed: bool


class ScoredCondition(NamedTuple):
    """One condition of the ranked differential with the terms that produced its score."""

    rank: int
    id: str
    name: str
    probability: float
    cant_miss: bool
    log_prior: float
    log_age: float
    log_onset: float
    log_findings: float
    contributions: tuple[Contribution, ...]

    @property
    def log_joint(self) -> float:
        """Unnormalised log posterior: prior + age + onset + findings."""
        return self.log_prior + self.log_age + self.log_onset + self.log_findings


class Ranking(NamedTuple):
    """The ranked differential for one query; probabilities sum to 1 over the listed conditions."""

    query: Query
    age_group: str | None
    results: tuple[ScoredCondition, ...]
    log_evidence: float
    warnings: tuple[str, ...] = ()


def normalise_query(
    kb: CompiledKnowledgeBase,
    present: Sequence[str],
    absent: Sequence[str],
    age_years: float | None,
    onset: str | None,
) -> Query:
    """Resolve user terms to canonical ids, de-duplicate, and reject contradictions."""
    resolve = kb.resolve_finding
    p = tuple(dict.fromkeys([resolve(t) for t in present]))
    a = tuple(dict.fromkeys([resolve(t) for t in absent])) if absent else ()
    both = [f for f in p if f in a] if a else None
    if both:
        raise InputError(f"finding(s) given as both present and absent: {', '.join(both)}")
    if age_years is not None:
        check_age(age_years)
    if onset is not None and onset not in ONSETS:
        raise InputError(f"unknown onset {onset!r} (choose from {', '.join(ONSETS)})")
    return _new_tuple(Query, (p, a, age_years, onset))


def age_group(age_years: float | None) -> str | None:
    """'child' below 18 years, 'adult' from 18, None when the age is unknown."""
    if age_years is None:
        return None
    return "adult" if age_years >= ADULT_AGE_YEARS else "child"


def age_band(kb: CompiledKnowledgeBase, age_years: float) -> str:
    """The id of the knowledge-base age band that contains an age."""
    known = kb.band_of.get(age_years)
    if known is not None:
        return known
    last = kb.bands[-1]
    for band_id, lo, hi, _group in kb.bands:
        if lo <= age_years < hi or (band_id == last[0] and age_years <= hi):
            if len(kb.band_of) < 4096:  # batch runs repeat ages; bounded so odd input cannot grow it
                kb.band_of[age_years] = band_id
            return band_id
    raise InputError(f"age {age_years:g} years falls in no age band of the knowledge base")


def _prior(c: CompiledCondition, group: str | None) -> float:
    if group == "child":
        return c.prior_child
    if group == "adult":
        return c.prior_adult
    return (c.prior_child + c.prior_adult) / 2.0


def _log_age(kb: CompiledKnowledgeBase, c: CompiledCondition, band: str) -> float:
    group = next(g for b, _lo, _hi, g in kb.bands if b == band)
    total = sum(c.age[b] for b, _lo, _hi, g in kb.bands if g == group)
    return math.log(c.age[band] / total)


def _log_onset(c: CompiledCondition, onset: str) -> float:
    return math.log(c.onset[onset] / sum(c.onset.values()))


_Base = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]


def _base_terms(kb: CompiledKnowledgeBase, group: str | None, band: str | None, onset: str | None) -> _Base:
    """Prior weights and the log prior, age and onset terms of every condition, and their sums.

    There are only a few dozen (group, band, onset) combinations, so they are computed once per knowledge base.
    """
    key = (group, band, onset)
    cached: _Base | None = kb.base_terms.get(key)
    if cached is not None:
        return cached
    conds = kb.conditions
    priors = [_prior(c, group) for c in conds]
    prior_total = math.fsum(priors)
    weights = tuple(p / prior_total for p in priors)
    log_priors = tuple(math.log(w) for w in weights)
    log_ages = tuple(_log_age(kb, c, band) for c in conds) if band is not None else (0.0,) * len(conds)
    log_onsets = tuple(_log_onset(c, onset) for c in conds) if onset is not None else (0.0,) * len(conds)
    sums = tuple(a + b + c for a, b, c in zip(log_priors, log_ages, log_onsets, strict=True))
    result = (weights, log_priors, log_ages, log_onsets, sums)
    kb.base_terms[key] = result
    return result


def likelihood(kb: CompiledKnowledgeBase, c: CompiledCondition, finding: str, present: bool) -> float:
    """P(finding observed as present/absent | condition), using the leak for unlisted findings."""
    p = c.findings.get(finding, kb.leak)
    return p if present else 1.0 - p


class Posterior(NamedTuple):
    """The arithmetic of one ranking, condition by condition in knowledge-base order, before any records."""

    group: str | None
    order: list[int]  # condition indices, most probable first (ties by condition id)
    joints: list[float]  # log prior + age + onset + findings
    log_evidence: float
    weights: tuple[float, ...]
    log_priors: tuple[float, ...]
    log_ages: tuple[float, ...]
    log_onsets: tuple[float, ...]
    log_findings: list[float] | tuple[float, ...]


def posterior(kb: CompiledKnowledgeBase, query: Query) -> Posterior:
    """The numbers behind `rank`, without building result records (what batch runs need per case)."""
    group = age_group(query.age_years)
    band = age_band(kb, query.age_years) if query.age_years is not None else None
    weights, log_priors, log_ages, log_onsets, base = _base_terms(kb, group, band, query.onset)
    columns = [kb.log_present[f] for f in query.present] + [kb.log_absent[f] for f in query.absent]
    # Column sums in C (map/zip/sum): each condition's log likelihood of the entered findings.
    log_findings: list[float] | tuple[float, ...] = (
        list(map(sum, zip(*columns, strict=True))) if columns else (0.0,) * len(base)
    )
    joints = [a + b for a, b in zip(base, log_findings, strict=True)]
    top_joint = max(joints)
    log_evidence = top_joint + math.log(math.fsum([math.exp(x - top_joint) for x in joints]))
    # Highest posterior first; ties keep condition-id order (kb.id_order is sorted by id, and sorting is stable).
    order = sorted(kb.id_order, key=joints.__getitem__, reverse=True)
    return _new_tuple(
        Posterior, (group, order, joints, log_evidence, weights, log_priors, log_ages, log_onsets, log_findings)
    )


def query_warnings(kb: CompiledKnowledgeBase, query: Query) -> tuple[str, ...]:
    """What the user should know about a query whatever the ranking: no findings, findings no condition lists."""
    warnings = []
    if not query.present and not query.absent:
        warnings.append("no findings entered: the ranking reflects only the prior, age and onset")
    unlisted = [f for f in query.present if f not in kb.listed_findings]
    if unlisted:
        warnings.append(f"no condition lists {', '.join(unlisted)}; it does not change the ranking")
    return tuple(warnings)


def rank(kb: CompiledKnowledgeBase, query: Query, top: int | None = None, contributions: bool = True) -> Ranking:
    """Posterior over the knowledge base's conditions (a closed world) for one query.

    `contributions=False` skips the per-finding likelihood ratios (batch runs that only need probabilities).
    """
    post = posterior(kb, query)
    n = len(kb.conditions)
    explained: list[tuple[Contribution, ...]] = [()] * n
    if contributions:
        explained = _contributions(kb, query, post.weights)
    order = post.order if top is None else post.order[: max(top, 0)]
    exp = math.exp
    heads = kb.condition_heads
    joints, log_evidence = post.joints, post.log_evidence
    # A list comprehension and tuple.__new__ (not the generated NamedTuple constructor): this runs per case.
    results = tuple(
        [
            _new_tuple(
                ScoredCondition,
                (
                    pos,
                    heads[k][0],
                    heads[k][1],
                    exp(joints[k] - log_evidence),
                    heads[k][2],
                    post.log_priors[k],
                    post.log_ages[k],
                    post.log_onsets[k],
                    post.log_findings[k],
                    explained[k],
                ),
            )
            for pos, k in enumerate(order, start=1)
        ]
    )
    return Ranking(query, post.group, results, log_evidence, query_warnings(kb, query))


def _contributions(
    kb: CompiledKnowledgeBase, query: Query, weights: tuple[float, ...]
) -> list[tuple[Contribution, ...]]:
    """Each entered finding's likelihood ratio for each condition against the prior-weighted others."""
    conds = kb.conditions
    n = len(conds)
    out: list[list[Contribution]] = [[] for _ in range(n)]
    entered = [(f, True) for f in query.present] + [(f, False) for f in query.absent]
    for finding, present in entered:
        given = kb.present_given[finding]
        lik = given if present else [1.0 - p for p in given]
        state = "present" if present else "absent"
        # The prior-weighted mean likelihood under every condition; removing one condition's share gives
        # the mean under "the others" in O(n) per finding instead of O(n^2).
        total = math.fsum(w * q for w, q in zip(weights, lik, strict=True))
        for i in range(n):
            p_c = lik[i]
            p_o = (total - weights[i] * p_c) / (1.0 - weights[i]) if n > 1 else p_c
            if p_o <= 0.0:  # cancellation when this condition carries nearly all the weight: sum directly
                p_o = math.fsum(weights[j] * lik[j] for j in range(n) if j != i) / (1.0 - weights[i])
            out[i].append(Contribution(finding, state, math.log(p_c / p_o), p_c, p_o, finding in conds[i].findings))
    return [tuple(c) for c in out]
