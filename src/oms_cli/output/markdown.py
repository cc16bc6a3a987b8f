"""The `markdown` format, for pasting into notes: differentials, reference cards and comparisons, all cited."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from oms_cli.core.cards import Bullets, Grid, Line, Numbered, Para, separation_text
from oms_cli.core.wording import DISCLAIMER, bar, pct, reference_ids, reference_text
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
from oms_cli.output.views import CardView, ComparisonView, SuggestView, View

if TYPE_CHECKING:
    from oms_cli.core.cards import Block, Card, Comparison
    from oms_cli.core.reasoning import Analysis
    from oms_cli.kb.compiled import CompiledKnowledgeBase, Reference

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")
_LINKABLE = re.compile(r"https?://[\x21-\x7e]+\Z")  # printable ASCII only, and no angle brackets (below)


def md(text: str) -> str:
    """Knowledge-base or user text made inert in Markdown: control characters shown, markup escaped."""
    return _SPECIAL.sub(r"\\\1", printable(text)).replace("\n", " ")


def reference(ref: Reference) -> str:
    """A reference with its identifiers as links (an address that is not a plain http(s) URL stays text)."""
    ids = []
    for label, address in reference_ids(ref):
        if not _LINKABLE.match(address) or {"<", ">"} & set(address):
            ids.append(md(label))
        else:  # an autolink when the label is the address itself
            ids.append(f"<{address}>" if label == address else f"[{md(label)}](<{address}>)")
    return f"{md(reference_text(ref))} {'; '.join(ids)}".rstrip()


def render(view: View) -> str:
    """The Markdown of a command's result."""
    if isinstance(view, SuggestView):
        return _suggest(view.analysis, view.kb, view.top, view.explain)
    if isinstance(view, CardView):
        return _card(view.card)
    if isinstance(view, ComparisonView):
        return _comparison(view.kb, view.comparison)
    raise ValueError(f"{type(view).__name__} has no Markdown form")


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _wrap(text: str, mark: str) -> str:
    # Emphasis must hug its text: "**yes —** reason", not "**yes — **reason".
    core = text.strip()
    if not core:
        return text
    lead, trail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    return f"{lead}{mark}{core}{mark}{trail}"


def _line(line: Line) -> str:
    out = []
    for span in line:
        text, role = span.text, span.role
        if role in ("code", "bar"):
            out.append(_wrap(text.replace("`", "'"), "`"))
        elif role in ("strong", "alert"):
            out.append(_wrap(md(text), "**"))
        elif role in ("note", "em"):
            out.append(_wrap(md(text), "*"))
        elif role == "cite":
            out.append(text)  # reference numbers, written by oms-dx: " [1, 2]"
        else:
            out.append(md(text))
    return "".join(out)


def _block(block: Block) -> list[str]:
    if isinstance(block, Para):
        return [_line(block.spans), ""]
    if isinstance(block, Bullets):
        return [*(f"- {_line(item)}" for item in block.items), ""]
    if isinstance(block, Numbered):
        return [*(f"{n}. {_line(item)}" for n, item in enumerate(block.items, 1)), ""]
    return [*_grid(block), ""]


def _grid(grid: Grid) -> list[str]:
    header = [grid.group_header, *grid.header] if grid.groups else list(grid.header)
    out = [_row([md(h) for h in header]), _row(["---"] * len(header))]
    for i, row in enumerate(grid.rows):
        cells = [_line(cell) for cell in row]
        out.append(_row([grid.groups[i], *cells] if grid.groups else cells))
    return out


def _card(card: Card) -> str:
    c = card.condition
    out = [f"# {md(c.name)} (`{c.id}`)", ""]
    if c.aliases:
        out += [f"*Also called:* {md(', '.join(c.aliases))}", ""]
    for section in card.body:
        out += [f"## {section.title}", ""]
        for block in section.blocks:
            out += _block(block)
    if card.references:
        out += ["## References", ""]
        out += [f"{n}. {reference(r)}" for n, r in enumerate(card.references, 1)]
        out.append("")
    out.append(f"*Last reviewed {card.text.last_reviewed}. {DISCLAIMER}*")
    return "\n".join(out) + "\n"


