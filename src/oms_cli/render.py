"""Rendering of engine results and knowledge-base entries as Rich tables, cards and JSON documents."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from oms_cli import __version__
from oms_cli.safe import printable

if TYPE_CHECKING:
    from rich.console import Console

    from oms_cli.engine import Contribution, Posterior, Ranking
    from oms_cli.knowledge import CompiledKnowledgeBase
    from oms_cli.reasoning import Analysis, Ledger

OUTPUT_SCHEMA_VERSION = "1"
DISCLAIMER = "oms-dx supports clinical reasoning; it does not replace clinical judgement."
CANT_MISS_MARK = "!"


# ----------------------------------------------------------------------------- JSON documents


def ledger_document(ledger: Ledger) -> dict[str, Any]:
    """One explanation ledger as JSON: the terms add up to log_joint; exp(log_joint - log_evidence) = posterior."""
    terms = []
    for t in ledger.terms:
        term: dict[str, Any] = {
            "kind": t.kind,
            "label": t.label,
            "probability": t.probability,
            "log_value": t.log_value,
        }
        if t.kind == "finding":
            term.update(state=t.state, p_others=t.p_others, log_lr=t.log_lr)
        term["refs"] = list(t.refs)
        if t.estimate is not None:
            term["estimate"] = t.estimate
        if t.note is not None:
            term["note"] = t.note
        terms.append(term)
    return {
        "terms": terms,
        "log_joint": ledger.log_joint,
        "log_evidence": ledger.log_evidence,
        "log_posterior": ledger.log_posterior,
        "posterior": ledger.posterior,
    }


def shown(ranking: Ranking, top: int | None) -> Ranking:
    """The ranking cut to the conditions a user asked to see."""
    return ranking if top is None else ranking._replace(results=ranking.results[: max(top, 0)])


def lean_rows(kb: CompiledKnowledgeBase, post: Posterior, top: int | None = None) -> list[dict[str, Any]]:
    """Result objects without contributions straight from the posterior arithmetic (batch's default records).

    Equal, key for key, to `result_rows(rank(kb, query, top))` without `contributions`; a test holds them together.
    """
    heads = kb.condition_heads
    joints, log_evidence, exp = post.joints, post.log_evidence, math.exp
    log_priors, log_ages, log_onsets = post.log_priors, post.log_ages, post.log_onsets
    order = post.order if top is None else post.order[: max(top, 0)]
    return [
        {
            "rank": pos,
            "id": heads[k][0],
            "name": heads[k][1],
            "probability": exp(joints[k] - log_evidence),
            "cant_miss": heads[k][2],
            "log_prior": log_priors[k],
            "log_age": log_ages[k],
            "log_onset": log_onsets[k],
        }
        for pos, k in enumerate(order, start=1)
    ]


def result_rows(ranking: Ranking) -> list[dict[str, Any]]:
    """The ranked conditions as JSON objects: the `results` of suggest and of `batch --contributions`."""
    return [
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
    ]


def suggest_document(
    analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None = None, explain: bool = False
) -> dict[str, Any]:
    """The versioned JSON object printed by `suggest --format json`."""
    from oms_cli.reasoning import build_ledger

    full = analysis.ranking
    ranking = shown(full, top)
    q = ranking.query
    results = result_rows(ranking)
    if explain:
        for row, r in zip(results, ranking.results, strict=True):
            row["ledger"] = ledger_document(build_ledger(kb, full, r))
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
        "results": results,
        "cant_miss_threshold": analysis.cant_miss_threshold,
        "cant_miss": [
            {
                "id": a.id,
                "name": a.name,
                "rank": a.rank,
                "probability": a.probability,
                "reason": a.reason,
                "excluding_test": a.excluding_test,
            }
            for a in analysis.cant_miss
        ],
        "next_findings": [
            {
                "finding": n.finding,
                "label": kb.finding(n.finding).label,
                "p_present": n.p_present,
                "info_gain_bits": n.info_gain_bits,
                "if_present": [{"id": cid, "probability": p} for cid, p in n.if_present],
                "if_absent": [{"id": cid, "probability": p} for cid, p in n.if_absent],
            }
            for n in analysis.next_findings
        ],
        "criteria": [
            {
                "condition": c.condition,
                "id": c.id,
                "name": c.name,
                "required": c.required,
                "met": c.met,
                "unknown": c.unknown,
                "status": c.status,
                "items": [
                    {"id": i.id, "text": i.text, "status": i.status, "decided_by": list(i.decided_by)} for i in c.items
                ],
            }
            for c in analysis.criteria
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
                "aliases": list(c.aliases),
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


def _label(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    label = kb.finding(c.finding).label.lower()
    return label if c.state == "present" else f"no {label}"


def effect_text(kb: CompiledKnowledgeBase, c: Contribution) -> str:
    lr = math.exp(c.log_lr)
    factor = f"×{lr:.1f}" if lr >= 1 else f"÷{1 / lr:.1f}"
    return f"{_label(kb, c)} {factor}"


def render_suggest(
    console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None = None, explain: bool = False
) -> None:
    """Print the ranked differential, the can't-miss panel, next best findings, criteria and, on request, ledgers."""
    from rich.table import Table

    ranking = shown(analysis.ranking, top)
    summary = query_summary(ranking, kb)
    table = Table(title=_t(f"Differential — {summary}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Condition", no_wrap=True)
    table.add_column("Probability", no_wrap=True)
    table.add_column(CANT_MISS_MARK, justify="center")
    table.add_column("Why")
    for r in ranking.results:
        pos = sorted((c for c in r.contributions if c.log_lr > 0.05), key=lambda c: -c.log_lr)[:2]
        neg = sorted((c for c in r.contributions if c.log_lr < -0.05), key=lambda c: c.log_lr)[:2]
        why = _t(", ".join(effect_text(kb, c) for c in pos), style="green")
        if pos and neg:
            why.append("; ")
        why.append(printable(", ".join(effect_text(kb, c) for c in neg)), style="red")
        table.add_row(
            _t(str(r.rank)),
            _t(r.id),
            _t(f"{_bar(r.probability)} {_pct(r.probability):>5}"),
            _t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
            why,
        )
    # One print of one group: each console.print pays for measuring and flushing, so sections are collected.
    from rich.console import Group

    parts: list[Any] = [table, *cant_miss_parts(analysis), *next_findings_parts(analysis, kb, limit=3)]
    parts += criteria_parts(analysis)
    notes = _t(
        f"{CANT_MISS_MARK} = can't-miss condition. ×/÷ = likelihood ratio against the other conditions. "
        f"Closed world: probabilities cover only these {len(kb.conditions)} conditions.",
        style="dim",
    )
    if explain:
        console.print(Group(*parts))
        render_ledgers(console, analysis, kb, ranking)
        parts = []
    console.print(Group(*parts, notes, _t(DISCLAIMER, style="dim")))


def render_interview_step(console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, rows: int = 5) -> None:
    """The running differential shown between interview questions."""
    from rich.table import Table

    table = Table(title=_t("Current differential"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Condition", no_wrap=True)
    table.add_column("Probability", no_wrap=True)
    table.add_column(CANT_MISS_MARK, justify="center")
    for r in analysis.ranking.results[:rows]:
        table.add_row(
            _t(str(r.rank)),
            _t(r.id),
            _t(f"{_bar(r.probability)} {_pct(r.probability):>5}"),
            _t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
        )
    console.print(table)


def _lines(lines: list[Any]) -> Any:
    from rich.text import Text

    return Text("\n").join(lines)


def cant_miss_parts(analysis: Analysis) -> list[Any]:
    """The can't-miss panel: flagged conditions at or above the threshold, with the test that excludes each."""
    from rich.padding import Padding

    if not analysis.cant_miss:
        return [_t(f"Can't miss: no flagged condition at or above {_pct(analysis.cant_miss_threshold)}.", style="dim")]
    # Plain indented lines rather than a bordered panel: they wrap cleanly at 80 columns and render fast.
    parts: list[Any] = [_t(f"Can't miss (probability ≥ {_pct(analysis.cant_miss_threshold)})", style="bold red")]
    for a in analysis.cant_miss:
        head = _t(f"{CANT_MISS_MARK} ", style="bold red")
        head.append(printable(a.id), style="bold red")
        head.append(f" {_pct(a.probability)}")
        body = _t("")
        if a.excluding_test:
            body.append("Exclude with: ", style="bold")
            body.append(printable(a.excluding_test) + "\n")
        body.append(printable(a.reason), style="dim")
        parts += [head, Padding(body, (0, 0, 0, 2), expand=False)]
    return parts


def next_findings_parts(analysis: Analysis, kb: CompiledKnowledgeBase, limit: int = 3) -> list[Any]:
    """The findings whose answer would change the differential most."""
    if not analysis.next_findings:
        return []
    lines = [_t("Check next (largest expected information gain)", style="bold")]
    for n in analysis.next_findings[:limit]:
        line = _t("• ")
        line.append(printable(kb.finding(n.finding).label), style="bold")
        line.append(f": {n.info_gain_bits:.2f} bits; {_pct(n.p_present)} likely present now")
        then = f"  if present: {n.if_present[0][0]} {_pct(n.if_present[0][1])}; "
        then += f"if absent: {n.if_absent[0][0]} {_pct(n.if_absent[0][1])}"
        lines += [line, _t(then, style="dim")]
    return [_lines(lines)]


_MARK = {"met": "✓", "unmet": "✗", "unknown": "?"}


def criteria_parts(analysis: Analysis) -> list[Any]:
    """Formal criteria touched by the entered findings, item by item."""
    lines = []
    for c in analysis.criteria:
        head = _t(f"Criteria — {c.name}: ", style="bold")
        style = {"met": "bold green", "not met": "bold red", "undetermined": "bold yellow"}[c.status]
        head.append(f"{c.status} ({c.met} of {len(c.items)} met, {c.required} required)", style=style)
        lines.append(head)
        for i in c.items:
            line = _t(f"  {_MARK[i.status]} ")
            line.append(printable(i.text))
            if i.decided_by:
                line.append(printable(f" ({', '.join(i.decided_by)})"), style="dim")
            lines.append(line)
    return [_lines(lines)] if lines else []


def render_ledgers(console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, ranking: Ranking) -> None:
    """Explanation ledgers: every term of each shown condition's score, with its source."""
    from rich.table import Table

    from oms_cli.reasoning import build_ledger

    for r in ranking.results:
        ledger = build_ledger(kb, analysis.ranking, r)
        table = Table(title=_t(f"Ledger — {r.id}: posterior {_pct(r.probability)}"), title_justify="left")
        for col in ("Term", "P", "P others", "ln", "ln LR", "Source"):
            table.add_column(col)
        for t in ledger.terms:
            label = t.label
            if t.kind == "finding":
                label = ("no " if t.state == "absent" else "") + kb.finding(t.label).label.lower()
            source = (
                _t("expert estimate: " + t.estimate, style="yellow") if t.estimate else _t(t.note or "", style="dim")
            )
            if t.refs:
                source.append(printable(f" [{', '.join(t.refs)}]"), style="cyan")
            table.add_row(
                _t(label),
                _t(f"{t.probability:.3g}"),
                _t(f"{t.p_others:.3g}" if t.p_others is not None else ""),
                _t(f"{t.log_value:+.3f}"),
                _t(f"{t.log_lr:+.3f}" if t.log_lr is not None else ""),
                source,
            )
        table.add_row(
            _t("sum (log joint)", style="bold"), _t(""), _t(""), _t(f"{ledger.log_joint:+.3f}"), _t(""), _t("")
        )
        table.add_row(
            _t("− log evidence", style="bold"), _t(""), _t(""), _t(f"{-ledger.log_evidence:+.3f}"), _t(""), _t("")
        )
        table.add_row(
            _t("= log posterior", style="bold"),
            _t(f"{r.probability:.3g}"),
            _t(""),
            _t(f"{ledger.log_posterior:+.3f}"),
            _t(""),
            _t("exp(log posterior) is the probability shown"),
        )
        console.print(table)


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
