"""Reasoning beyond the ranked list: explanation ledgers, the can't-miss panel, what to ask or examine next and
which test to order next, and formal criteria."""

import math
from typing import Literal, NamedTuple

from oms_cli.core.engine import (
    OTHER,
    Contribution,
    Query,
    Ranking,
    ScoredCondition,
    Term,
    age_band,
    posterior,
    rank,
    tables,
)
from oms_cli.kb.compiled import Cited, CompiledKnowledgeBase

DEFAULT_CANT_MISS_THRESHOLD = 0.01

# ----------------------------------------------------------------------------- explanation ledger

TermKind = Literal["prior", "age", "onset", "finding", "test", "group", "correction", "composite"]


class LedgerTerm(NamedTuple):
    """One additive term of a condition's log score, with the probability and the source behind it."""

    kind: TermKind
    label: str  # a finding or group id for finding, test and group terms; words otherwise
    probability: float
    log_value: float
    refs: tuple[str, ...] = ()
    estimate: str | None = None
    note: str | None = None
    state: str | None = None
    given: str | None = None  # what a finding's probability is conditional on (a broader finding, group, onset)
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


def _source(ev: Cited | None, note: str | None = None) -> dict[str, object]:
    return {
        "refs": tuple(ev.refs) if ev else (),
        "estimate": ev.estimate if ev else None,
        "note": note if note is not None else (ev.note if ev else None),
    }


def merged(child: Cited, adult: Cited) -> tuple[Cited, str | None]:
    """One source for a number read for an unknown age (the mean of the child and adult values)."""
    if child == adult:
        return child, None
    estimates = [f"{who}: {ev.estimate}" for who, ev in (("children", child), ("adults", adult)) if ev.estimate]
    both = child.replace(
        value=(child.value + adult.value) / 2.0,
        refs=tuple(dict.fromkeys([*child.refs, *adult.refs])),
        estimate=" ".join(estimates) or None,
        note=None,
    )
    return both, "mean of the child and adult values"


def _at_age(by_age: dict[str, Cited], group: str | None) -> tuple[Cited, str | None]:
    if group is None:
        return merged(by_age["child"], by_age["adult"])
    return by_age[group], None


def build_ledger(kb: CompiledKnowledgeBase, ranking: Ranking, scored: ScoredCondition) -> Ledger:
    """The explanation ledger of one ranked condition; its terms add up to the reported posterior."""
    t = tables(kb)
    k = t.index[scored.id]
    c = kb.condition(scored.id)
    q, known, group = ranking.query, ranking.known, ranking.age_group
    terms: list[LedgerTerm] = []
    prior, prior_note = _at_age(c.prior, group)
    label = {"child": "prior (children)", "adult": "prior (adults)", None: "prior (age unknown)"}[group]
    terms.append(LedgerTerm("prior", label, math.exp(scored.log_prior), scored.log_prior, **_source(prior, prior_note)))  # type: ignore[arg-type]
    if q.age_years is not None:
        band = age_band(kb, q.age_years)
        terms.append(
            LedgerTerm("age", f"age band {band} y", math.exp(scored.log_age), scored.log_age, **_source(c.age[band]))  # type: ignore[arg-type]
        )
    if known.onset is not None:
        note = f"implied by {known.onset_implied_by}" if known.onset_implied_by else None
        ev = c.onset[known.onset]
        terms.append(
            LedgerTerm(
                "onset", f"onset {known.onset}", math.exp(scored.log_onset), scored.log_onset,
                **_source(ev, f"{note}; {ev.note}" if note and ev.note else note),  # type: ignore[arg-type]
            )
        )  # fmt: skip
    contributions = {(x.finding, x.state): x for x in scored.contributions}
    terms += [_finding_term(kb, term, k, group, contributions) for term in ranking.terms]
    log_joint = math.fsum(x.log_value for x in terms)
    return Ledger(scored.id, tuple(terms), log_joint, ranking.log_evidence, scored.probability)


