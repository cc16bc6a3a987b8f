"""What every view of a differential says, whatever its format: the input line, the reasons, the footnote."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_cli.core.engine import Contribution, Ranking, ScoredCondition
    from oms_cli.kb.compiled import CompiledKnowledgeBase

CANT_MISS_MARK = "!"
NEXT_SHOWN = 3  # next findings shown in the human views (JSON has all)
_WHY_MIN = 0.05  # contributions smaller than this (in log units) are not worth a reason


def query_summary(ranking: Ranking, kb: CompiledKnowledgeBase) -> str:
    """The entered findings, age and onset in one line, as titles show them."""
    q = ranking.query
    parts = []
    if q.present:
        parts.append("present: " + ", ".join(kb.finding(f).label.lower() for f in q.present))
    if q.absent:
        parts.append("absent: " + ", ".join(kb.finding(f).label.lower() for f in q.absent))
    if q.age_years is not None:
        parts.append(f"age {q.age_years:g} y ({ranking.age_group})")
    if q.onset:
        parts.append(f"onset {q.onset}")
    return "; ".join(parts) if parts else "no input"


def why(r: ScoredCondition) -> tuple[list[Contribution], list[Contribution]]:
    """The two findings that weigh most for a condition and the two that weigh most against it."""
    pos = sorted((c for c in r.contributions if c.log_lr > _WHY_MIN), key=lambda c: -c.log_lr)[:2]
    neg = sorted((c for c in r.contributions if c.log_lr < -_WHY_MIN), key=lambda c: c.log_lr)[:2]
    return pos, neg


def effect_text(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    """A contribution in words, with its likelihood ratio as a multiplier or a divisor."""
    label = kb.finding(c.finding).label.lower()
    label = label if c.state == "present" else f"no {label}"
    lr = math.exp(c.log_lr)
    factor = f"×{lr:.1f}" if lr >= 1 else f"÷{1 / lr:.1f}"
    return f"{label} {factor}"


def footnote(kb: CompiledKnowledgeBase) -> str:
    """The line under a differential that says how to read it."""
    return (
        f"{CANT_MISS_MARK} = can't-miss condition. ×/÷ = likelihood ratio against the other conditions. "
        f"Closed world: probabilities cover only these {len(kb.conditions)} conditions."
    )


def finding_label(kb: CompiledKnowledgeBase, finding: str, state: str | None) -> str:
    """A finding as a ledger row names it: "opsoclonus", "no fever"."""
    label = kb.finding(finding).label.lower()
    return ("no " if state == "absent" else "") + label
