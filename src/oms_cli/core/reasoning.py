"""Reasoning beyond the ranked list: explanation ledgers, can't-miss panel, next best findings, criteria check."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Literal, NamedTuple

from oms_cli.core.engine import age_band, rank, tables

if TYPE_CHECKING:
    from oms_cli.core.engine import Query, Ranking, ScoredCondition
    from oms_cli.kb.compiled import Cited, CompiledKnowledgeBase

DEFAULT_CANT_MISS_THRESHOLD = 0.01


# ----------------------------------------------------------------------------- explanation ledger


class LedgerTerm(NamedTuple):
    """One additive term of a condition's log score, with the probability and the source behind it."""

    kind: Literal["prior", "age", "onset", "finding"]
    label: str
    probability: float
    log_value: float
    refs: tuple[str, ...] = ()
    estimate: str | None = None
    note: str | None = None
    state: str | None = None
    p_others: float | None = None
    log_lr: float | None = None


class Ledger(NamedTuple):
    """Every term behind one condition's posterior: exp(sum of terms - log_evidence) is the posterior."""

    condition: str
    terms: tuple[LedgerTerm, ...]
    log_joint: float
    log_evidence: float
    posterior: float

    @property
    def log_posterior(self) -> float:
        return self.log_joint - self.log_evidence


def _term(
    kind: Literal["prior", "age", "onset", "finding"],
    label: str,
    probability: float,
    log_value: float,
    ev: Cited | None,
    note: str | None = None,
    state: str | None = None,
    p_others: float | None = None,
    log_lr: float | None = None,
) -> LedgerTerm:
    return LedgerTerm(
        kind=kind,
        label=label,
        probability=probability,
        log_value=log_value,
        refs=tuple(ev.refs) if ev else (),
        estimate=ev.estimate if ev else None,
        note=note if note is not None else (ev.note if ev else None),
        state=state,
        p_others=p_others,
        log_lr=log_lr,
    )


def build_ledger(kb: CompiledKnowledgeBase, ranking: Ranking, scored: ScoredCondition) -> Ledger:
    """The explanation ledger of one ranked condition; its terms add up to the reported posterior."""
    c = kb.condition(scored.id)
    q = ranking.query
    prior = math.exp(scored.log_prior)
    terms: list[LedgerTerm] = []
    if ranking.age_group == "child":
        terms.append(_term("prior", "prior (children)", prior, scored.log_prior, c.prior["child"]))
    elif ranking.age_group == "adult":
        terms.append(_term("prior", "prior (adults)", prior, scored.log_prior, c.prior["adult"]))
    else:
        # Unknown age: the mean of the two priors, so both sources (and any estimate rationale) apply.
        child, adult = c.prior["child"], c.prior["adult"]
        estimates = [f"{who}: {ev.estimate}" for who, ev in (("children", child), ("adults", adult)) if ev.estimate]
        both = child._replace(
            refs=tuple(dict.fromkeys([*child.refs, *adult.refs])), estimate=" ".join(estimates) or None, note=None
        )
        terms.append(
            _term("prior", "prior (age unknown)", prior, scored.log_prior, both, "mean of the child and adult priors")
        )
    if q.age_years is not None:
        band = age_band(kb, q.age_years)
        ev = c.age[band]
        terms.append(_term("age", f"age band {band} y", math.exp(scored.log_age), scored.log_age, ev))
    if q.onset is not None:
        ev = c.onset[q.onset]
        terms.append(_term("onset", f"onset {q.onset}", math.exp(scored.log_onset), scored.log_onset, ev))
    for contrib in scored.contributions:
        listed = c.findings.get(contrib.finding)
        terms.append(
            _term(
                "finding",
                contrib.finding,
                contrib.p_condition,
                math.log(contrib.p_condition),
                listed if listed is not None else kb.leak,
                None if listed is not None else "not listed for this condition: the leak probability is used",
                state=contrib.state,
                p_others=contrib.p_others,
                log_lr=contrib.log_lr,
            )
        )
    log_joint = math.fsum(t.log_value for t in terms)
    return Ledger(scored.id, tuple(terms), log_joint, ranking.log_evidence, scored.probability)


# ----------------------------------------------------------------------------- can't-miss panel


class CantMissAlert(NamedTuple):
    """A must-not-miss condition still above the threshold, with why and how to exclude it."""

    id: str
    name: str
    rank: int
    probability: float
    reason: str
    excluding_test: str | None


def cant_miss_panel(
    kb: CompiledKnowledgeBase, ranking: Ranking, threshold: float = DEFAULT_CANT_MISS_THRESHOLD
) -> tuple[CantMissAlert, ...]:
    """Every can't-miss condition whose posterior is at least `threshold`, however low it ranks."""
    out = []
    for r in ranking.results:
        if r.cant_miss and r.probability >= threshold:
            c = kb.condition(r.id)
            out.append(CantMissAlert(r.id, r.name, r.rank, r.probability, c.cant_miss_reason, c.excluding_test))
    return tuple(out)


# ----------------------------------------------------------------------------- next best findings


