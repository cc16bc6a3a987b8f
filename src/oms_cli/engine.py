"""The naive-Bayes differential engine: pure functions from a query to a ranked, explained result."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from oms_cli.errors import InputError
from oms_cli.knowledge import CompiledCondition, CompiledKnowledgeBase
from oms_cli.parsing import ONSETS, check_age

ADULT_AGE_YEARS = 18.0


@dataclass(frozen=True)
class Query:
    """What is known about the patient; anything not entered is unknown and does not count."""

    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    age_years: float | None = None
    onset: str | None = None


@dataclass(frozen=True)
class Contribution:
    """How one entered finding moves one condition against the others (natural-log likelihood ratio)."""

    finding: str
    state: str
    log_lr: float
    p_condition: float
    p_others: float
    listed: bool


@dataclass(frozen=True)
class ScoredCondition:
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


@dataclass(frozen=True)
class Ranking:
    """The ranked differential for one query; probabilities sum to 1 over the listed conditions."""

    query: Query
    age_group: str | None
    results: tuple[ScoredCondition, ...]
    log_evidence: float
    warnings: tuple[str, ...] = field(default_factory=tuple)


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
    return top + math.log(sum(math.exp(x - top) for x in xs))


def rank(kb: CompiledKnowledgeBase, query: Query, top: int | None = None) -> Ranking:
    """Posterior over the knowledge base's conditions (a closed world) for one query."""
    group = age_group(query.age_years)
    priors = [_prior(c, group) for c in kb.conditions]
    prior_total = sum(priors)
    entered = [(f, True) for f in query.present] + [(f, False) for f in query.absent]

    rows = []
    for i, c in enumerate(kb.conditions):
        log_prior = math.log(priors[i] / prior_total)
        log_age = _log_age(kb, c, query.age_years) if query.age_years is not None else 0.0
        log_onset = _log_onset(c, query.onset) if query.onset is not None else 0.0
        contributions = []
        log_findings = 0.0
        others_weight = prior_total - priors[i]
        for finding, present in entered:
            p_c = likelihood(kb, c, finding, present)
            p_o = (
                sum(priors[j] * likelihood(kb, o, finding, present) for j, o in enumerate(kb.conditions) if j != i)
                / others_weight
            )
            log_findings += math.log(p_c)
            contributions.append(
                Contribution(
                    finding, "present" if present else "absent", math.log(p_c / p_o), p_c, p_o, finding in c.findings
                )
            )
        rows.append((c, log_prior, log_age, log_onset, log_findings, tuple(contributions)))

    joints = [r[1] + r[2] + r[3] + r[4] for r in rows]
    log_evidence = _logsumexp(joints)
    # Highest posterior first; equal scores fall back to the condition id so output is deterministic.
    order = sorted(range(len(rows)), key=lambda k: (-joints[k], rows[k][0].id))
    results = tuple(
        ScoredCondition(
            rank=n + 1,
            id=rows[k][0].id,
            name=rows[k][0].name,
            probability=math.exp(joints[k] - log_evidence),
            cant_miss=rows[k][0].cant_miss,
            log_prior=rows[k][1],
            log_age=rows[k][2],
            log_onset=rows[k][3],
            log_findings=rows[k][4],
            contributions=rows[k][5],
        )
        for n, k in enumerate(order)
    )
    warnings = []
    if not entered:
        warnings.append("no findings entered: the ranking reflects only the prior, age and onset")
    unlisted = [f for f in dict.fromkeys(query.present) if all(f not in c.findings for c in kb.conditions)]
    if unlisted:
        warnings.append(f"no condition lists {', '.join(unlisted)}; it does not change the ranking")
    if top is not None:
        results = results[: max(top, 0)]
    return Ranking(query=query, age_group=group, results=results, log_evidence=log_evidence, warnings=tuple(warnings))
