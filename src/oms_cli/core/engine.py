"""The Bayesian engine: pure functions from a query to a ranked result, over tables it builds and owns.

The model (README, "The model"): P(outcome | input) is proportional to the prior times P(age band | outcome),
P(onset | outcome) and P(findings | outcome), over the knowledge base's conditions and one more outcome, `other` (a cause outside the
knowledge base, whose findings follow the background rates). Findings are not all independent:

- A finding may be a kind of a broader one (`within`): entering it marks the broader one present, and its
  frequency counts conditionally on the broader one, so entering both is the same as entering the narrower alone.
  Absent marks every narrower finding absent. `implies_onset` does the same with the onset tempo.
- Findings that overlap without nesting form a group: given the group ("at least one member"), members are
  independent but at least one is present. So overlapping members do not multiply as independent evidence, and a
  condition that requires the group (ADEM and encephalopathy) collapses when every member is absent.

Each nesting tree (a root finding or group with what hangs below it) is scored as a whole; trees are independent
given the outcome. Frequencies are read for the patient's age group (the mean of the two when the age is unknown);
a finding a condition does not list takes its background rate (a narrower one, the background share of its
broader finding).
"""

import math
from collections.abc import Iterable, Sequence
from operator import add as _add
from typing import NamedTuple

from oms_cli.core.inputs import check_age
from oms_cli.errors import InputError
from oms_cli.kb.compiled import Cited, CompiledKnowledgeBase, derived
from oms_cli.kb.terms import ADULT_AGE_YEARS, ONSETS

OTHER = "other"
PRESENT, ABSENT = "present", "absent"
# Conditional frequencies are kept inside (EPS, 1 - EPS): a narrower finding as common as its broader one, or a
# group member that is present whenever the group is, would otherwise make one contrary answer impossible.
EPS = 1e-6
_new_tuple = tuple.__new__


class Query(NamedTuple):
    """What is known about the patient; anything not entered is unknown and does not count."""

    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    age_years: float | None = None
    onset: str | None = None


class Known(NamedTuple):
    """A query with what its findings imply: the present and absent sets the engine scores, and the onset."""

    present: frozenset[str]
    absent: frozenset[str]
    onset: str | None
    implied_present: tuple[str, ...]  # broader findings marked present by narrower ones
    implied_absent: tuple[str, ...]  # narrower findings marked absent by broader ones (or by the onset)
    onset_implied_by: str | None  # the finding that set the onset, when the user gave none


class Contribution(NamedTuple):
    """How one entered (or implied) finding moves one condition against the others (natural-log likelihood ratio)."""

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


class Term(NamedTuple):
    """One additive term of the findings' log likelihood, for every outcome (conditions in knowledge-base order,
    then other). kind: finding, test, group (how an overlapping finding entered before changes this one),
    correction (the same for findings within an unknown broader finding), or composite (an examination scored as a
    whole, such as HINTS, in place of its signs).
    """

    kind: str
    node: str  # a finding id, a group id, a composite id, or the root of the tree a correction belongs to
    state: str | None
    given: str | None  # the broader finding, group or onset this term is conditional on
    logs: tuple[float, ...]


class Ranking(NamedTuple):
    """The ranked differential for one query: conditions best first, and the share left to other causes."""

    query: Query
    known: Known
    age_group: str | None
    results: tuple[ScoredCondition, ...]
    other_probability: float
    log_evidence: float
    warnings: tuple[str, ...] = ()
    terms: tuple[Term, ...] = ()  # only when contributions are asked for


_Base = tuple[tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...], tuple[float, ...]]