def _finding_term(
    kb: CompiledKnowledgeBase, term: Term, k: int, group: str | None, contributions: dict[tuple[str, str], Contribution]
) -> LedgerTerm:
    c = kb.conditions[k]
    value = term.logs[k]
    note: str | None
    ev: Cited
    if term.kind == "composite":
        comp = kb.composite(term.node)
        listed = c.composites.get(term.node)
        result = comp.positive if term.state == "positive" else comp.negative
        contrib = contributions.get((term.node, term.state or ""))
        extra = {
            "state": term.state,
            "p_others": getattr(contrib, "p_others", None),
            "log_lr": getattr(contrib, "log_lr", None),
        }
        if listed is not None:
            ev, note = _at_age(listed, group)
            note = f"{comp.label}: {result}, scored as a whole in place of its signs" + (f"; {note}" if note else "")
            return LedgerTerm("composite", term.node, math.exp(value), value, **_source(ev, note), **extra)  # type: ignore[arg-type]
        note = f"{comp.label}: {result}; no figure for this condition, so from its signs' frequencies"
        return LedgerTerm("composite", term.node, math.exp(value), value, note=note, **extra)  # type: ignore[arg-type]
    if term.kind in ("group", "correction"):
        if term.kind == "group":
            g = kb.group(term.node)
            listed = c.groups.get(term.node)
            if listed is not None:
                ev, note = _at_age(listed, group)
                note = f"how {term.given} already entered changes the finding above (they overlap: {g.label}); " + (
                    f"at least one of them: {ev.value:g}"
                )
            else:
                ev = g.dependence
                note = (
                    f"how {term.given} already entered changes the finding above (they overlap: {g.label}), from "
                    "their frequencies and how strongly they go together"
                )
            return LedgerTerm("group", term.node, math.exp(value), value, **_source(ev, note), given=term.given)  # type: ignore[arg-type]
        note = f"how {term.given} already entered changes the finding above (both within {term.node}, which is unknown)"
        return LedgerTerm("correction", term.node, math.exp(value), value, note=note, given=term.given)
    listed_by_age = c.findings.get(term.node)
    finding = kb.finding(term.node)
    if listed_by_age is not None:
        ev, note = _at_age(listed_by_age, group)
    elif finding.within is not None:
        ev, note = _at_age(finding.background, group)
        note = f"not listed: the background share of {finding.within} (background rate {ev.value:g})"
    else:
        ev, note = _at_age(finding.background, group)
        note = f"not listed: the background rate among presenting patients ({ev.value:g})"
    if term.given is not None:
        note = f"conditional on {term.given}" + (f"; {note}" if note else "")
    contrib = contributions.get((term.node, term.state or ""))
    return LedgerTerm(
        term.kind,  # type: ignore[arg-type]
        term.node,
        math.exp(value),
        value,
        **_source(ev, note),  # type: ignore[arg-type]
        state=term.state,
        given=term.given,
        p_others=getattr(contrib, "p_others", None),
        log_lr=getattr(contrib, "log_lr", None),
    )


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


# ----------------------------------------------------------------------------- what to ask, examine or order next


class NextFinding(NamedTuple):
    """A finding (or test) not yet known, how likely it is now, and what knowing it would do to the differential."""

    finding: str
    kind: str
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


def _distribution(joints: list[float]) -> list[float]:
    top = max(joints)
    ws = [math.exp(x - top) for x in joints]
    total = math.fsum(ws)
    return [w / total for w in ws]