def _comparison(kb: CompiledKnowledgeBase, cmp: Comparison) -> str:
    ids = [c.id for c in cmp.conditions]
    out = ["# Comparison: " + " vs ".join(f"{md(c.name)} (`{c.id}`)" for c in cmp.conditions), ""]
    out += ["## Prior, age and onset profiles", "", _row(["", *ids]), _row(["---"] * (len(ids) + 1))]
    out.append(_row(["prior, children", *[f"{c.prior['child'].value:.3f}" for c in cmp.conditions]]))
    out.append(_row(["prior, adults", *[f"{c.prior['adult'].value:.3f}" for c in cmp.conditions]]))
    for band in kb.bands:
        out.append(_row([f"age {band.id} y", *[f"{c.age[band.id].value:.2f}" for c in cmp.conditions]]))
    for onset in cmp.conditions[0].onset:
        out.append(_row([f"onset {onset}", *[f"{c.onset[onset].value:.2f}" for c in cmp.conditions]]))
    out += ["", "## Findings at presentation, most discriminating first", ""]
    out += [_row(["Finding", *ids, "Largest likelihood ratio"]), _row(["---"] * (len(ids) + 2))]
    for f in cmp.findings:
        hot = f.finding in cmp.highlighted
        label = md(kb.finding(f.finding).label)
        cells = [pct(p) if listed else f"({pct(p)})" for p, listed in zip(f.probabilities, f.listed, strict=True)]
        sep = separation_text(f)
        if hot:
            label, cells, sep = f"**{label}**", [f"**{x}**" for x in cells], f"**{sep}**"
        out.append(_row([label, *cells, sep]))
    out += [
        "",
        f"*Bold: the {len(cmp.highlighted)} findings with the largest likelihood ratio either way. "
        "(n%) = not listed for that condition: its background rate among presenting patients.*",
        "",
    ]
    if cmp.pitfalls:
        numbers = {r.id: n for n, r in enumerate(cmp.references, 1)}
        out += ["## Pitfalls between these conditions", ""]
        for cid, st in cmp.pitfalls:
            nums = sorted({numbers[r] for r in st.refs if r in numbers})
            cite = f" [{', '.join(map(str, nums))}]" if nums else ""
            out.append(f"- `{cid}`: {md(st.text)}{cite}")
        out += ["", "## References", ""]
        out += [f"{n}. {reference(r)}" for n, r in enumerate(cmp.references, 1)]
        out.append("")
    out.append(f"*{DISCLAIMER}*")
    return "\n".join(out) + "\n"


def _suggest(analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None, explain: bool) -> str:
    ranking = analysis.ranking
    shown, hidden = shown_results(ranking, top)
    out = [f"# Differential — {md(query_summary(ranking, kb))}", ""]
    out += [_row(["#", "Condition", "Probability", "Why", CANT_MISS_MARK]), _row(["---:", "---", "---", "---", ":-:"])]
    for r in shown:
        reasons = "; ".join(x for x in (", ".join(md(effect_text(kb, c)) for c in group) for group in why(r)) if x)
        out.append(
            _row([str(r.rank), f"{md(r.name)} (`{r.id}`)", f"`{bar(r.probability)}` {pct(r.probability)}", reasons,
                  CANT_MISS_MARK if r.cant_miss else ""])
        )  # fmt: skip
    other = ranking.other_probability
    out.append(_row(["", "*other causes (not in this knowledge base)*", f"`{bar(other)}` {pct(other)}", "", ""]))
    out.append("")
    if hidden:
        out += [f"*{hidden} more conditions below {pct(shown[-1].probability)}.*", ""]
    if analysis.cant_miss:
        out += [f"## Can't miss (probability ≥ {pct(analysis.cant_miss_threshold)})", ""]
        for a in analysis.cant_miss:
            test = f" **Exclude with:** {md(a.excluding_test)}" if a.excluding_test else ""
            out.append(f"- **{md(a.name)}** (`{a.id}`) {pct(a.probability)}.{test} *{md(a.reason)}*")
        out.append("")
    for title, candidates in (("Ask or examine next", analysis.next_findings), ("Test next", analysis.next_tests)):
        offered = worth_asking(analysis, candidates)
        if not offered:
            continue
        out += [f"## {title}", ""]
        for n in offered:
            f = kb.finding(n.finding)
            burden = f" ({md(f.burden)})" if f.burden else ""
            out.append(
                f"- **{md(f.label)}**{burden}: {bits_reading(n.info_gain_bits, analysis.entropy_bits)}; now "
                f"{pct(n.p_present)} likely. If yes: `{n.if_present[0][0]}` {pct(n.if_present[0][1])}; "
                f"if no: `{n.if_absent[0][0]}` {pct(n.if_absent[0][1])}."
            )
        out.append("")
    marks = {"met": "✓", "unmet": "✗", "unknown": "?"}
    for c in criteria_shown(analysis, top):
        out += [f"## Criteria — {md(c.name)}: {c.status} ({c.met} of {len(c.items)} met, {c.required} required)", ""]
        out += [f"- {marks[i.status]} {md(i.text)}" for i in c.items]
        out.append("")
    if explain:
        for r in shown:
            ledger = analysis.ledgers[r.id]
            out += [f"## Ledger — `{r.id}`: posterior {pct(r.probability)}", ""]
            out += [
                _row(["Term", "Kind", "P", "P others", "ln", "Source"]),
                _row(["---", "---", "---:", "---:", "---:", "---"]),
            ]
            for term in ledger.terms:
                source = f"*expert estimate:* {md(term.estimate)}" if term.estimate else md(term.note or "")
                if term.refs:
                    source += " [" + ", ".join(md(ref) for ref in term.refs) + "]"
                p_others = f"{term.p_others:.3g}" if term.p_others is not None else ""
                out.append(_row([md(ledger_label(kb, term)), term.kind, f"{term.probability:.3g}", p_others,
                                 f"{term.log_value:+.3f}", source]))  # fmt: skip
            out.append(_row(["**log posterior**", "", f"{r.probability:.3g}", "", f"{ledger.log_posterior:+.3f}",
                             "sum of the terms minus the log evidence"]))  # fmt: skip
            out.append("")
    out.append(f"*{footnote(kb)} {DISCLAIMER}*")
    return "\n".join(out) + "\n"
