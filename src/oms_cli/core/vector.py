"""Vectorised scoring: a block of cases at once with numpy, giving `engine.rank`'s numbers to the last bit.

Each case is a row of two boolean matrices (findings entered present, entered absent), an age and an onset. The
engine's set logic (what nesting and the onset imply, contradictions, complete composite examinations) becomes
boolean algebra on those matrices; each nesting tree's pattern of states becomes an integer code, looked up in a
table of log-likelihood columns that `engine.tree_column` computes once per pattern (and `engine._base_terms`
per age band and onset). The columns are added in the engine's order, tree by tree in root order and then the
composites, so every sum is the same IEEE operation as in `engine.posterior`; exp and log go through the `math`
module, value by value, as in `engine.rank`, and the evidence's sum is math.fsum's correctly rounded one (a
double-double sum that defers to math.fsum on the rare row it cannot round with certainty). The result is
therefore identical, not merely close, and `batch` output does not change by a byte. Rows the engine would refuse (unknown terms, contradictions) are marked
and left to the per-case path, which gives the exact error.

numpy is imported here and only here (and by the data-frame modules), never on the `suggest` path.
"""

from __future__ import annotations

import gc
import itertools
import math
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from oms_cli.core import engine
from oms_cli.core.engine import PRESENT, Known, ScoredCondition
from oms_cli.errors import OmsError
from oms_cli.kb.compiled import CompiledKnowledgeBase, derived
from oms_cli.kb.terms import ADULT_AGE_YEARS, ONSETS

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from oms_cli.core.batch import Outcome
    from oms_cli.core.inputs import Case, CaseError

    Bools = NDArray[np.bool_]
    Ints = NDArray[np.int64]
    Floats = NDArray[np.float64]

GROUPS: tuple[str | None, ...] = (None, "child", "adult")  # age group codes 0, 1, 2
N_ONSET = len(ONSETS) + 1  # onset codes 0 (unknown), 1.. (ONSETS order)
ONSET_CODE = {o: i + 1 for i, o in enumerate(ONSETS)}
_new_tuple = tuple.__new__


class Block(NamedTuple):
    """A block of cases as the scorer reads them."""

    present: Bools  # (cases, findings): entered present, findings in knowledge-base order
    absent: Bools  # entered absent
    age: Floats  # years; NaN when unknown (already checked to lie in 0-120)
    onset: Ints  # 0 unknown, else 1 + index in ONSETS
    bad: Bools  # rows the scorer must leave to the per-case path (an unknown term, present and absent at once)


class Scores(NamedTuple):
    """A scored block (outcomes in knowledge-base order, other last). Rows with `ok` false were not scored (the
    engine refuses them, or they came in bad). `probabilities` turns joints and evidence into posteriors."""

    ok: Bools
    order: Ints  # (cases, conditions): condition indices, most probable first (ties by condition id)
    joints: Floats  # (cases, conditions + 1): log prior + age + onset + findings
    evidence: Floats  # (cases,): log of the sum of exp(joints)
    log_findings: Floats  # (cases, conditions + 1)
    base: Ints  # index into Model.bases: the prior, age and onset terms of each row


class _Tree(NamedTuple):
    position: int  # in root order
    root: str
    nodes: tuple[str, ...]  # the tree's findings (groups are latent), in subtree order
    columns: Ints  # their finding indices
    powers: Ints  # 3**i: state codes 0 unknown, 1 present, 2 absent
    onset_root: bool  # the root implies an onset: its column depends on the onset too