def next_findings(
    kb: CompiledKnowledgeBase, ranking: Ranking, exclude: frozenset[str] = frozenset()
) -> tuple[NextFinding, ...]:
    """Findings and tests whose state is not known yet, by expected information gain (drop in the entropy of the
    distribution over the conditions and other causes). A finding's chance of being present for each outcome is
    exact under the model: the ratio of the joint probabilities with and without it."""
    from oms_cli.core.engine import complete_composites, touched_roots, tree_column, without_composite_signs
    from oms_cli.errors import InputError

    t = tables(kb)
    known, q = ranking.known, ranking.query
    base = posterior(kb, q, known)
    post = _distribution(base.joints)
    ids = [c.id for c in kb.conditions] + [OTHER]
    h0 = entropy_bits(post)
    group = ranking.age_group
    scored = without_composite_signs(kb, known, complete_composites(kb, known))
    columns = {r: tree_column(t, group, scored, r) for r in touched_roots(t, scored)}
    zeros = (0.0,) * len(ids)
    # Findings whose answer can change more than their own tree (an onset, a composite examination) are scored
    # with a whole new posterior; any other finding changes only its tree's column.
    special = set(t.implies_onset)
    for comp in kb.composites:
        special.update(f for f, _ in comp.signs)
        special.update(comp.applies_when)
    out: list[NextFinding] = []
    for fid in kb.finding_ids:
        if fid in known.present or fid in known.absent or fid in exclude:
            continue
        up = [fid]
        while (parent := kb.finding(up[-1]).within) is not None:
            up.append(parent)
        if any(f in known.absent for f in up):
            continue  # contradicts what is known: not worth asking
        if special & set(up):
            try:
                yes = posterior(kb, Query((*q.present, fid), q.absent, q.age_years, q.onset))
            except InputError:
                continue
            lik = [min(max(math.exp(a - b), 0.0), 1.0) for a, b in zip(yes.joints, base.joints, strict=True)]
        else:
            root = t.root(fid)
            new = tree_column(t, group, scored._replace(present=scored.present | set(up)), root)
            old = columns.get(root, zeros)
            lik = [min(max(math.exp(a - b), 0.0), 1.0) for a, b in zip(new, old, strict=True)]
        p_yes = math.fsum(p * x for p, x in zip(post, lik, strict=True))
        if not 0.0 < p_yes < 1.0:
            continue
        if_yes = [p * x / p_yes for p, x in zip(post, lik, strict=True)]
        if_no = [p * (1.0 - x) / (1.0 - p_yes) for p, x in zip(post, lik, strict=True)]
        gain = h0 - (p_yes * entropy_bits(if_yes) + (1.0 - p_yes) * entropy_bits(if_no))
        if gain <= 1e-12:
            continue
        conditions = ids[:-1]
        out.append(
            NextFinding(fid, t.kind[fid], p_yes, gain, _top(conditions, if_yes[:-1]), _top(conditions, if_no[:-1]))
        )
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
    """Every criterion set on which at least one entered (or implied) finding bears, item by item."""
    from oms_cli.core.engine import implications

    known = implications(kb, query)
    out: list[CriteriaCheck] = []
    for c in kb.conditions:
        for crit in c.criteria:
            items: list[ItemCheck] = []
            for item in crit.items:
                hits = tuple(f for f in item.findings if f in known.present)
                misses = tuple(f for f in item.findings if f in known.absent)
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
    next_findings: tuple[NextFinding, ...]  # history and examination: what to ask or examine next
    next_tests: tuple[NextFinding, ...]  # work-up results: which test to order next
    criteria: tuple[CriteriaCheck, ...]
    cant_miss_threshold: float
    ledgers: dict[str, Ledger]  # by condition id; empty unless asked for
    entropy_bits: float  # the uncertainty left over the conditions and other causes


def analyse(
    kb: CompiledKnowledgeBase,
    query: Query,
    cant_miss_threshold: float = DEFAULT_CANT_MISS_THRESHOLD,
    exclude: frozenset[str] = frozenset(),
    explain: bool = False,
) -> Analysis:
    """Rank every condition and derive the can't-miss panel, what to ask and test next, criteria checks and,
    when `explain` is set, the explanation ledger of every condition."""
    ranking = rank(kb, query)
    candidates = next_findings(kb, ranking, exclude)
    return Analysis(
        ranking=ranking,
        cant_miss=cant_miss_panel(kb, ranking, cant_miss_threshold),
        next_findings=tuple(n for n in candidates if n.kind != "test"),
        next_tests=tuple(n for n in candidates if n.kind == "test"),
        criteria=check_criteria(kb, query),
        cant_miss_threshold=cant_miss_threshold,
        ledgers={r.id: build_ledger(kb, ranking, r) for r in ranking.results} if explain else {},
        entropy_bits=entropy_bits([r.probability for r in ranking.results] + [ranking.other_probability]),
    )