class Tables:
    """The engine's view of one knowledge base: the nesting trees and, per age group, the frequencies it scores
    with, built on first use and memoised (batch runs repeat the same patterns)."""

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        conds = kb.conditions
        self.kb = kb
        self.n = len(conds)  # conditions; outcome index n is `other`
        self.heads = [(c.id, c.name, c.cant_miss) for c in conds]
        self.id_order = sorted(range(self.n), key=lambda i: conds[i].id)  # the ranking's tie-break
        self.index = {c.id: i for i, c in enumerate(conds)}
        self.parent: dict[str, str] = {}
        self.children: dict[str, list[str]] = {}
        for f in kb.findings:
            if f.within is not None:
                self.parent[f.id] = f.within
        for g in kb.groups:
            for m in g.members:
                self.parent[m] = g.id
        for node, up in self.parent.items():
            self.children.setdefault(up, []).append(node)
        self.kind = {f.id: f.kind for f in kb.findings}
        self.implies_onset = {f.id: f.implies_onset for f in kb.findings if f.implies_onset}
        self.listed = frozenset(f for c in conds for f in c.findings)
        self.band_of: dict[float, str] = {}
        self.base: dict[tuple[str | None, str | None, str | None], _Base] = {}
        self._marg: dict[tuple[str | None, str], tuple[float, ...]] = {}
        self._cond: dict[tuple[str | None, str], tuple[float, ...]] = {}
        self._z: dict[tuple[str | None, str], tuple[float, ...]] = {}
        self.columns: dict[tuple[object, ...], tuple[float, ...]] = {}
        self._root: dict[str, str] = {}
        self._subtree: dict[str, tuple[str, ...]] = {}

    # ----------------------------------------------------------------- structure

    def root(self, node: str) -> str:
        """The root of the tree a finding belongs to."""
        known = self._root.get(node)
        if known is not None:
            return known
        top = node
        while top in self.parent:
            top = self.parent[top]
        self._root[node] = top
        return top

    def is_group(self, node: str) -> bool:
        """Whether a node is a finding group (latent: never entered, present when a member is)."""
        return node in self.kb._groups_by_id

    def subtree(self, node: str) -> tuple[str, ...]:
        """A node and everything below it (memoised: the scoring of every tree walks it)."""
        known = self._subtree.get(node)
        if known is not None:
            return known
        out = [node]
        for child in self.children.get(node, ()):
            out += self.subtree(child)
        self._subtree[node] = tuple(out)
        return self._subtree[node]

    # ----------------------------------------------------------------- frequencies

    def cited(self, k: int, finding: str, group: str | None) -> tuple[Cited | None, Cited | None]:
        """The listed frequency of a finding for outcome k at an age group (child, adult; None: both), else None."""
        if k < self.n:
            ages = self.kb.conditions[k].findings.get(finding)
            if ages is not None:
                return (ages["child"], ages["adult"]) if group is None else (ages[group], ages[group])
        return None, None

    def _value(self, by_age: dict[str, Cited], group: str | None) -> float:
        if group is None:
            return (by_age["child"].value + by_age["adult"].value) / 2.0
        return by_age[group].value

    def marginal(self, group: str | None, node: str) -> tuple[float, ...]:
        """P(node present | outcome) for every outcome: a finding's frequency, or a group's "at least one"."""
        key = (group, node)
        known = self._marg.get(key)
        if known is not None:
            return known
        kb = self.kb
        out: list[float] = []
        if self.is_group(node):
            g = kb.group(node)
            members = [self.marginal(group, m) for m in g.members]
            rho = g.dependence.value
            for k in range(self.n + 1):
                listed = kb.conditions[k].groups.get(node) if k < self.n else None
                ps = [m[k] for m in members]
                lo, hi = max(ps), min(1.0, math.fsum(ps))
                if listed is not None:
                    value = self._value(listed, group)
                else:  # between complete overlap (the commonest member) and independence, by the group's dependence
                    independent = 1.0 - math.prod(1.0 - p for p in ps)
                    value = lo + (1.0 - rho) * (independent - lo)
                out.append(min(max(value, lo), hi))
        else:
            f = kb.finding(node)
            background = self._value(f.background, group)
            parent = f.within
            for k in range(self.n + 1):
                listed = kb.conditions[k].findings.get(node) if k < self.n else None
                if listed is not None:
                    out.append(self._value(listed, group))
                elif parent is not None:
                    # Not listed: the background share of the broader finding, as this outcome has it.
                    share = background / self._value(kb.finding(parent).background, group)
                    out.append(self.marginal(group, parent)[k] * share)
                else:
                    out.append(background)
        result = tuple(out)
        self._marg[key] = result
        return result

    def onset_share(self, onset: str) -> tuple[float, ...]:
        """P(onset | outcome) for every outcome, each profile normalised."""
        profiles = [c.onset for c in self.kb.conditions] + [self.kb.other.onset]
        return tuple(p[onset].value / math.fsum(e.value for e in p.values()) for p in profiles)

    def conditional(self, group: str | None, node: str) -> tuple[float, ...]:
        """P(node present | its parent present) for every outcome (for a root: its marginal)."""
        key = (group, node)
        known = self._cond.get(key)
        if known is not None:
            return known
        up = self.parent.get(node)
        mine = self.marginal(group, node)
        if up is None and node in self.implies_onset:
            base = self.onset_share(self.implies_onset[node])
            out = tuple(min(max(p / b, EPS), 1.0 - EPS) for p, b in zip(mine, base, strict=True))
        elif up is None:
            out = tuple(min(max(p, EPS), 1.0 - EPS) for p in mine)
        elif self.is_group(up):
            self._solve_group(group, up)
            out = self._cond[key]
        else:
            base = self.marginal(group, up)
            out = tuple(min(max(p / b, EPS), 1.0 - EPS) for p, b in zip(mine, base, strict=True))
        self._cond[key] = out
        return out

    def _solve_group(self, group: str | None, gid: str) -> None:
        """Member frequencies given the group, q_i, such that members independent given the group and conditioned
        on at least one give back each member's frequency: p_i = P(G) q_i / Z, Z = 1 - prod(1 - q_i)."""
        members = self.kb.group(gid).members
        ps = [self.marginal(group, m) for m in members]
        pg = self.marginal(group, gid)
        qs: list[list[float]] = [[] for _ in members]
        zs: list[float] = []
        for k in range(self.n + 1):
            p = [x[k] for x in ps]
            target = pg[k]
            # q_i = p_i t, where t solves 1 - prod(1 - p_i t) = P(G) t on (0, 1/max p]: in closed form for two
            # members (the equation is then linear in t), by bisection otherwise.
            if len(p) == 2:
                t = (p[0] + p[1] - target) / (p[0] * p[1])
                t = min(max(t, 0.0), 1.0 / max(p))
            else:
                lo, hi = 0.0, 1.0 / max(p)
                for _ in range(50):
                    mid = (lo + hi) / 2.0
                    if 1.0 - math.prod(1.0 - pi * mid for pi in p) > target * mid:
                        lo = mid
                    else:
                        hi = mid
                t = (lo + hi) / 2.0
            q = [min(max(pi * t, EPS), 0.999) for pi in p]
            for i, qi in enumerate(q):
                qs[i].append(qi)
            zs.append(1.0 - math.prod(1.0 - qi for qi in q))
        for m, q_m in zip(members, qs, strict=True):
            self._cond[(group, m)] = tuple(q_m)
        self._z[(group, gid)] = tuple(zs)

    def z(self, group: str | None, gid: str) -> tuple[float, ...]:
        """P(at least one member | group present) under the members' conditional frequencies."""
        if (group, gid) not in self._z:
            self._solve_group(group, gid)
        return self._z[(group, gid)]