class Model:
    """A knowledge base in the scorer's terms: index maps, closures, trees and the interned columns."""

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        t = engine.tables(kb)
        self.kb, self.t = kb, t
        self.n = t.n
        self.finding_ids = tuple(f.id for f in kb.findings)
        index = {f: i for i, f in enumerate(self.finding_ids)}
        self.index = index
        self.id_order = np.array(t.id_order, dtype=np.int64)
        # What entering a finding implies: its broader findings present (up to the first group), or absent its
        # narrower ones (the engine's `implications`).
        self.up: list[tuple[int, list[int]]] = []
        self.down: list[tuple[int, list[int]]] = []
        for f in self.finding_ids:
            ups, node = [], t.parent.get(f)
            while node is not None and not t.is_group(node):
                ups.append(index[node])
                node = t.parent.get(node)
            if ups:
                self.up.append((index[f], ups))
            downs = [index[x] for x in t.subtree(f) if not t.is_group(x) and x != f]
            if downs:
                self.down.append((index[f], downs))
        self.onset_findings = [(index[f], ONSET_CODE[w]) for f, w in sorted(t.implies_onset.items())]
        roots = sorted({t.root(f) for f in self.finding_ids})
        self.n_trees = len(roots)
        singles: list[tuple[int, str]] = []
        self.trees: list[_Tree] = []
        for pos, root in enumerate(roots):
            nodes = tuple(x for x in t.subtree(root) if not t.is_group(x))
            if nodes == (root,) and root not in t.implies_onset:
                singles.append((pos, root))
            else:
                self.trees.append(
                    _Tree(
                        pos,
                        root,
                        nodes,
                        np.array([index[x] for x in nodes], dtype=np.int64),
                        3 ** np.arange(len(nodes), dtype=np.int64),
                        root in t.implies_onset,
                    )
                )
        self._lock = threading.RLock()
        self._columns: list[tuple[float, ...]] = [(0.0,) * (self.n + 1)]  # column 0: an untouched tree
        self._column_ids: dict[tuple[object, ...], int] = {}
        self._matrix: Floats = np.zeros((1, self.n + 1))
        self._tree_ids: list[dict[int, int]] = [{} for _ in self.trees]
        self._tree_tables: list[Ints | None] = [
            np.full(3 ** len(tree.nodes) * len(GROUPS) * N_ONSET, -1, dtype=np.int64) if len(tree.nodes) <= 9 else None
            for tree in self.trees
        ]
        # A tree of one finding has six columns (present, absent; three age groups): built now, looked up by code.
        self.single_pos = np.array([p for p, _ in singles], dtype=np.int64)
        self.single_index = np.array([index[r] for _, r in singles], dtype=np.int64)
        lut = np.zeros((len(singles), len(GROUPS), 4), dtype=np.int64)  # state 3 (both, a refused row): untouched
        for s, (_, root) in enumerate(singles):
            for g, group in enumerate(GROUPS):
                for state, (pres, absn) in ((1, ({root}, set())), (2, (set(), {root}))):
                    known = Known(frozenset(pres), frozenset(absn), None, (), (), None)
                    lut[s, g, state] = self._intern(("tree", g, root, state), engine.tree_column(t, group, known, root))
        self.single_lut = lut
        self.single_base = np.arange(len(singles), dtype=np.int64) * (len(GROUPS) * 4)
        # Composites: their signs, when they apply, and their two columns per age group.
        self.composites = []
        for comp in kb.composites:
            cols = np.zeros((len(GROUPS), 2), dtype=np.int64)
            for g, group in enumerate(GROUPS):
                for positive in (False, True):
                    column = engine.composite_column(t, group, comp.id, positive)
                    cols[g, int(positive)] = self._intern(("composite", g, comp.id, positive), column)
            signs = [(index[f], when == PRESENT) for f, when in comp.signs]
            self.composites.append(([index[f] for f in comp.applies_when], signs, cols))
        self.bands = kb.bands
        self.bases: list[tuple[tuple[float, ...], ...]] = []
        self._base_ids: dict[int, int] = {}
        self._base_sums: Floats = np.zeros((0, self.n + 1))

    # ------------------------------------------------------------------ interning

    def _intern(self, key: tuple[object, ...], column: tuple[float, ...]) -> int:
        with self._lock:
            known = self._column_ids.get(key)
            if known is None:
                known = self._column_ids[key] = len(self._columns)
                self._columns.append(column)
            return known

    def matrix(self) -> Floats:
        """Every interned column as a row (row 0 is zeros)."""
        with self._lock:
            if self._matrix.shape[0] < len(self._columns):
                self._matrix = np.array(self._columns, dtype=np.float64)
            return self._matrix

    def tree_ids(self, tree_no: int, keys: Ints) -> Ints:
        """Column ids for a tree's pattern keys ((code * 3 + age group) * N_ONSET + onset), built as first seen."""
        tree = self.trees[tree_no]
        table = self._tree_tables[tree_no]
        if table is not None:  # a table over every possible key: one lookup, new patterns filled in as seen
            ids = table[keys]
            missing = ids < 0
            if missing.any():
                with self._lock:
                    for key in np.unique(keys[missing]).tolist():
                        table[key] = self._tree_column(tree, key)
                ids = table[keys]
            return ids
        memo = self._tree_ids[tree_no]  # a big tree: a dict over the keys seen
        uniq, inverse = np.unique(keys, return_inverse=True)
        found = []
        for key in uniq.tolist():
            known = memo.get(key)
            if known is None:
                known = memo[key] = self._tree_column(tree, key)
            found.append(known)
        return np.array(found, dtype=np.int64)[inverse]

    def _tree_column(self, tree: _Tree, key: int) -> int:
        rest, onset = divmod(key, N_ONSET)
        code, g = divmod(rest, len(GROUPS))
        present, absent = set(), set()
        for node in tree.nodes:
            code, state = divmod(code, 3)
            if state == 1:
                present.add(node)
            elif state == 2:
                absent.add(node)
        known = Known(frozenset(present), frozenset(absent), ONSETS[onset - 1] if onset else None, (), (), None)
        column = engine.tree_column(self.t, GROUPS[g], known, tree.root)
        return self._intern(("tree", tree.root, key), column)

    def base_ids(self, keys: Ints) -> tuple[Ints, Floats]:
        """Row ids into `bases` for keys (age group * (bands + 1) + band + 1) * N_ONSET + onset, and the sums."""
        uniq, inverse = np.unique(keys, return_inverse=True)
        ids = []
        with self._lock:
            for key in uniq.tolist():
                found = self._base_ids.get(key)
                if found is None:
                    rest, onset = divmod(key, N_ONSET)
                    g, band = divmod(rest, len(self.bands) + 1)
                    terms = engine._base_terms(
                        self.kb,
                        GROUPS[g],
                        self.bands[band - 1].id if band else None,
                        ONSETS[onset - 1] if onset else None,
                    )
                    found = self._base_ids[key] = len(self.bases)
                    self.bases.append(terms)
                ids.append(found)
            if self._base_sums.shape[0] < len(self.bases):
                self._base_sums = np.array([b[4] for b in self.bases], dtype=np.float64)
            sums = self._base_sums
        return np.array(ids, dtype=np.int64)[inverse], sums


