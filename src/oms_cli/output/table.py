"""The `table` format: Rich tables and text for people at a terminal (cards and comparisons in table_card)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, assert_never

from oms_cli.core.wording import DISCLAIMER, bar, pct
from oms_cli.output import streams
from oms_cli.output import views as v
from oms_cli.output.safe import printable
from oms_cli.output.summary import (
    CANT_MISS_MARK,
    bits_reading,
    criteria_shown,
    effect_text,
    footnote,
    ledger_label,
    query_summary,
    shown_results,
    why,
    worth_asking,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from oms_cli.core.engine import ScoredCondition
    from oms_cli.core.reasoning import Analysis
    from oms_cli.kb.compiled import CompiledKnowledgeBase


def t(text: str, style: str = "") -> Text:
    """Rich Text that shows untrusted text literally: no markup, no terminal control characters."""
    from rich.text import Text

    return Text(printable(text), style=style)


def render(view: v.View) -> None:
    """Print a command's result for people (through the pager on a terminal when it is longer than the screen)."""
    if isinstance(view, v.InterviewView):
        out = streams.console()
        print_suggest(out, view.analysis, view.kb)
        # One unwrapped line: a command broken across lines would run half of it when pasted.
        out.print(t("Reproduce with: " + view.summary.command, style="bold"), soft_wrap=True)
        return
    if isinstance(view, v.ValidationView):
        _print_validation(view)
        return
    with streams.paged() as out:
        if isinstance(view, v.SuggestView):
            print_suggest(out, view.analysis, view.kb, view.top, view.explain, view.details)
        elif isinstance(view, v.CardView):
            from oms_cli.output.table_card import print_card

            print_card(out, view.kb, view.card)
        elif isinstance(view, v.ComparisonView):
            from oms_cli.output.table_card import print_comparison

            print_comparison(out, view.kb, view.comparison)
        elif isinstance(view, v.ConditionsView):
            _print_conditions(out, view.kb)
        elif isinstance(view, v.FindingsView):
            _print_findings(out, view.kb)
        elif isinstance(view, v.EvaluationView):
            from oms_cli.output.table_eval import print_evaluation

            print_evaluation(out, view.evaluation, view.kb, view.file)
        else:
            assert_never(view)


# ----------------------------------------------------------------------------- suggest


def _differential_table(analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None, width: int) -> list[Any]:
    from rich.table import Table

    ranking = analysis.ranking
    shown, hidden = shown_results(ranking, top)
    table = Table(title=t(f"Differential — {query_summary(ranking, kb)}"), title_justify="left")
    # Ids are never cut and each row is one line, so that the whole differential stays on the first screen: the
    # Why column gets what the others leave (--explain has every term).
    id_width = max([len("other causes"), *(len(r.id) for r in shown)])
    rank_width = len(str(len(ranking.results)))
    fixed = rank_width + id_width + 16 + 1 + 3 * 5 + 1
    table.add_column("#", justify="right", width=rank_width)
    table.add_column("Condition", no_wrap=True, width=id_width)
    table.add_column("Probability", no_wrap=True, width=16)
    table.add_column(CANT_MISS_MARK, justify="center", width=1)
    table.add_column("Why", no_wrap=True, overflow="ellipsis", width=max(width - fixed, 12))
    # (the ellipsis is a safety net: _reason drops whole items, so a finding's name is never cut)
    why_width = max(width - fixed, 12)
    for r in shown:
        reason = _reason(kb, r, why_width)
        table.add_row(
            t(str(r.rank)),
            t(r.id),
            t(f"{bar(r.probability)} {pct(r.probability):>5}"),
            t(CANT_MISS_MARK if r.cant_miss else "", style="bold red"),
            reason,
        )
    other = ranking.other_probability
    table.add_row(t(""), t("other causes", style="dim"), t(f"{bar(other)} {pct(other):>5}", style="dim"), t(""),
                  t("causes not listed here", style="dim"))  # fmt: skip
    parts: list[Any] = [table]
    if hidden:
        parts.append(
            t(f"{hidden} more below {pct(shown[-1].probability)} (--top {len(ranking.results)} shows all)", style="dim")
        )
    if analysis.cant_miss:
        line = t("Can't miss: ", style="bold red")
        line.append(printable(" · ".join(f"{a.id} {pct(a.probability)}" for a in analysis.cant_miss)))
        parts.append(line)
    else:
        parts.append(
            t(f"Can't miss: no flagged condition at or above {pct(analysis.cant_miss_threshold)}.", style="dim")
        )
    return parts