tables = derived(Tables)
"""The engine tables of a knowledge base, built on first use."""


# ----------------------------------------------------------------------------- the query and its implications


def normalise_query(
    kb: CompiledKnowledgeBase,
    present: Sequence[str],
    absent: Sequence[str],
    age_years: float | None,
    onset: str | None,
) -> Query:
    """Resolve user terms to canonical ids, de-duplicate, and reject contradictions (also through implications).

    An HPO id below the vocabulary counts as its nearest vocabulary ancestors when present, and rules out the
    findings at or below it when absent (`CompiledKnowledgeBase.resolve_findings`)."""
    resolve = kb.resolve_findings
    p = tuple(dict.fromkeys([f for t in present for f in resolve(t)]))
    a = tuple(dict.fromkeys([f for t in absent for f in resolve(t, True)])) if absent else ()
    both = [f for f in p if f in a] if a else None
    if both:
        raise InputError(f"finding(s) given as both present and absent: {', '.join(both)}")
    if age_years is not None:
        check_age(age_years)
    if onset is not None and onset not in ONSETS:
        raise InputError(f"unknown onset {onset!r} (choose from {', '.join(ONSETS)})")
    query = _new_tuple(Query, (p, a, age_years, onset))
    implications(kb, query)  # raises on a contradiction through nesting or onset
    return query


