"""The naive-Bayes differential engine: pure functions from a query to a ranked, explained result."""

from __future__ import annotations

import math
from typing import NamedTuple

from oms_cli.errors import InputError
from oms_cli.knowledge import CompiledCondition, CompiledKnowledgeBase
from oms_cli.parsing import ONSETS, check_age

ADULT_AGE_YEARS = 18.0


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
    kb: CompiledKnowledgeBase, present: list[str], absent: list[str], age_years: float | None, onset: str | None
) -> Query:
    """Resolve user terms to canonical ids, de-duplicate, and reject contradictions."""
    p = tuple(dict.fromkeys(kb.resolve_finding(t) for t in present))
    a = tuple(dict.fromkeys(kb.resolve_finding(t) for t in absent))
    both = [f for f in p if f in a]
    if both:
        raise InputError(f"finding(s) given as both present and absent: {', '.join(both)}")
    if age_years is not None:
        check_age(age_years)
    if onset is not None and onset not in ONSETS:
        raise InputError(f"unknown onset {onset!r} (choose from {', '.join(ONSETS)})")
    return Query(present=p, absent=a, age_years=age_years, onset=onset)


def age_group(age_years: float | None) -> str | None:
    """'child' below 18 years, 'adult' from 18, None when the age is unknown."""
    if age_years is None:
        return None
    return "adult" if age_years >= ADULT_AGE_YEARS else "child"


def age_band(kb: CompiledKnowledgeBase, age_years: float) -> str:
    """The id of the knowledge-base age band that contains an age."""
    last = kb.bands[-1]
    for band_id, lo, hi, _group in kb.bands:
        if lo <= age_years < hi or (band_id == last[0] and age_years <= hi):
            return band_id
    raise InputError(f"age {age_years:g} years falls in no age band of the knowledge base")


def _prior(c: CompiledCondition, group: str | None) -> float:
    if group == "child":
        return c.prior_child
    if group == "adult":
        return c.prior_adult
    return (c.prior_child + c.prior_adult) / 2.0


def _log_age(kb: CompiledKnowledgeBase, c: CompiledCondition, age_years: float) -> float:
    band = age_band(kb, age_years)
    group = next(g for b, _lo, _hi, g in kb.bands if b == band)
    total = sum(c.age[b] for b, _lo, _hi, g in kb.bands if g == group)
    return math.log(c.age[band] / total)


def _log_onset(c: CompiledCondition, onset: str) -> float:
    return math.log(c.onset[onset] / sum(c.onset.values()))


def likelihood(kb: CompiledKnowledgeBase, c: CompiledCondition, finding: str, present: bool) -> float:
    """P(finding observed as present/absent | condition), using the leak for unlisted findings."""
    p = c.findings.get(finding, kb.leak)
    return p if present else 1.0 - p


def _logsumexp(xs: list[float]) -> float:
    top = max(xs)
    return top + math.log(math.fsum(math.exp(x - top) for x in xs))


def rank(kb: CompiledKnowledgeBase, query: Query, top: int | None = None) -> Ranking:
    """Posterior over the knowledge base's conditions (a closed world) for one query."""
    group = age_group(query.age_years)
    conds = kb.conditions
    n = len(conds)
    priors = [_prior(c, group) for c in conds]
    prior_total = math.fsum(priors)
    weights = [p / prior_total for p in priors]
    log_priors = [math.log(w) for w in weights]
    log_ages = [_log_age(kb, c, query.age_years) for c in conds] if query.age_years is not None else [0.0] * n
    log_onsets = [_log_onset(c, query.onset) for c in conds] if query.onset is not None else [0.0] * n
    entered = [(f, True) for f in query.present] + [(f, False) for f in query.absent]

    log_findings = [0.0] * n
    contributions: list[list[Contribution]] = [[] for _ in range(n)]
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
            log_findings[i] += math.log(p_c)
            contributions[i].append(
                Contribution(finding, state, math.log(p_c / p_o), p_c, p_o, finding in conds[i].findings)
            )

    joints = [log_priors[i] + log_ages[i] + log_onsets[i] + log_findings[i] for i in range(n)]
    log_evidence = _logsumexp(joints)
    # Highest posterior first; equal scores fall back to the condition id so output is deterministic.
    order = sorted(range(n), key=lambda k: (-joints[k], conds[k].id))
    if top is not None:
        order = order[: max(top, 0)]
    results = tuple(
        ScoredCondition(
            pos + 1,
            conds[k].id,
            conds[k].name,
            math.exp(joints[k] - log_evidence),
            conds[k].cant_miss,
            log_priors[k],
            log_ages[k],
            log_onsets[k],
            log_findings[k],
            tuple(contributions[k]),
        )
        for pos, k in enumerate(order)
    )
    warnings = []
    if not entered:
        warnings.append("no findings entered: the ranking reflects only the prior, age and onset")
    unlisted = [f for f in dict.fromkeys(query.present) if all(f not in c.findings for c in conds)]
    if unlisted:
        warnings.append(f"no condition lists {', '.join(unlisted)}; it does not change the ranking")
    return Ranking(query, group, results, log_evidence, tuple(warnings))
