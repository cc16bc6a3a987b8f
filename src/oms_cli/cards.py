"""Reference cards and side-by-side comparisons as plain data: section choice, citation order, discriminators."""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

from oms_cli.errors import InputError
from oms_cli.knowledge import normalise

if TYPE_CHECKING:
    from oms_cli.knowledge import CompiledCondition, CompiledKnowledgeBase
    from oms_cli.models import Condition, Reference, Statement

# Card order follows a clinical reference: what it is, how to recognise it, how to prove it, what to do.
SECTIONS: tuple[str, ...] = (
    "synopsis",
    "codes",
    "cant-miss",
    "look-for",
    "findings",
    "criteria",
    "pearls",
    "pitfalls",
    "tests",
    "management",
    "therapy",
    "profile",
    "references",
)
_SECTION_ALIASES = {
    "diagnostic-pearls": "pearls",
    "differential-pitfalls": "pitfalls",
    "differential": "pitfalls",
    "best-tests": "tests",
    "management-pearls": "management",
    "treatment": "therapy",
    "cantmiss": "cant-miss",
    "red-flags": "cant-miss",
    "chart": "findings",
    "priors": "profile",
    "prior": "profile",
    "age": "profile",
    "onset": "profile",
    "refs": "references",
}
# Where each card section lives in the knowledge-base model.
STATEMENT_FIELDS = {
    "look-for": "look_for",
    "pearls": "diagnostic_pearls",
    "pitfalls": "differential_pitfalls",
    "management": "management_pearls",
    "therapy": "therapy",
}
KINDS: tuple[str, ...] = ("eye", "motor", "behaviour", "systemic", "history")


def resolve_sections(names: Iterable[str]) -> tuple[str, ...]:
    """Canonical card sections for user-given names (any case, aliases allowed), in card order."""
    wanted: set[str] = set()
    for name in names:
        key = normalise(name)
        key = _SECTION_ALIASES.get(key, key)
        if key not in SECTIONS:
            close = difflib.get_close_matches(key, [*SECTIONS, *_SECTION_ALIASES], n=1, cutoff=0.6)
            hint = f"; did you mean {_SECTION_ALIASES.get(close[0], close[0])!r}?" if close else ""
            raise InputError(f"unknown section {name!r}{hint} (sections: {', '.join(SECTIONS)})")
        wanted.add(key)
    if not wanted:
        return SECTIONS
    return tuple(s for s in SECTIONS if s in wanted)


def _section_refs(c: Condition, section: str) -> Iterator[str]:
    if section == "synopsis":
        yield from c.synopsis_refs
    elif section == "codes":
        for code in c.codes:
            yield from code.refs
    elif section in STATEMENT_FIELDS:
        for st in getattr(c, STATEMENT_FIELDS[section]):
            yield from st.refs
    elif section == "tests":
        for test in c.best_tests:
            yield from test.refs
    elif section == "criteria":
        for crit in c.criteria:
            yield from crit.refs
    elif section == "findings":
        for ev in sorted(c.findings.values(), key=lambda e: -e.value):
            yield from ev.refs
    elif section == "profile":
        for ev in [c.prior.child, c.prior.adult, *c.age_profile.values(), *c.onset_profile.values()]:
            yield from ev.refs


def card_references(kb: CompiledKnowledgeBase, condition_id: str, sections: Iterable[str]) -> list[Reference]:
    """The references cited in the given sections of a card, numbered by order of first citation."""
    c = kb.condition_model(condition_id)
    order: dict[str, None] = {}
    for section in sections:
        for ref in _section_refs(c, section):
            order.setdefault(ref, None)
    by_id = {r.id: r for r in kb.model.references}
    return [by_id[r] for r in order if r in by_id]


def finding_groups(kb: CompiledKnowledgeBase, condition_id: str) -> list[tuple[str, list[str]]]:
    """The condition's listed findings grouped by kind (eye, motor, …), most frequent first in each group."""
    c = kb.condition_model(condition_id)
    groups: list[tuple[str, list[str]]] = []
    for kind in KINDS:
        ids = [fid for fid in c.findings if kb.finding(fid).kind == kind]
        ids.sort(key=lambda fid: (-c.findings[fid].value, fid))
        if ids:
            groups.append((kind, ids))
    return groups


# ----------------------------------------------------------------------------- comparison


@dataclass(frozen=True)
class FindingComparison:
    """One finding across the compared conditions and the likelihood ratio that separates them most."""

    finding: str
    probabilities: tuple[float, ...]
    listed: tuple[bool, ...]
    log_lr: float
    state: str
    favours: str
    against: str

    @property
    def discrimination(self) -> float:
        """Size of the largest likelihood ratio either way, in natural-log units."""
        return abs(self.log_lr)


@dataclass(frozen=True)
class Comparison:
    """Conditions side by side: findings ordered by how well they separate them, and shared pitfalls."""

    conditions: tuple[CompiledCondition, ...]
    findings: tuple[FindingComparison, ...]
    highlighted: tuple[str, ...]
    pitfalls: tuple[tuple[str, Statement], ...]


def _best_pair(ids: list[str], values: list[float]) -> tuple[float, str, str]:
    hi = max(range(len(values)), key=lambda i: (values[i], -i))
    lo = min((i for i in range(len(values)) if i != hi), key=lambda i: (values[i], i))
    return math.log(values[hi] / values[lo]), ids[hi], ids[lo]


def compare(kb: CompiledKnowledgeBase, condition_ids: list[str], highlight: int = 5) -> Comparison:
    """Compare two or more conditions; the `highlight` most discriminating findings are marked."""
    ids = list(dict.fromkeys(kb.resolve_condition(t) for t in condition_ids))
    if len(ids) < 2:
        raise InputError("compare needs at least two different conditions")
    conds = tuple(kb.condition(cid) for cid in ids)
    listed_anywhere = [f for f in kb.finding_ids if any(f in c.findings for c in conds)]
    rows: list[FindingComparison] = []
    for fid in listed_anywhere:
        probs = [c.findings.get(fid, kb.leak) for c in conds]
        present = _best_pair(ids, probs)
        absent = _best_pair(ids, [1.0 - p for p in probs])
        # Prefer the "present" reading on ties (up to rounding): it is how findings are usually reported.
        use_present = present[0] >= absent[0] - 1e-9
        log_lr, favours, against = present if use_present else absent
        rows.append(
            FindingComparison(
                finding=fid,
                probabilities=tuple(probs),
                listed=tuple(fid in c.findings for c in conds),
                log_lr=log_lr,
                state="present" if use_present else "absent",
                favours=favours,
                against=against,
            )
        )
    rows.sort(key=lambda r: (-r.discrimination, r.finding))
    top = tuple(r.finding for r in rows[: max(highlight, 0)] if r.discrimination > 0)
    pitfalls = tuple(
        (c.id, st)
        for c in conds
        for st in kb.condition_model(c.id).differential_pitfalls
        if any(other in st.versus for other in ids if other != c.id)
    )
    return Comparison(conditions=conds, findings=tuple(rows), highlighted=top, pitfalls=pitfalls)