def implications(kb: CompiledKnowledgeBase, query: Query) -> Known:
    """What the entered findings imply: broader findings present, narrower ones absent, the onset tempo."""
    t = tables(kb)
    present = set(query.present)
    for f in query.present:
        up = t.parent.get(f)
        while up is not None and not t.is_group(up):
            present.add(up)
            up = t.parent.get(up)
    absent = set(query.absent)
    for f in query.absent:
        absent.update(n for n in t.subtree(f) if not t.is_group(n))
    onset, implied_by = query.onset, None
    for f in sorted(present & t.implies_onset.keys()):
        wanted = t.implies_onset[f]
        if onset is None:
            onset, implied_by = wanted, f
        elif onset != wanted:
            raise InputError(f"{f} implies an {wanted} onset, but the onset was given as {onset}")
    if onset is not None:  # a finding that implies another onset cannot be present
        absent.update(f for f, wanted in t.implies_onset.items() if wanted != onset and f not in present)
    clash = present & absent
    if clash:
        raise InputError(
            f"finding(s) both present and absent once nesting is applied: {', '.join(sorted(clash))} "
            "(a narrower finding implies the broader one; an absent broader finding rules out the narrower)"
        )
    return Known(
        frozenset(present),
        frozenset(absent),
        onset,
        tuple(f for f in sorted(present) if f not in query.present),
        tuple(f for f in sorted(absent) if f not in query.absent),
        implied_by,
    )


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


# ----------------------------------------------------------------------------- prior, age and onset


def prior_weights(kb: CompiledKnowledgeBase, group: str | None) -> tuple[float, ...]:
    """Each condition's share of presentations, then other's (the rest); the mean of both groups when unknown."""
    if group is None:
        priors = [(c.prior["child"].value + c.prior["adult"].value) / 2.0 for c in kb.conditions]
    else:
        priors = [c.prior[group].value for c in kb.conditions]
    return (*priors, 1.0 - math.fsum(priors))


def _base_terms(kb: CompiledKnowledgeBase, group: str | None, band: str | None, onset: str | None) -> _Base:
    """Prior weights and the log prior, age and onset terms of every outcome, and their sums; a few dozen
    (group, band, onset) combinations, each computed once per knowledge base."""
    memo = tables(kb).base
    key = (group, band, onset)
    cached = memo.get(key)
    if cached is not None:
        return cached
    weights = prior_weights(kb, group)
    log_priors = tuple(math.log(w) for w in weights)
    profiles = [(c.age, c.onset) for c in kb.conditions] + [(kb.other.age, kb.other.onset)]
    if band is not None:
        band_group = next(b.group for b in kb.bands if b.id == band)
        in_group = [b.id for b in kb.bands if b.group == band_group]
        log_ages = tuple(math.log(age[band].value / math.fsum(age[b].value for b in in_group)) for age, _ in profiles)
    else:
        log_ages = (0.0,) * len(profiles)
    if onset is not None:
        log_onsets = tuple(math.log(share) for share in tables(kb).onset_share(onset))
    else:
        log_onsets = (0.0,) * len(profiles)
    sums = tuple(a + b + c for a, b, c in zip(log_priors, log_ages, log_onsets, strict=True))
    result = (weights, log_priors, log_ages, log_onsets, sums)
    memo[key] = result
    return result


# ----------------------------------------------------------------------------- scoring a tree


def _state(t: Tables, known: Known, node: str) -> str | None:
    if t.is_group(node):
        members = t.kb.group(node).members
        if any(m in known.present for m in members):
            return PRESENT
        if all(m in known.absent for m in members):
            return ABSENT
        return None
    if node in known.present:
        return PRESENT
    if node in known.absent:
        return ABSENT
    return None


def _observed(t: Tables, known: Known, node: str) -> bool:
    return any(n in known.present or n in known.absent for n in t.subtree(node) if not t.is_group(n))


def _likelihood(t: Tables, group: str | None, known: Known, node: str) -> list[float]:
    """P(the observations in node's tree | node's parent present), for every outcome at once."""
    a = t.conditional(group, node)
    state = _state(t, known, node)
    if state == ABSENT:
        return [1.0 - x for x in a]
    if not t.children.get(node):
        return list(a) if state == PRESENT else [1.0] * len(a)
    inner = _inner(t, group, known, node)
    if state == PRESENT:
        return [x * y for x, y in zip(a, inner, strict=True)]
    return [(1.0 - x) + x * y for x, y in zip(a, inner, strict=True)]