_MODELS: weakref.WeakKeyDictionary[CompiledKnowledgeBase, Model] = weakref.WeakKeyDictionary()
_MODELS_LOCK = threading.Lock()


def model(kb: CompiledKnowledgeBase) -> Model:
    """The scorer's model of a knowledge base, built on first use (once per process and knowledge base)."""
    found = _MODELS.get(kb)
    if found is None:
        with _MODELS_LOCK:
            found = _MODELS.get(kb)
            if found is None:
                found = _MODELS[kb] = Model(kb)
    return found


# ----------------------------------------------------------------------------- scoring


def _age_codes(m: Model, age: Floats) -> tuple[Ints, Ints, Bools]:
    """Age group code (0 unknown, 1 child, 2 adult), band code (0 unknown, 1 + band index) and ages in no band."""
    known = ~np.isnan(age)
    group = np.where(known, np.where(age >= ADULT_AGE_YEARS, 2, 1), 0).astype(np.int64)
    band = np.zeros(len(age), dtype=np.int64)
    last = len(m.bands) - 1
    for i, b in enumerate(m.bands):  # the engine's `age_band`: the first band that holds the age
        inside = (age >= b.min_years) & (age < b.max_years)
        if i == last:
            inside |= (age >= b.min_years) & (age <= b.max_years)
        band = np.where((band == 0) & inside, i + 1, band)
    return group, band, known & (band == 0)