def _reason(kb: CompiledKnowledgeBase, r: ScoredCondition, width: int) -> Text:
    """The strongest findings for (green) and against (red) a condition, as many whole items as fit `width`;
    a trailing "…" says that --explain has more."""
    pos, neg = why(r)
    items = [(effect_text(kb, c), "green") for c in pos] + [(effect_text(kb, c), "red") for c in neg]
    reason = t("")
    used = 0
    for n, (text, style) in enumerate(items):
        sep = "" if n == 0 else ("; " if style == "red" and items[n - 1][1] == "green" else ", ")
        rest = 2 if n < len(items) - 1 else 0  # room for the ", …" that would follow
        if used + len(sep) + len(text) + rest > width:
            reason.append(" …" if n else "…", style="dim")
            break
        reason.append(sep)
        reason.append(printable(text), style=style)
        used += len(sep) + len(text)
    return reason


def print_suggest(
    console: Console,
    analysis: Analysis,
    kb: CompiledKnowledgeBase,
    top: int | None = None,
    explain: bool = False,
    details: bool = False,
) -> None:
    """The answer first (the differential, its reasons and the can't-miss line), then the details: how to exclude
    each can't-miss condition, what to ask or examine next, which test to order next, criteria, ledgers."""
    from rich.console import Group

    # One print of one group: each console.print pays for measuring and flushing, so sections are collected.
    parts = _differential_table(analysis, kb, top, console.width)
    parts += _cant_miss_parts(analysis, details)
    parts += _next_parts(analysis, kb)
    parts += _criteria_parts(analysis, top, details)
    if explain:
        console.print(Group(*parts), crop=False)
        _print_ledgers(console, analysis, kb, top)
        parts = []
    console.print(Group(*parts, t(footnote(kb), style="dim"), t(DISCLAIMER, style="dim")), crop=False)


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


def _cant_miss_parts(analysis: Analysis, details: bool) -> list[Any]:
    from oms_cli.output.lines import Block

    if not analysis.cant_miss:
        return []
    out = Block()
    out.para([("Exclude with", "bold red")])
    for a in analysis.cant_miss:
        runs = [(f"{CANT_MISS_MARK} {a.id} {pct(a.probability)}: ", "bold red"), (a.excluding_test or "—", "")]
        if details:
            runs.append((f" Why: {a.reason}", "dim"))
        out.para(runs, "", "  ")
    return [out]


def _next_parts(analysis: Analysis, kb: CompiledKnowledgeBase) -> list[Any]:
    from oms_cli.output.lines import Block

    out = Block()
    for title, candidates in (("Ask or examine next", analysis.next_findings), ("Test next", analysis.next_tests)):
        offered = worth_asking(analysis, candidates)
        if not offered:
            continue
        out.para([(title, "bold")])
        for n in offered:
            f = kb.finding(n.finding)
            runs = [(f.label, "bold")]
            if f.burden:
                runs.append((f" ({f.burden})", "dim"))
            runs.append((f": {bits_reading(n.info_gain_bits, analysis.entropy_bits)}; {pct(n.p_present)} likely", ""))
            runs.append(
                (
                    f"; if yes {n.if_present[0][0]} {pct(n.if_present[0][1])}, if no {n.if_absent[0][0]} {pct(n.if_absent[0][1])}",
                    "dim",
                )
            )
            out.para(runs, "• ", "  ")
    return [out]


_MARK = {"met": "✓", "unmet": "✗", "unknown": "?"}


