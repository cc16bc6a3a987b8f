"""What every view of a differential says, whatever its format: the input line, which rows and which next steps
are shown, the reasons, the plain reading of "bits", and the footnote."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_cli.core.engine import Contribution, Ranking, ScoredCondition
    from oms_cli.core.reasoning import Analysis, CriteriaCheck, LedgerTerm, NextFinding
    from oms_cli.kb.compiled import CompiledKnowledgeBase

CANT_MISS_MARK = "!"
DEFAULT_ROWS = 8  # conditions shown by default in human views; --top sets it, JSON always has all
NEXT_SHOWN = 3  # next findings and next tests shown in human views (JSON has all)
MIN_BITS = 0.01  # less than this is not worth asking
_WHY_MIN = 0.05  # contributions smaller than this (in log units) are not worth a reason


def query_summary(ranking: Ranking, kb: CompiledKnowledgeBase) -> str:
    """The entered findings, what they imply, the age and the onset in one line, as titles show them."""
    q, known = ranking.query, ranking.known

    def labels(ids: tuple[str, ...] | list[str]) -> str:
        return ", ".join(kb.finding(f).label.lower() for f in ids)

    parts = []
    if q.present:
        parts.append("present: " + labels(q.present))
    if q.absent:
        parts.append("absent: " + labels(q.absent))
    implied = [kb.finding(f).label.lower() for f in known.implied_present]
    implied += [f"no {kb.finding(f).label.lower()}" for f in known.implied_absent]
    if implied:
        parts.append("implied: " + ", ".join(implied))
    if q.age_years is not None:
        parts.append(f"age {q.age_years:g} y ({ranking.age_group})")
    if known.onset:
        by = f" (from {kb.finding(known.onset_implied_by).label.lower()})" if known.onset_implied_by else ""
        parts.append(f"onset {known.onset}{by}")
    return "; ".join(parts) if parts else "no input"


def shown_results(ranking: Ranking, top: int | None) -> tuple[tuple[ScoredCondition, ...], int]:
    """The conditions a human view lists (the first `top`, by default DEFAULT_ROWS) and how many it leaves out."""
    n = DEFAULT_ROWS if top is None else max(top, 0)
    return ranking.results[:n], max(len(ranking.results) - n, 0)


def why(r: ScoredCondition) -> tuple[list[Contribution], list[Contribution]]:
    """The two findings that weigh most for a condition and the two that weigh most against it."""
    pos = sorted((c for c in r.contributions if c.log_lr > _WHY_MIN), key=lambda c: -c.log_lr)[:2]
    neg = sorted((c for c in r.contributions if c.log_lr < -_WHY_MIN), key=lambda c: c.log_lr)[:2]
    return pos, neg


def effect_text(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    """A contribution in words, with its likelihood ratio as a multiplier or a divisor."""
    if c.finding in kb._composites_by_id:
        comp = kb.composite(c.finding)
        label = f"{comp.label}: {comp.positive if c.state == 'positive' else comp.negative}"
    else:
        label = kb.finding(c.finding).label.lower()
        label = label if c.state == "present" else f"no {label}"
    lr = math.exp(c.log_lr)
    factor = f"×{lr:.1f}" if lr >= 1 else f"÷{1 / lr:.1f}"
    return f"{label} {factor}"


def worth_asking(analysis: Analysis, candidates: tuple[NextFinding, ...]) -> list[NextFinding]:
    """The next findings or tests worth offering: at least MIN_BITS, and either answer would change the leading
    condition or move its probability by 5 points or more."""
    results = analysis.ranking.results
    leader = results[0]
    out = []
    for n in candidates:
        if n.info_gain_bits < MIN_BITS:
            continue
        moved = any(
            top[0][0] != leader.id or abs(dict(top).get(leader.id, 0.0) - leader.probability) >= 0.05
            for top in (n.if_present, n.if_absent)
        )
        if moved:
            out.append(n)
        if len(out) == NEXT_SHOWN:
            break
    return out


def criteria_shown(analysis: Analysis, top: int | None) -> list[CriteriaCheck]:
    """The criterion sets a human view lists: those met, and those of the conditions it shows (JSON has all)."""
    shown, _ = shown_results(analysis.ranking, top)
    listed = {r.id for r in shown[:5]}
    return [c for c in analysis.criteria if c.status == "met" or c.condition in listed]


def bits_reading(gain: float, entropy: float) -> str:
    """What an expected information gain means, in words: the share of the remaining uncertainty it settles."""
    share = gain / entropy if entropy > 0 else 0.0
    if share >= 0.5:
        words = "settles most"
    elif share >= 0.25:
        words = "settles a good part"
    elif share >= 0.1:
        words = "settles some"
    else:
        words = "settles a little"
    return f"{words} of the remaining uncertainty ({gain:.2f} bits)"


def footnote(kb: CompiledKnowledgeBase) -> str:
    """The line under a differential that says how to read it."""
    return (
        f"{CANT_MISS_MARK} = can't-miss condition. ×/÷ = likelihood ratio against the other conditions. "
        f"Probabilities cover these {len(kb.conditions)} conditions and other causes (not in this knowledge base)."
    )


def ledger_label(kb: CompiledKnowledgeBase, term: LedgerTerm) -> str:
    """A ledger term as its row names it: "opsoclonus", "no fever | nystagmus", "group: nausea or vomiting"."""
    if term.kind in ("finding", "test"):
        label = ("no " if term.state == "absent" else "") + kb.finding(term.label).label.lower()
        return f"{label} | {term.given}" if term.given else label
    if term.kind == "group":
        return f"overlap: {kb.group(term.label).label.lower()}"
    if term.kind == "correction":
        return f"within {kb.finding(term.label).label.lower()}"
    if term.kind == "composite":
        comp = kb.composite(term.label)
        return f"{comp.label}: {comp.positive if term.state == 'positive' else comp.negative}"
    return term.label
