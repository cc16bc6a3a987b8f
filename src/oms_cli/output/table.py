"""The `table` format: Rich tables and text for people at a terminal (cards and comparisons in table_card)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_never

from oms_cli.core.wording import DISCLAIMER, bar, pct
from oms_cli.output import streams
from oms_cli.output import views as v
from oms_cli.output.safe import printable
from oms_cli.output.summary import (
    CANT_MISS_MARK,
    NEXT_SHOWN,
    effect_text,
    finding_label,
    footnote,
    query_summary,
    why,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from oms_cli.core.reasoning import Analysis
    from oms_cli.kb.compiled import CompiledKnowledgeBase


def t(text: str, style: str = "") -> Text:
    """Rich Text that shows untrusted text literally: no markup, no terminal control characters."""
    from rich.text import Text

    return Text(printable(text), style=style)


def render(view: v.View) -> None:
    """Print a command's result for people."""
    if isinstance(view, v.SuggestView):
        print_suggest(streams.console(), view.analysis, view.kb, view.top, view.explain)
    elif isinstance(view, v.InterviewView):
        out = streams.console()
        print_suggest(out, view.analysis, view.kb)
        out.print(t("Reproduce with: " + view.summary.command, style="bold"))
    elif isinstance(view, v.CardView):
        from oms_cli.output.table_card import print_card

        print_card(streams.console(), view.kb, view.card)
    elif isinstance(view, v.ComparisonView):
        from oms_cli.output.table_card import print_comparison

        print_comparison(streams.console(), view.kb, view.comparison)
    elif isinstance(view, v.ConditionsView):
        _print_conditions(streams.console(), view.kb)
    elif isinstance(view, v.FindingsView):
        _print_findings(streams.console(), view.kb)
    elif isinstance(view, v.EvaluationView):
        from oms_cli.output.table_eval import print_evaluation

        print_evaluation(streams.console(), view.evaluation, view.kb, view.file)
    elif isinstance(view, v.ValidationView):
        _print_validation(view)
    else:
        assert_never(view)


# ----------------------------------------------------------------------------- suggest


