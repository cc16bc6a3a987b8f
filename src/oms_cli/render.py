"""Rendering of engine results and knowledge-base entries as Rich tables, cards and JSON documents."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from oms_cli import __version__
from oms_cli.safe import printable

if TYPE_CHECKING:
    from rich.console import Console

    from oms_cli.engine import Contribution, Ranking
    from oms_cli.knowledge import CompiledKnowledgeBase

OUTPUT_SCHEMA_VERSION = "1"
DISCLAIMER = "oms-dx supports clinical reasoning; it does not replace clinical judgement."
CANT_MISS_MARK = "!"


# ----------------------------------------------------------------------------- JSON documents


def suggest_document(ranking: Ranking, kb: CompiledKnowledgeBase) -> dict[str, Any]:
    """The versioned JSON object printed by `suggest --format json`."""
    q = ranking.query
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "oms_dx_version": __version__,
        "kb_version": kb.kb_version,
        "closed_world": True,
        "input": {
            "present": list(q.present),
            "absent": list(q.absent),
            "age_years": q.age_years,
            "age_group": ranking.age_group,
            "onset": q.onset,
        },
        "results": [
            {
                "rank": r.rank,
                "id": r.id,
                "name": r.name,
                "probability": r.probability,
                "cant_miss": r.cant_miss,
                "log_prior": r.log_prior,
                "log_age": r.log_age,
                "log_onset": r.log_onset,
                "contributions": [
                    {
                        "finding": c.finding,
                        "state": c.state,
                        "log_lr": c.log_lr,
                        "p_condition": c.p_condition,
                        "p_others": c.p_others,
                        "listed": c.listed,
                    }
                    for c in r.contributions
                ],
            }
            for r in ranking.results
        ],
        "warnings": list(ranking.warnings),
    }


def conditions_document(kb: CompiledKnowledgeBase) -> dict[str, Any]:
    """The JSON object printed by `conditions --format json`."""
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "kb_version": kb.kb_version,
        "conditions": [
            {
                "id": c.id,
                "name": c.name,
                "aliases": list(c.model.aliases),
                "cant_miss": c.cant_miss,
                "prior_child": c.prior_child,
                "prior_adult": c.prior_adult,
            }
            for c in kb.conditions
        ],
    }


def findings_document(kb: CompiledKnowledgeBase) -> dict[str, Any]:
    """The JSON object printed by `findings --format json`."""
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "kb_version": kb.kb_version,
        "findings": [f.model_dump(exclude_none=True) for f in kb.model.findings],
    }


# ----------------------------------------------------------------------------- human output


def _t(text: str, style: str = "") -> Any:
    """Rich Text that shows untrusted text literally: no markup, no terminal control characters."""
    from rich.text import Text

    return Text(printable(text), style=style)


def _bar(p: float, width: int = 10) -> str:
    filled = max(0, min(width, round(p * width)))
    return "█" * filled + "·" * (width - filled)


def _pct(p: float) -> str:
    if p >= 0.995:
        return ">99%"
    if p < 0.0005:
        return "<0.1%"
    if p < 0.0095:
        return f"{p * 100:.1f}%"
    return f"{p * 100:.0f}%"


def _label(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    label = kb.finding(c.finding).label.lower()
    return label if c.state == "present" else f"no {label}"


def _effect(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    lr = math.exp(c.log_lr)
    factor = f"×{lr:.1f}" if lr >= 1 else f"÷{1 / lr:.1f}"
    return f"{_label(kb, c)} {factor}"


def render_suggest(console: Console, ranking: Ranking, kb: CompiledKnowledgeBase) -> None:
    """Print the ranked differential table with supporting and opposing findings."""
    from rich.table import Table

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
    table = Table(
        title=_t("Differential — " + "; ".join(parts) if parts else "Differential (no input)"), title_justify="left"
    )
    table.add_column("#", justify="right")
    table.add_column("Condition", no_wrap=True)
    table.add_column("Probability", no_wrap=True)
    table.add_column("Supports", style="green")
    table.add_column("Opposes", style="red")
    table.add_column(CANT_MISS_MARK, justify="center")
    for r in ranking.results:
        pos = sorted((c for c in r.contributions if c.log_lr > 0.05), key=lambda c: -c.log_lr)[:2]
        neg = sorted((c for c in r.contributions if c.log_lr < -0.05), key=lambda c: c.log_lr)[:2]
        table.add_row(
            _t(str(r.rank)),
            _t(r.id),
            _t(f"{_bar(r.probability)} {_pct(r.probability):>5}"),
            _t(", ".join(_effect(kb, c) for c in pos)),
            _t(", ".join(_effect(kb, c) for c in neg)),
            _t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
        )
    console.print(table)
    notes = _t(
        f"{CANT_MISS_MARK} = can't-miss condition. ×/÷ = likelihood ratio against the other conditions. "
        f"Closed world: probabilities cover only these {len(kb.conditions)} conditions.",
        style="dim",
    )
    console.print(notes)
    console.print(_t(DISCLAIMER, style="dim"))


def render_conditions(console: Console, kb: CompiledKnowledgeBase) -> None:
    """Print the list of conditions."""
    from rich.table import Table

    table = Table()
    for col in ("Id", "Name", "Prior (child)", "Prior (adult)", CANT_MISS_MARK):
        table.add_column(col)
    for c in kb.conditions:
        table.add_row(
            _t(c.id, style="bold"),
            _t(c.name),
            _t(f"{c.prior_child:.3f}"),
            _t(f"{c.prior_adult:.3f}"),
            _t(CANT_MISS_MARK if c.cant_miss else "", style="bold red"),
        )
    console.print(table)


def render_findings(console: Console, kb: CompiledKnowledgeBase) -> None:
    """Print the finding vocabulary."""
    from rich.table import Table

    table = Table()
    for col in ("Id", "Label", "Kind", "HPO", "Synonyms"):
        table.add_column(col)
    for f in kb.model.findings:
        table.add_row(_t(f.id, style="bold"), _t(f.label), _t(f.kind), _t(f.hpo or ""), _t(", ".join(f.synonyms)))
    console.print(table)
