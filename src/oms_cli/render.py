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
    from oms_cli.models import Evidence

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


def _evidence(ev: Evidence) -> dict[str, Any]:
    out: dict[str, Any] = {"value": ev.value, "refs": list(ev.refs)}
    if ev.estimate is not None:
        out["estimate"] = ev.estimate
    if ev.note is not None:
        out["note"] = ev.note
    return out


def condition_document(kb: CompiledKnowledgeBase, condition_id: str) -> dict[str, Any]:
    """The versioned JSON object printed by `show --format json`."""
    c = kb.condition(condition_id).model
    refs = _cited_refs(kb, condition_id)
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "kb_version": kb.kb_version,
        "condition": {
            "id": c.id,
            "name": c.name,
            "aliases": list(c.aliases),
            "synopsis": c.synopsis,
            "codes": [code.model_dump(exclude_none=True) for code in c.codes],
            "cant_miss": c.cant_miss.model_dump(exclude_none=True),
            "prior": {"child": _evidence(c.prior.child), "adult": _evidence(c.prior.adult)},
            "age_profile": {k: _evidence(v) for k, v in c.age_profile.items()},
            "onset_profile": {k: _evidence(v) for k, v in c.onset_profile.items()},
            "findings": {k: _evidence(v) for k, v in c.findings.items()},
            "last_reviewed": c.last_reviewed,
        },
        "references": [r.model_dump(exclude_none=True) for r in kb.model.references if r.id in refs],
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


def _cited_refs(kb: CompiledKnowledgeBase, condition_id: str) -> set[str]:
    c = kb.condition(condition_id).model
    refs: set[str] = set()
    evs = [c.prior.child, c.prior.adult, *c.age_profile.values(), *c.onset_profile.values(), *c.findings.values()]
    for ev in evs:
        refs.update(ev.refs)
    for code in c.codes:
        refs.update(code.refs)
    return refs


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
    if p < 0.005:
        return "<1%" if p >= 0.0005 else "<0.1%"
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


def _source(kb: CompiledKnowledgeBase, ev: Evidence) -> Any:
    from rich.text import Text

    text = Text()
    if ev.estimate is not None:
        text.append("expert estimate: ", style="yellow")
        text.append(printable(ev.estimate))
        if ev.refs:
            text.append(printable(f" [{', '.join(ev.refs)}]"), style="dim")
    else:
        text.append(printable(", ".join(ev.refs)), style="cyan")
        if ev.note:
            text.append(printable(f" — {ev.note}"), style="dim")
    return text


def render_condition(console: Console, kb: CompiledKnowledgeBase, condition_id: str) -> None:
    """Print the reference card of one condition."""
    from rich.table import Table

    c = kb.condition(condition_id).model
    head = _t(c.name, style="bold")
    head.append(printable(f"  ({c.id})"), style="dim")
    console.print(head)
    if c.aliases:
        console.print(_t("Also called: " + ", ".join(c.aliases), style="dim"))
    console.print()
    console.print(_t(c.synopsis))
    console.print()

    marker = _t("Can't miss: ", style="bold red" if c.cant_miss.flag else "bold")
    marker.append("yes — " if c.cant_miss.flag else "no — ")
    marker.append(printable(c.cant_miss.reason))
    console.print(marker)
    if c.cant_miss.excluding_test:
        t = _t("Test that settles it: ", style="bold")
        t.append(printable(c.cant_miss.excluding_test))
        console.print(t)
    console.print()

    codes = Table(title=_t("Codes"), title_justify="left")
    for col in ("System", "Code", "Label", "Note"):
        codes.add_column(col)
    for code in c.codes:
        codes.add_row(_t(code.system), _t(code.code, style="bold"), _t(code.label), _t(code.note or ""))
    console.print(codes)

    prof = Table(title=_t("Prior and profiles"), title_justify="left")
    for col in ("Item", "Value", "", "Source"):
        prof.add_column(col)
    prof.add_row(_t("prior, children"), _t(f"{c.prior.child.value:.3f}"), _t(""), _source(kb, c.prior.child))
    prof.add_row(_t("prior, adults"), _t(f"{c.prior.adult.value:.3f}"), _t(""), _source(kb, c.prior.adult))
    for band, ev in c.age_profile.items():
        prof.add_row(_t(f"age {band} y"), _t(f"{ev.value:.2f}"), _t(_bar(ev.value)), _source(kb, ev))
    for onset, ev in c.onset_profile.items():
        prof.add_row(_t(f"onset {onset}"), _t(f"{ev.value:.2f}"), _t(_bar(ev.value)), _source(kb, ev))
    console.print(prof)

    finds = Table(title=_t("Findings at presentation"), title_justify="left")
    for col in ("Finding", "Frequency", "", "Source"):
        finds.add_column(col)
    ordered = sorted(c.findings.items(), key=lambda kv: -kv[1].value)
    for fid, ev in ordered:
        finds.add_row(_t(kb.finding(fid).label), _t(f"{ev.value * 100:.1f}%"), _t(_bar(ev.value)), _source(kb, ev))
    console.print(finds)
    console.print(_t(f"Findings not listed count with the leak probability {kb.leak:g}.", style="dim"))
    console.print()

    console.print(_t("References", style="bold"))
    cited = _cited_refs(kb, condition_id)
    for ref in kb.model.references:
        if ref.id in cited:
            line = _t(f"[{ref.id}] ", style="cyan")
            ids = "; ".join(
                x
                for x in (f"PMID {ref.pmid}" if ref.pmid else "", f"doi:{ref.doi}" if ref.doi else "", ref.url or "")
                if x
            )
            line.append(printable(f"{ref.authors} ({ref.year}). {ref.title}. {ref.journal}. {ids}"))
            console.print(line)
    console.print()
    console.print(_t(f"Last reviewed {c.last_reviewed}. {DISCLAIMER}", style="dim"))


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