def _differential_table(analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None) -> Any:
    from rich.table import Table

    ranking = analysis.ranking
    shown = ranking.results if top is None else ranking.results[: max(top, 0)]
    table = Table(title=t(f"Differential — {query_summary(ranking, kb)}"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Condition", no_wrap=True)
    table.add_column("Probability", no_wrap=True)
    table.add_column(CANT_MISS_MARK, justify="center")
    table.add_column("Why")
    for r in shown:
        pos, neg = why(r)
        reason = t(", ".join(effect_text(kb, c) for c in pos), style="green")
        if pos and neg:
            reason.append("; ")
        reason.append(printable(", ".join(effect_text(kb, c) for c in neg)), style="red")
        table.add_row(
            t(str(r.rank)),
            t(r.id),
            t(f"{bar(r.probability)} {pct(r.probability):>5}"),
            t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
            reason,
        )
    return table


def print_suggest(
    console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None = None, explain: bool = False
) -> None:
    """The ranked differential, the can't-miss panel, next best findings, criteria and, on request, ledgers."""
    from rich.console import Group

    # One print of one group: each console.print pays for measuring and flushing, so sections are collected.
    parts: list[Any] = [_differential_table(analysis, kb, top), *_cant_miss_parts(analysis), *_next_parts(analysis, kb)]
    parts += _criteria_parts(analysis)
    if explain:
        console.print(Group(*parts))
        _print_ledgers(console, analysis, kb, top)
        parts = []
    console.print(Group(*parts, t(footnote(kb), style="dim"), t(DISCLAIMER, style="dim")))


def print_interview_step(console: Console, analysis: Analysis, rows: int = 5) -> None:
    """The running differential shown between interview questions."""
    from rich.table import Table

    table = Table(title=t("Current differential"), title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("Condition", no_wrap=True)
    table.add_column("Probability", no_wrap=True)
    table.add_column(CANT_MISS_MARK, justify="center")
    for r in analysis.ranking.results[:rows]:
        table.add_row(
            t(str(r.rank)),
            t(r.id),
            t(f"{bar(r.probability)} {pct(r.probability):>5}"),
            t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
        )
    console.print(table)


def _lines(lines: list[Any]) -> Any:
    from rich.text import Text

    return Text("\n").join(lines)


def _cant_miss_parts(analysis: Analysis) -> list[Any]:
    from rich.padding import Padding

    if not analysis.cant_miss:
        return [t(f"Can't miss: no flagged condition at or above {pct(analysis.cant_miss_threshold)}.", style="dim")]
    # Plain indented lines rather than a bordered panel: they wrap cleanly at 80 columns and render fast.
    parts: list[Any] = [t(f"Can't miss (probability ≥ {pct(analysis.cant_miss_threshold)})", style="bold red")]
    for a in analysis.cant_miss:
        head = t(f"{CANT_MISS_MARK} ", style="bold red")
        head.append(printable(a.id), style="bold red")
        head.append(f" {pct(a.probability)}")
        body = t("")
        if a.excluding_test:
            body.append("Exclude with: ", style="bold")
            body.append(printable(a.excluding_test) + "\n")
        body.append(printable(a.reason), style="dim")
        parts += [head, Padding(body, (0, 0, 0, 2), expand=False)]
    return parts


def _next_parts(analysis: Analysis, kb: CompiledKnowledgeBase) -> list[Any]:
    if not analysis.next_findings:
        return []
    lines = [t("Check next (largest expected information gain)", style="bold")]
    for n in analysis.next_findings[:NEXT_SHOWN]:
        line = t("• ")
        line.append(printable(kb.finding(n.finding).label), style="bold")
        line.append(f": {n.info_gain_bits:.2f} bits; {pct(n.p_present)} likely present now")
        then = f"  if present: {n.if_present[0][0]} {pct(n.if_present[0][1])}; "
        then += f"if absent: {n.if_absent[0][0]} {pct(n.if_absent[0][1])}"
        lines += [line, t(then, style="dim")]
    return [_lines(lines)]


_MARK = {"met": "✓", "unmet": "✗", "unknown": "?"}


def _criteria_parts(analysis: Analysis) -> list[Any]:
    lines = []
    for c in analysis.criteria:
        head = t(f"Criteria — {c.name}: ", style="bold")
        style = {"met": "bold green", "not met": "bold red", "undetermined": "bold yellow"}[c.status]
        head.append(f"{c.status} ({c.met} of {len(c.items)} met, {c.required} required)", style=style)
        lines.append(head)
        for i in c.items:
            line = t(f"  {_MARK[i.status]} ")
            line.append(printable(i.text))
            if i.decided_by:
                line.append(printable(f" ({', '.join(i.decided_by)})"), style="dim")
            lines.append(line)
    return [_lines(lines)] if lines else []


def _print_ledgers(console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None) -> None:
    from rich.table import Table

    shown = analysis.ranking.results if top is None else analysis.ranking.results[: max(top, 0)]
    for r in shown:
        ledger = analysis.ledgers[r.id]
        table = Table(title=t(f"Ledger — {r.id}: posterior {pct(r.probability)}"), title_justify="left")
        for col in ("Term", "P", "P others", "ln", "ln LR", "Source"):
            table.add_column(col)
        for term in ledger.terms:
            label = finding_label(kb, term.label, term.state) if term.kind == "finding" else term.label
            source = (
                t("expert estimate: " + term.estimate, style="yellow")
                if term.estimate
                else t(term.note or "", style="dim")
            )
            if term.refs:
                source.append(printable(f" [{', '.join(term.refs)}]"), style="cyan")
            table.add_row(
                t(label),
                t(f"{term.probability:.3g}"),
                t(f"{term.p_others:.3g}" if term.p_others is not None else ""),
                t(f"{term.log_value:+.3f}"),
                t(f"{term.log_lr:+.3f}" if term.log_lr is not None else ""),
                source,
            )
        table.add_row(t("sum (log joint)", style="bold"), t(""), t(""), t(f"{ledger.log_joint:+.3f}"), t(""), t(""))
        table.add_row(t("− log evidence", style="bold"), t(""), t(""), t(f"{-ledger.log_evidence:+.3f}"), t(""), t(""))
        table.add_row(
            t("= log posterior", style="bold"),
            t(f"{r.probability:.3g}"),
            t(""),
            t(f"{ledger.log_posterior:+.3f}"),
            t(""),
            t("exp(log posterior) is the probability shown"),
        )
        console.print(table)


# ----------------------------------------------------------------------------- lists and reports


def _print_conditions(console: Console, kb: CompiledKnowledgeBase) -> None:
    from rich.table import Table

    table = Table()
    for col in ("Id", "Name", "Prior (child)", "Prior (adult)", CANT_MISS_MARK):
        table.add_column(col)
    for c in kb.conditions:
        table.add_row(
            t(c.id, style="bold"),
            t(c.name),
            t(f"{c.prior['child'].value:.3f}"),
            t(f"{c.prior['adult'].value:.3f}"),
            t(CANT_MISS_MARK if c.cant_miss else "", style="bold red"),
        )
    console.print(table)


def _print_findings(console: Console, kb: CompiledKnowledgeBase) -> None:
    from rich.table import Table

    table = Table()
    for col in ("Id", "Label", "Kind", "HPO", "Synonyms"):
        table.add_column(col)
    for f in kb.findings:
        table.add_row(t(f.id, style="bold"), t(f.label), t(f.kind), t(f.hpo or ""), t(", ".join(f.synonyms)))
    console.print(table)


def _print_validation(view: v.ValidationView) -> None:
    import sys

    report = view.report
    for check in report.checks:
        detail = f" ({check.detail})" if check.detail else ""
        streams.info(f"{check.name}: {check.status}{detail}")
    for problem in report.problems:
        where = f"{report.file}: {problem.path}" if problem.path else report.file
        sys.stdout.write(f"{printable(where)}: {printable(problem.message)}\n")
    if report.valid:
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
        sys.stdout.write(f"{printable(report.file)}: valid ({counts})\n")