def score_block(kb: CompiledKnowledgeBase, block: Block) -> Scores:
    """Score every row of a block; rows the engine would refuse come back with ok false."""
    m = model(kb)
    rows = len(block.age)
    k = m.n + 1
    present, absent = block.present.copy(), block.absent.copy()
    for i, ups in m.up:
        present[:, ups] |= block.present[:, i : i + 1]
    for i, downs in m.down:
        absent[:, downs] |= block.absent[:, i : i + 1]
    bad = block.bad | (block.present & block.absent).any(axis=1)
    onset = block.onset.copy()
    for i, wanted in m.onset_findings:  # sorted by finding id, as the engine takes them
        implied = present[:, i]
        bad |= implied & (onset > 0) & (onset != wanted)
        onset = np.where(implied & (onset == 0), wanted, onset)
    for i, wanted in m.onset_findings:
        absent[:, i] |= (onset > 0) & (onset != wanted) & ~present[:, i]
    bad |= (present & absent).any(axis=1)
    group, band, no_band = _age_codes(m, block.age)
    bad |= no_band
    good = ~bad
    # Complete composite examinations take their signs out of the trees (judged on the full picture first).
    extra: list[Ints] = []
    taken: list[tuple[Bools, list[int]]] = []
    for applies, signs, cols in m.composites:
        complete = good.copy()
        for i in applies:
            complete &= present[:, i]
        for i, _ in signs:
            complete &= present[:, i] | absent[:, i]
        if not complete.any():
            continue
        positive = np.zeros(rows, dtype=np.int64)
        for i, when_present in signs:
            positive |= present[:, i] if when_present else absent[:, i]
        extra.append(np.where(complete, cols[group, positive], 0))
        taken.append((complete, [i for i, _ in signs]))
    # Each finding's state: 0 unknown, 1 present, 2 absent (refused rows: all unknown).
    state = present.view(np.int8) + 2 * absent.view(np.int8)
    state[bad] = 0
    for complete, sign_columns in taken:
        state[np.ix_(np.flatnonzero(complete), np.array(sign_columns, dtype=np.int64))] = 0
    by_finding = np.ascontiguousarray(state.T)  # (findings, rows): each finding's states in one contiguous run
    # Each tree's column id, trees in root order (0: no observation in the tree, a column of zeros); held as
    # (trees, rows) so that every tree's ids are written in one contiguous run.
    ids_t = np.zeros((m.n_trees, rows), dtype=np.int32)
    if len(m.single_index):
        at = by_finding[m.single_index] + (m.single_base[:, None] + (group * 4)[None, :])  # (single, group, state)
        ids_t[m.single_pos] = m.single_lut.ravel()[at]
    for tree_no, tree in enumerate(m.trees):
        code = tree.powers @ by_finding[tree.columns].astype(np.int64)
        touched = code != 0
        if not touched.any():
            continue
        key = (code * len(GROUPS) + group) * N_ONSET + (onset if tree.onset_root else 0)
        ids_t[tree.position] = np.where(touched, m.tree_ids(tree_no, key), 0)
    ids = ids_t.T
    r_nz, c_nz = np.nonzero(ids)  # row by row, trees in root order
    counts = np.bincount(r_nz, minlength=rows)
    width = int(counts.max()) if rows else 0
    columns = m.matrix()
    if width:
        slot = np.arange(len(r_nz)) - (np.cumsum(counts) - counts)[r_nz]
        packed = np.zeros((width, rows), dtype=np.int32)
        packed[slot, r_nz] = ids[r_nz, c_nz]
        log_findings = columns[packed[0]]
        for col in range(1, width):
            log_findings += columns[packed[col]]
    else:
        log_findings = np.zeros((rows, k))
    for composite_ids in extra:
        log_findings += columns[composite_ids]
    base_key = (group * (len(m.bands) + 1) + band) * N_ONSET + onset
    base, base_sums = m.base_ids(base_key)
    joints = base_sums[base] + log_findings
    # The ranking, and the evidence as engine.rank computes it: math.exp and math.log value by value, fsum's sum.
    order = np.zeros((rows, m.n), dtype=np.int64)
    evidence = np.full(rows, np.nan)
    if good.any():
        j = joints[good]
        order[good] = m.id_order[np.argsort(-j[:, m.id_order], axis=1, kind="stable")]
        top = j.max(axis=1)
        shifted = _exp(j - top[:, None])
        evidence[good] = top + np.fromiter(map(math.log, _fsum_rows(shifted).tolist()), np.float64, len(top))
    return Scores(good, order, joints, evidence, log_findings, base)


def _exp(values: Floats) -> Floats:
    """math.exp of every value (libm's, as the engine uses; numpy's own exp may differ in the last bit)."""
    return np.fromiter(map(math.exp, values.ravel().tolist()), np.float64, values.size).reshape(values.shape)


def probabilities(scores: Scores, outcomes: Ints) -> Floats:
    """The posterior of the given outcomes, row by row ((rows, j) outcome indices): engine.rank's numbers. NaN
    on rows that were not scored."""
    picked = np.take_along_axis(scores.joints, outcomes, axis=1)
    out = np.full(picked.shape, np.nan)
    ok = scores.ok
    if ok.any():
        out[ok] = _exp(picked[ok] - scores.evidence[ok, None])
    return out