def _inner(t: Tables, group: str | None, known: Known, node: str) -> list[float]:
    """P(the observations below a node | the node present), for every outcome."""
    n = t.n + 1
    kids = [c for c in t.children.get(node, ()) if _observed(t, known, c)]
    joint = [1.0] * n
    for c in kids:
        joint = [x * y for x, y in zip(joint, _likelihood(t, group, known, c), strict=True)]
    if not t.is_group(node):
        return joint
    # At least one member is present: take away the chance that every member is absent, then renormalise.
    none = [1.0] * n
    for m in t.kb.group(node).members:
        if m in kids and any(x in known.present for x in t.subtree(m)):
            return [x / z for x, z in zip(joint, t.z(group, node), strict=True)]  # a member is present: none is 0
        none = [x * (1.0 - q) for x, q in zip(none, t.conditional(group, m), strict=True)]
    return [(x - y) / z for x, y, z in zip(joint, none, t.z(group, node), strict=True)]


def _pattern(t: Tables, known: Known, root: str) -> tuple[object, ...]:
    states = tuple((n, _state(t, known, n)) for n in t.subtree(root) if not t.is_group(n) and _state(t, known, n))
    return (root, states, known.onset if root in t.implies_onset else None)


def tree_column(t: Tables, group: str | None, known: Known, root: str) -> tuple[float, ...]:
    """The log likelihood of a tree's observations for every outcome (memoised by the pattern of states)."""
    key = (group, *_pattern(t, known, root))
    cached = t.columns.get(key)
    if cached is not None:
        return cached
    if root in t.implies_onset and known.onset is not None and known.onset != t.implies_onset[root]:
        liks = [1.0] * (t.n + 1)  # the onset rules the finding out; it was marked absent and costs nothing
    elif root in t.implies_onset and known.onset is None and _state(t, known, root) == ABSENT:
        liks = [1.0 - p for p in t.marginal(group, root)]  # marginal over the unknown onset
    else:
        liks = _likelihood(t, group, known, root)
    log = math.log
    column = tuple([log(x) if x > 0.0 else -745.0 for x in liks])  # -745: exp() of it is the smallest double
    if len(t.columns) < 65536:  # bounded: odd input must not grow it without end
        t.columns[key] = column
    return column


def touched_roots(t: Tables, known: Known) -> list[str]:
    """The roots of every tree with an observation, in a stable order."""
    return sorted({t.root(f) for f in known.present | known.absent})


def complete_composites(kb: CompiledKnowledgeBase, known: Known) -> list[tuple[str, bool]]:
    """The composite examinations whose every sign is known (and which apply): (id, positive)."""
    out = []
    for comp in kb.composites:
        if not all(f in known.present for f in comp.applies_when):
            continue
        states = [PRESENT if f in known.present else ABSENT if f in known.absent else None for f, _ in comp.signs]
        if None in states:
            continue
        out.append((comp.id, any(s == when for s, (_, when) in zip(states, comp.signs, strict=True))))
    return out


def without_composite_signs(kb: CompiledKnowledgeBase, known: Known, complete: list[tuple[str, bool]]) -> Known:
    """The observations left to score one by one once complete composites have taken their signs."""
    if not complete:
        return known
    signs = {f for cid, _ in complete for f, _ in kb.composite(cid).signs}
    return known._replace(present=known.present - signs, absent=known.absent - signs)


def composite_column(t: Tables, group: str | None, cid: str, positive: bool) -> tuple[float, ...]:
    """The log probability of a composite's result for every outcome: the frequency a condition gives for it, else
    what its signs' frequencies imply (positive unless every sign is in its negative state)."""
    key = ("composite", group, cid, positive)
    cached = t.columns.get(key)
    if cached is not None:
        return cached
    kb = t.kb
    comp = kb.composite(cid)
    out = []
    for k in range(t.n + 1):
        listed = kb.conditions[k].composites.get(cid) if k < t.n else kb.other.composites.get(cid)
        if listed is not None:
            p_pos = t._value(listed, group)
        else:
            p_neg = 1.0
            for finding, when in comp.signs:
                a = t.conditional(group, finding)[k]  # given what it is within (applies_when makes that present)
                p_neg *= (1.0 - a) if when == PRESENT else a
            p_pos = 1.0 - p_neg
        p_pos = min(max(p_pos, EPS), 1.0 - EPS)
        out.append(math.log(p_pos if positive else 1.0 - p_pos))
    column = tuple(out)
    t.columns[key] = column
    return column