class NextFinding(NamedTuple):
    """A finding not yet entered, how likely it is now, and what knowing it would do to the differential."""

    finding: str
    p_present: float
    info_gain_bits: float
    if_present: tuple[tuple[str, float], ...]
    if_absent: tuple[tuple[str, float], ...]


def entropy_bits(ps: list[float]) -> float:
    """Shannon entropy of a distribution, in bits."""
    return -math.fsum(p * math.log2(p) for p in ps if p > 0)


def _top(ids: list[str], ps: list[float], n: int = 3) -> tuple[tuple[str, float], ...]:
    order = sorted(range(len(ids)), key=lambda i: (-ps[i], ids[i]))[:n]
    return tuple((ids[i], ps[i]) for i in order)


def next_findings(
    kb: CompiledKnowledgeBase, ranking: Ranking, exclude: frozenset[str] = frozenset()
) -> tuple[NextFinding, ...]:
    """Findings not yet entered, ranked by expected information gain (drop in posterior entropy)."""
    ids = [r.id for r in ranking.results]
    post = [r.probability for r in ranking.results]
    t = tables(kb)
    rows = [t.index[cid] for cid in ids]
    h0 = entropy_bits(post)
    asked = set(ranking.query.present) | set(ranking.query.absent) | set(exclude)
    out: list[NextFinding] = []
    for fid in kb.finding_ids:
        if fid in asked:
            continue
        given = t.present_given[fid]
        lik = [given[i] for i in rows]
        p_yes = math.fsum(p * q for p, q in zip(post, lik, strict=True))
        if not 0.0 < p_yes < 1.0:
            continue
        yes = [p * q / p_yes for p, q in zip(post, lik, strict=True)]
        no = [p * (1.0 - q) / (1.0 - p_yes) for p, q in zip(post, lik, strict=True)]
        gain = h0 - (p_yes * entropy_bits(yes) + (1.0 - p_yes) * entropy_bits(no))
        if gain <= 1e-12:
            continue
        out.append(NextFinding(fid, p_yes, gain, _top(ids, yes), _top(ids, no)))
    out.sort(key=lambda n: (-n.info_gain_bits, n.finding))
    return tuple(out)


# ----------------------------------------------------------------------------- criteria check

ItemState = Literal["met", "unmet", "unknown"]


class ItemCheck(NamedTuple):
    """One criterion item against the entered findings."""

    id: str
    text: str
    status: ItemState
    decided_by: tuple[str, ...]


class CriteriaCheck(NamedTuple):
    """A criterion set against the entered findings: met, not met, or still undetermined."""

    condition: str
    id: str
    name: str
    required: int
    items: tuple[ItemCheck, ...]

    @property
    def met(self) -> int:
        return sum(i.status == "met" for i in self.items)

    @property
    def unknown(self) -> int:
        return sum(i.status == "unknown" for i in self.items)

    @property
    def status(self) -> Literal["met", "not met", "undetermined"]:
        if self.met >= self.required:
            return "met"
        if self.met + self.unknown < self.required:
            return "not met"
        return "undetermined"


def check_criteria(kb: CompiledKnowledgeBase, query: Query) -> tuple[CriteriaCheck, ...]:
    """Every criterion set on which at least one entered finding bears, item by item."""
    present, absent = set(query.present), set(query.absent)
    out: list[CriteriaCheck] = []
    for c in kb.conditions:
        for crit in c.criteria:
            items: list[ItemCheck] = []
            for item in crit.items:
                hits = tuple(f for f in item.findings if f in present)
                misses = tuple(f for f in item.findings if f in absent)
                if hits:
                    items.append(ItemCheck(item.id, item.text, "met", hits))
                elif item.findings and len(misses) == len(item.findings):
                    items.append(ItemCheck(item.id, item.text, "unmet", misses))
                else:
                    items.append(ItemCheck(item.id, item.text, "unknown", ()))
            if any(i.status != "unknown" for i in items):
                out.append(CriteriaCheck(c.id, crit.id, crit.name, crit.required, tuple(items)))
    return tuple(out)


# ----------------------------------------------------------------------------- everything for one query


class Analysis(NamedTuple):
    """The full result of one query: the complete ranking and everything derived from it."""

    ranking: Ranking
    cant_miss: tuple[CantMissAlert, ...]
    next_findings: tuple[NextFinding, ...]
    criteria: tuple[CriteriaCheck, ...]
    cant_miss_threshold: float
    ledgers: dict[str, Ledger]  # by condition id; empty unless asked for


def analyse(
    kb: CompiledKnowledgeBase,
    query: Query,
    cant_miss_threshold: float = DEFAULT_CANT_MISS_THRESHOLD,
    exclude: frozenset[str] = frozenset(),
    explain: bool = False,
) -> Analysis:
    """Rank every condition and derive the can't-miss panel, next best findings, criteria checks and, when
    `explain` is set, the explanation ledger of every condition."""
    ranking = rank(kb, query)
    return Analysis(
        ranking=ranking,
        cant_miss=cant_miss_panel(kb, ranking, cant_miss_threshold),
        next_findings=next_findings(kb, ranking, exclude),
        criteria=check_criteria(kb, query),
        cant_miss_threshold=cant_miss_threshold,
        ledgers={r.id: build_ledger(kb, ranking, r) for r in ranking.results} if explain else {},
    )