def _fsum_rows(values: Floats) -> Floats:
    """math.fsum of each row (the correctly rounded sum), without calling it on most rows.

    Each row is summed as a double-double (the exact error of every addition carried along), which leaves the
    true sum within a hair of hi + lo; hi is its correct rounding unless the true sum lies within that hair of a
    rounding boundary (half an ulp of hi away, a quarter below a power of two). Those rare rows go to math.fsum.
    """
    hi = values[:, 0].copy()
    lo = np.zeros_like(hi)
    for j in range(1, values.shape[1]):
        x = values[:, j]
        t = hi + x
        back = t - hi
        lo += (hi - (t - back)) + (x - back)  # two-sum: the exact rounding error of hi + x
        hi = t
    total = hi + lo
    rest = lo - (total - hi)  # what total leaves out (fast two-sum: |hi| >= |lo|)
    ulp = np.spacing(total)
    hair = ulp * 1e-6  # far above the double-double's own error (about n**2 * 2**-53 ulps)
    power_of_two = np.frexp(total)[0] == 0.5
    unsure = np.abs(np.abs(rest) - ulp / 2) <= hair
    unsure |= power_of_two & (rest < 0) & (np.abs(np.abs(rest) - ulp / 4) <= hair)
    if unsure.any():
        per_row: list[list[float]] = values[unsure].tolist()
        total[unsure] = list(map(math.fsum, per_row))
    return total


# ----------------------------------------------------------------------------- blocks from terms


class Terms:
    """Resolves terms to finding indices for one knowledge base, remembering each spelling (-1: unknown)."""

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        self.kb = kb
        self.index = model(kb).index
        self.memo: dict[str, int] = {}

    def __call__(self, term: str) -> int:
        found = self.memo.get(term)
        if found is None:
            try:
                found = self.index[self.kb.resolve_finding(term)]
            except OmsError:
                found = -1
            if len(self.memo) < 65536:  # bounded: odd input must not grow it without end
                self.memo[term] = found
        return found


def term_matrices(
    kb: CompiledKnowledgeBase, present: Sequence[Sequence[str]], absent: Sequence[Sequence[str]], rows: int
) -> tuple[Bools, Bools, Bools]:
    """Entered-present and entered-absent matrices from term lists, and the rows with an unknown term."""
    resolve = _terms(kb)
    bad = np.zeros(rows, dtype=np.bool_)
    matrices = []
    for lists in (present, absent):
        mat = np.zeros((rows, len(kb.findings)), dtype=np.bool_)
        flat = list(itertools.chain.from_iterable(lists))
        if flat:
            cols = list(map(resolve.memo.get, flat))  # C-level lookups; the few new spellings resolved below
            if None in cols:
                cols = [resolve(t) if c is None else c for c, t in zip(cols, flat, strict=True)]
            c_arr = np.array(cols, dtype=np.int64)
            r_arr = np.repeat(np.arange(rows, dtype=np.int64), np.fromiter(map(len, lists), np.int64, rows))
            unknown = c_arr < 0
            if unknown.any():
                bad[r_arr[unknown]] = True
                r_arr, c_arr = r_arr[~unknown], c_arr[~unknown]
            mat[r_arr, c_arr] = True
        matrices.append(mat)
    return matrices[0], matrices[1], bad


_terms = derived(Terms)


def onset_codes(onsets: Iterable[str | None]) -> Ints:
    """Onset codes of already-checked onset names (None: unknown)."""
    return np.fromiter((ONSET_CODE[o] if o is not None else 0 for o in onsets), np.int64)


# ----------------------------------------------------------------------------- batch outcomes


