"""The naive-Bayes differential engine: pure functions from a query to a ranked result, over tables it owns."""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import NamedTuple

from oms_cli.core.inputs import check_age
from oms_cli.errors import InputError
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.kb.terms import ADULT_AGE_YEARS, ONSETS

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


_Base = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]


class Tables:
    """The engine's precomputed view of one knowledge base: likelihood columns and memoised base terms.

    Built once per knowledge base (see `tables`), so ranking a case is additions over a few columns.
    """

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        conds = kb.conditions
        leak = kb.leak.value
        # P(present | condition) for every vocabulary finding, condition by condition (the leak where unlisted).
        self.present_given: dict[str, tuple[float, ...]] = {
            fid: tuple(c.findings[fid].value if fid in c.findings else leak for c in conds) for fid in kb.finding_ids
        }
        # The same in logs, for present and for absent findings.
        self.log_present = {f: tuple(math.log(p) for p in ps) for f, ps in self.present_given.items()}
        self.log_absent = {f: tuple(math.log(1.0 - p) for p in ps) for f, ps in self.present_given.items()}
        self.heads = [(c.id, c.name, c.cant_miss) for c in conds]
        # Condition indices sorted by id: the tie-break order of the ranking.
        self.id_order = sorted(range(len(conds)), key=lambda i: conds[i].id)
        self.index = {c.id: i for i, c in enumerate(conds)}
        self.listed = frozenset(f for c in conds for f in c.findings)
        self.band_of: dict[float, str] = {}
        self.base: dict[tuple[str | None, str | None, str | None], _Base] = {}


_TABLES: weakref.WeakKeyDictionary[CompiledKnowledgeBase, Tables] = weakref.WeakKeyDictionary()


def tables(kb: CompiledKnowledgeBase) -> Tables:
    """The engine tables of a knowledge base, built on first use."""
    t = _TABLES.get(kb)
    if t is None:
        t = _TABLES[kb] = Tables(kb)
    return t


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
    memo = tables(kb).band_of
    known = memo.get(age_years)
    if known is not None:
        return known
    last = kb.bands[-1]
    for band in kb.bands:
        if band.min_years <= age_years < band.max_years or (band is last and age_years <= band.max_years):
            if len(memo) < 4096:  # batch runs repeat ages; bounded so odd input cannot grow it
                memo[age_years] = band.id
            return band.id
    raise InputError(f"age {age_years:g} years falls in no age band of the knowledge base")


def _base_terms(kb: CompiledKnowledgeBase, group: str | None, band: str | None, onset: str | None) -> _Base:
    """Prior weights and the log prior, age and onset terms of every condition, and their sums.

    There are only a few dozen (group, band, onset) combinations, so they are computed once per knowledge base.
    """
    memo = tables(kb).base
    key = (group, band, onset)
    cached = memo.get(key)
    if cached is not None:
        return cached
    conds = kb.conditions
    if group is None:  # unknown age: the mean of the child and adult priors
        priors = [(c.prior["child"].value + c.prior["adult"].value) / 2.0 for c in conds]
    else:
        priors = [c.prior[group].value for c in conds]
    prior_total = math.fsum(priors)
    weights = tuple(p / prior_total for p in priors)
    log_priors = tuple(math.log(w) for w in weights)
    if band is not None:
        band_group = next(b.group for b in kb.bands if b.id == band)
        in_group = [b.id for b in kb.bands if b.group == band_group]
        log_ages = tuple(math.log(c.age[band].value / math.fsum(c.age[b].value for b in in_group)) for c in conds)
    else:
        log_ages = (0.0,) * len(conds)
    if onset is not None:
        log_onsets = tuple(math.log(c.onset[onset].value / math.fsum(e.value for e in c.onset.values())) for c in conds)
    else:
        log_onsets = (0.0,) * len(conds)
    sums = tuple(a + b + c for a, b, c in zip(log_priors, log_ages, log_onsets, strict=True))
    result = (weights, log_priors, log_ages, log_onsets, sums)
    memo[key] = result
    return result


def likelihood(kb: CompiledKnowledgeBase, index: int, finding: str, present: bool) -> float:
    """P(finding observed as present/absent | the condition at `index`), using the leak for unlisted findings."""
    p = tables(kb).present_given[finding][index]
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
    """The numbers behind `rank`, without building result records."""
    t = tables(kb)
    group = age_group(query.age_years)
    band = age_band(kb, query.age_years) if query.age_years is not None else None
    weights, log_priors, log_ages, log_onsets, base = _base_terms(kb, group, band, query.onset)
    columns = [t.log_present[f] for f in query.present] + [t.log_absent[f] for f in query.absent]
    # Column sums in C (map/zip/sum): each condition's log likelihood of the entered findings.
    log_findings: list[float] | tuple[float, ...] = (
        list(map(sum, zip(*columns, strict=True))) if columns else (0.0,) * len(base)
    )
    joints = [a + b for a, b in zip(base, log_findings, strict=True)]
    top_joint = max(joints)
    log_evidence = top_joint + math.log(math.fsum([math.exp(x - top_joint) for x in joints]))
    # Highest posterior first; ties keep condition-id order (id_order is sorted by id, and sorting is stable).
    order = sorted(t.id_order, key=joints.__getitem__, reverse=True)
    return _new_tuple(
        Posterior, (group, order, joints, log_evidence, weights, log_priors, log_ages, log_onsets, log_findings)
    )


def query_warnings(kb: CompiledKnowledgeBase, query: Query) -> tuple[str, ...]:
    """What the user should know about a query whatever the ranking: no findings, findings no condition lists."""
    warnings = []
    if not query.present and not query.absent:
        warnings.append("no findings entered: the ranking reflects only the prior, age and onset")
    listed = tables(kb).listed
    unlisted = [f for f in query.present if f not in listed]
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
    heads = tables(kb).heads
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
    present_given = tables(kb).present_given
    n = len(conds)
    out: list[list[Contribution]] = [[] for _ in range(n)]
    entered = [(f, True) for f in query.present] + [(f, False) for f in query.absent]
    for finding, present in entered:
        given = present_given[finding]
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