# ----------------------------------------------------------------------------- ranking


class Posterior(NamedTuple):
    """The arithmetic of one ranking, outcome by outcome (conditions in knowledge-base order, then other)."""

    group: str | None
    known: Known
    order: list[int]  # condition indices, most probable first (ties by condition id)
    joints: list[float]  # log prior + age + onset + findings, for every outcome
    log_evidence: float
    weights: tuple[float, ...]
    log_priors: tuple[float, ...]
    log_ages: tuple[float, ...]
    log_onsets: tuple[float, ...]
    log_findings: list[float] | tuple[float, ...]


def posterior(kb: CompiledKnowledgeBase, query: Query, known: Known | None = None) -> Posterior:
    """The numbers behind `rank`, without building result records."""
    t = tables(kb)
    known = known if known is not None else implications(kb, query)
    group = age_group(query.age_years)
    band = age_band(kb, query.age_years) if query.age_years is not None else None
    weights, log_priors, log_ages, log_onsets, base = _base_terms(kb, group, band, known.onset)
    complete = complete_composites(kb, known) if kb.composites else []
    scored = without_composite_signs(kb, known, complete)
    columns = [tree_column(t, group, scored, r) for r in touched_roots(t, scored)]
    columns += [composite_column(t, group, cid, positive) for cid, positive in complete]
    # Each outcome's log likelihood of the entered findings: the columns added left to right, in C (map). Not
    # sum(), which compensates rounding from Python 3.12 on: core/vector.py adds the same columns in the same order
    # with numpy and must get the same bits.
    log_findings: list[float] | tuple[float, ...] = columns[0] if columns else (0.0,) * len(base)
    for column in columns[1:]:
        log_findings = list(map(_add, log_findings, column))
    joints = [a + b for a, b in zip(base, log_findings, strict=True)]
    top_joint = max(joints)
    log_evidence = top_joint + math.log(math.fsum([math.exp(x - top_joint) for x in joints]))
    order = sorted(t.id_order, key=joints.__getitem__, reverse=True)
    return _new_tuple(
        Posterior,
        (group, known, order, joints, log_evidence, weights, log_priors, log_ages, log_onsets, log_findings),
    )


def query_warnings(kb: CompiledKnowledgeBase, query: Query) -> tuple[str, ...]:
    """What the user should know about a query whatever the ranking."""
    if not query.present and not query.absent:
        return ("no findings entered: the ranking reflects only the prior, age and onset",)
    return ()


def rank(kb: CompiledKnowledgeBase, query: Query, top: int | None = None, contributions: bool = True) -> Ranking:
    """Posterior over the knowledge base's conditions and other causes for one query.

    `contributions=False` skips the per-term likelihood ratios (batch runs that only need probabilities).
    """
    t = tables(kb)
    post = posterior(kb, query)
    n = t.n
    terms: tuple[Term, ...] = ()
    explained: list[tuple[Contribution, ...]] = [()] * n
    if contributions:
        terms = finding_terms(kb, post, query)
        explained = _contributions(kb, terms, post.weights)
    order = post.order if top is None else post.order[: max(top, 0)]
    exp = math.exp
    heads = t.heads
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
    other = exp(joints[n] - log_evidence)
    return Ranking(query, post.known, post.group, results, other, log_evidence, query_warnings(kb, query), terms)