class ScoredBlock(Sequence["Outcome"]):
    """The outcomes of a block of batch items scored together. As a sequence it gives exactly the outcomes
    `core.batch.score_case` gives (built when read); it also carries the block's numbers, so that an encoder
    that knows it (output/columnar.py) can write the records without building them (`columnar` is true)."""

    columnar = True

    def __init__(
        self,
        kb: CompiledKnowledgeBase,
        items: Sequence[Case | CaseError],
        top: int | None,
        rows: list[int],
        outcomes: dict[int, Outcome],
        scores: Scores | None,
    ) -> None:
        self.kb = kb
        self.model = model(kb)
        self.items = items
        self.top = top
        self.rows = rows  # per item: its row in the scores, or -1 (its outcome is in `outcomes`)
        self.outcomes = outcomes  # items the scorer did not score: unreadable lines and the engine's refusals
        self.failed = sum(type(o).__name__ == "CaseError" for o in outcomes.values())
        self.shown = self.model.n if top is None else max(0, min(top, self.model.n))
        self.order: Ints
        self.probability: Floats
        self.base: Ints
        self.log_findings: Floats
        if scores is None:
            self.order = np.zeros((0, self.shown), dtype=np.int64)
            self.probability = np.zeros((0, self.shown + 1))
            self.base = np.zeros(0, dtype=np.int64)
            self.log_findings = np.zeros((0, self.model.n + 1))
            return
        self.order = scores.order[:, : self.shown]
        n_rows = len(scores.ok)
        other = np.full((n_rows, 1), self.model.n, dtype=np.int64)
        # The probabilities of the conditions shown, by rank, then of other: one exp each, as engine.rank.
        self.probability = probabilities(scores, np.concatenate([self.order, other], axis=1))
        self.base = scores.base
        self.log_findings = scores.log_findings

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: Any) -> Any:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self._build([i])[0]

    def __iter__(self) -> Iterator[Outcome]:
        return iter(self._build(range(len(self.items))))

    def warnings(self, item: Case) -> tuple[str, ...]:
        """What the engine warns about this case (no findings entered), after what its reader warned."""
        if item.present or item.absent:
            return item.warnings
        return item.warnings + engine.query_warnings(self.kb, engine.Query())

    def _build(self, positions: Iterable[int]) -> list[Outcome]:
        from oms_cli.core.batch import Scored

        m = self.model
        heads = m.t.heads
        out: list[Outcome] = []
        # Thousands of small tuples and no cycles: the collector's passes over them would double the time.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for i in positions:
                r = self.rows[i]
                if r < 0:
                    out.append(self.outcomes[i])
                    continue
                item: Case = self.items[i]  # type: ignore[assignment]
                p: list[float] = self.probability[r].tolist()
                lf: list[float] = self.log_findings[r].tolist()
                _, log_priors, log_ages, log_onsets, _ = m.bases[int(self.base[r])]
                results = tuple(
                    [
                        _new_tuple(
                            ScoredCondition,
                            (
                                pos + 1,
                                heads[c][0],
                                heads[c][1],
                                p[pos],
                                heads[c][2],
                                log_priors[c],
                                log_ages[c],
                                log_onsets[c],
                                lf[c],
                                (),
                            ),
                        )
                        for pos, c in enumerate(self.order[r].tolist())
                    ]
                )
                out.append(
                    _new_tuple(Scored, (item.id, item.line, results, p[self.shown], self.warnings(item), item.source))
                )
        finally:
            if collecting:
                gc.enable()
        return out


def score_cases(kb: CompiledKnowledgeBase, items: Sequence[Case | CaseError], top: int | None) -> ScoredBlock:
    """The outcomes `core.batch.score_case` gives for each item, scored as one block (identical records)."""
    from oms_cli.core.batch import score_case
    from oms_cli.core.inputs import Case

    cases = [c for c in items if type(c) is Case]
    outcomes: dict[int, Outcome] = {i: c for i, c in enumerate(items) if type(c) is not Case}  # type: ignore[misc]
    if not cases:
        return ScoredBlock(kb, items, top, [-1] * len(items), outcomes, None)
    n_rows = len(cases)
    present, absent, bad = term_matrices(kb, [c.present for c in cases], [c.absent for c in cases], n_rows)
    age = np.array([np.nan if c.age_years is None else c.age_years for c in cases], dtype=np.float64)
    scores = score_block(kb, Block(present, absent, age, onset_codes([c.onset for c in cases]), bad))
    ok = scores.ok.tolist()
    rows: list[int] = []
    r = 0
    for i, item in enumerate(items):
        if i in outcomes:
            rows.append(-1)
            continue
        if ok[r]:
            rows.append(r)
        else:  # the engine refuses it: its own words, from the per-case path
            outcomes[i] = score_case(kb, item, top, contributions=False)  # type: ignore[arg-type]
            rows.append(-1)
        r += 1
    return ScoredBlock(kb, items, top, rows, outcomes, scores)