def _criteria_parts(analysis: Analysis, top: int | None, details: bool) -> list[Any]:
    from oms_cli.output.lines import Block

    out = Block()
    for c in criteria_shown(analysis, top):
        style = {"met": "bold green", "not met": "bold red", "undetermined": "bold yellow"}[c.status]
        out.para(
            [
                (f"Criteria — {c.name}: ", "bold"),
                (f"{c.status} ({c.met} of {len(c.items)} met, {c.required} required)", style),
            ]
        )
        if details:
            for i in c.items:
                runs = [(i.text, "")]
                if i.decided_by:
                    runs.append((f" ({', '.join(i.decided_by)})", "dim"))
                out.para(runs, f"  {_MARK[i.status]} ", "    ")
    return [out]


def _print_ledgers(console: Console, analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None) -> None:
    from rich.table import Table

    shown, _ = shown_results(analysis.ranking, top)
    for r in shown:
        ledger = analysis.ledgers[r.id]
        table = Table(title=t(f"Ledger — {r.id}: posterior {pct(r.probability)}"), title_justify="left")
        for col in ("Term", "P", "P others", "ln", "ln LR", "Source"):
            table.add_column(col)
        for term in ledger.terms:
            label = ledger_label(kb, term)
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

    # Ids are what people type next: never wrapped or cut; the names wrap instead.
    table = Table()
    table.add_column("Id", no_wrap=True, min_width=max(len(c.id) for c in kb.conditions))
    table.add_column("Name", ratio=1)
    table.add_column("Child", justify="right", no_wrap=True)
    table.add_column("Adult", justify="right", no_wrap=True)
    table.add_column(CANT_MISS_MARK, justify="center", width=1)
    for c in kb.conditions:
        table.add_row(
            t(c.id, style="bold"),
            t(c.name),
            t(f"{c.prior['child'].value:.3f}"),
            t(f"{c.prior['adult'].value:.3f}"),
            t(CANT_MISS_MARK if c.cant_miss else "", style="bold red"),
        )
    console.print(table)
    console.print(t(f"Child and Adult: share of presentations (prior); {CANT_MISS_MARK} can't miss."), style="dim")
    console.print(t("Details: oms-dx show ID"), style="dim", no_wrap=True)  # a command is never split


def _print_findings(console: Console, kb: CompiledKnowledgeBase) -> None:
    from oms_cli.output.lines import Block

    # A list rather than a boxed table: ids up to 36 characters and long synonym lists cannot share 80 columns
    # without cutting one or the other. Each finding gets a line of id, kind and HPO id, then its label and
    # synonyms, wrapped and indented.
    out = Block()
    widths = [max(len(f.id) for f in kb.findings), max(len(f.kind) for f in kb.findings), len("HP:0000000")]
    out.lines([_row([[("Id", "bold")], [("Kind", "bold")], [("HPO", "bold")]], widths)])
    for f in kb.findings:
        out.lines([_row([[(f.id, "bold")], [(f.kind, "")], [(f.hpo or "", "dim")]], widths)])
        label = [(f.label, "")]
        if f.synonyms:
            label.append((" (also: " + ", ".join(f.synonyms) + ")", "dim"))
        out.para(label, "    ")
    console.print(out, crop=False)


def _row(cells: list[list[tuple[str, str]]], widths: list[int]) -> list[tuple[str, str]]:
    line: list[tuple[str, str]] = []
    for n, (cell, width) in enumerate(zip(cells, widths, strict=True)):
        text = "".join(part for part, _ in cell)
        line += [*cell, (" " * (width - len(text) + 2) if n < len(cells) - 1 else "", "")]
    return line


def _print_validation(view: v.ValidationView) -> None:
    import sys

    report = view.report
    for check in report.checks:  # the checks are the result, on stdout with the verdict
        detail = f" ({check.detail})" if check.detail else ""
        sys.stdout.write(f"{printable(check.name)}: {printable(check.status)}{printable(detail)}\n")
    for problem in report.problems:
        where = f"{report.file}: {problem.path}" if problem.path else report.file
        sys.stdout.write(f"{printable(where)}: {printable(problem.message)}\n")
    if report.valid:
        counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
        sys.stdout.write(f"{printable(report.file)}: valid ({counts})\n")