def finding_terms(kb: CompiledKnowledgeBase, post: Posterior, query: Query) -> tuple[Term, ...]:
    """The findings' log likelihood as additive terms for every outcome, by the chain rule within each tree.

    Within a tree, findings are taken broader first, then in the order they were entered: each term is the log
    probability of that finding given those taken before it. A narrower finding's term is therefore conditional
    on its broader finding; a group member's term is its own frequency, followed by a "group" term for how much
    the members entered before it change it. The terms of a tree add up to its joint score exactly.
    """
    t = tables(kb)
    group = post.group
    complete = complete_composites(kb, post.known) if kb.composites else []
    known = without_composite_signs(kb, post.known, complete)
    entered = {f: i for i, f in enumerate((*query.present, *query.absent))}

    def depth(node: str) -> int:
        d, up = 0, kb.finding(node).within
        while up is not None:
            d, up = d + 1, kb.finding(up).within
        return d

    out: list[Term] = []
    for root in touched_roots(t, known):
        nodes = [n for n in t.subtree(root) if not t.is_group(n) and (n in known.present or n in known.absent)]
        nodes.sort(key=lambda n: (depth(n), entered.get(n, -1), n))
        prev = (0.0,) * (t.n + 1)
        seen_present: set[str] = set()
        seen_absent: set[str] = set()
        for node in nodes:
            state = PRESENT if node in known.present else ABSENT
            (seen_present if state == PRESENT else seen_absent).add(node)
            partial = known._replace(present=frozenset(seen_present), absent=frozenset(seen_absent))
            column = tree_column(t, group, partial, root)
            logs = tuple(a - b for a, b in zip(column, prev, strict=True))
            prev = column
            if node in known.implied_absent and all(abs(x) < 1e-12 for x in logs):
                continue  # ruled out by an absent broader finding or by the onset: probability 1
            kind = "test" if t.kind[node] == "test" else "finding"
            broader = kb.finding(node).within
            before = nodes[: nodes.index(node)]
            if broader is not None and broader in before:
                out.append(Term(kind, node, state, broader, logs))
                continue
            if node in t.implies_onset and known.onset is not None:
                out.append(Term(kind, node, state, f"onset {known.onset}", logs))
                continue
            marginal = t.marginal(group, node)
            own = tuple(math.log(p if state == PRESENT else 1.0 - p) for p in marginal)
            rest = tuple(a - b for a, b in zip(logs, own, strict=True))
            if not before or all(abs(x) < 1e-9 for x in rest):
                out.append(Term(kind, node, state, None, logs))
                continue
            # What the findings entered before it in the same tree change about it: an overlap group, or siblings
            # under an unknown broader finding.
            up = t.parent.get(node)
            out.append(Term(kind, node, state, None, own))
            label = up if up is not None and t.is_group(up) else root
            out.append(Term("group" if t.is_group(label) else "correction", label, None, ", ".join(before), rest))
    for cid, positive in complete:
        state = "positive" if positive else "negative"
        out.append(Term("composite", cid, state, None, composite_column(t, group, cid, positive)))
    return tuple(out)


def _contributions(
    kb: CompiledKnowledgeBase, terms: Iterable[Term], weights: tuple[float, ...]
) -> list[tuple[Contribution, ...]]:
    """Each finding's likelihood ratio for each condition against the prior-weighted other outcomes (a group or
    correction term counts with the finding it follows)."""
    t = tables(kb)
    n = t.n
    per_finding: list[tuple[Term, list[float]]] = []
    for term in terms:
        if term.kind in ("finding", "test", "composite") or not per_finding:
            per_finding.append((term, list(term.logs)))
        else:
            per_finding[-1] = (per_finding[-1][0], [a + b for a, b in zip(per_finding[-1][1], term.logs, strict=True)])
    out: list[list[Contribution]] = [[] for _ in range(n)]
    for term, logs in per_finding:
        lik = [math.exp(x) for x in logs]
        # The prior-weighted mean likelihood under every outcome; removing one condition's share gives the mean
        # under "the others" in O(n) per term instead of O(n^2).
        total = math.fsum(w * q for w, q in zip(weights, lik, strict=True))
        for i in range(n):
            p_c = lik[i]
            p_o = (total - weights[i] * p_c) / (1.0 - weights[i])
            if p_o <= 0.0:  # cancellation when this condition carries nearly all the weight: sum directly
                p_o = math.fsum(weights[j] * lik[j] for j in range(n + 1) if j != i) / (1.0 - weights[i])
            listed = term.node in kb.conditions[i].findings or term.node in kb.conditions[i].composites
            out[i].append(Contribution(term.node, term.state or "", math.log(p_c / p_o), p_c, p_o, listed))
    return [tuple(c) for c in out]
