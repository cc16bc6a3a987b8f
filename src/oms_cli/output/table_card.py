"""The `table` format of reference cards (their neutral blocks drawn with Rich) and of comparisons."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from oms_cli.core.cards import Bullets, Card, Comparison, Grid, Line, Numbered, Para, separation_text
from oms_cli.core.wording import DISCLAIMER, bar, format_reference, pct
from oms_cli.output.safe import printable
from oms_cli.output.table import t

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from oms_cli.core.cards import Block
    from oms_cli.kb.compiled import CompiledKnowledgeBase

# How each role of a card span looks on a terminal.
STYLES = {
    "": "",
    "strong": "bold",
    "note": "dim",
    "dim": "dim",
    "em": "italic dim",
    "rule": "italic",
    "cite": "cyan",
    "estimate": "yellow",
    "alert": "bold red",
    "code": "bold",
    "bar": "",
}


def _text(line: Line, prefix: str = "") -> Text:
    text = t(prefix)
    for span in line:
        text.append(printable(span.text), style=STYLES[span.role])
    return text


def _grid(grid: Grid) -> Any:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name, how in zip(grid.header, grid.layout or "l" * len(grid.header), strict=True):
        table.add_column(name, justify="right" if how == "r" else "left", no_wrap=how in "nr")
    current = None
    for i, row in enumerate(grid.rows):
        group = grid.groups[i] if grid.groups else None
        if group is not None and group != current:
            table.add_row(t(group.capitalize(), style="bold magenta"), *[t("")] * (len(row) - 1))
            current = group
        first, *rest = row
        table.add_row(_text(first, "  " if group is not None else ""), *[_text(cell) for cell in rest])
    return table


def _block(block: Block) -> list[Any]:
    if isinstance(block, Para):
        return [_text(block.spans, "  " if block.indent else "")]
    if isinstance(block, Bullets):
        return [_text(item, "• ") for item in block.items]
    if isinstance(block, Numbered):
        return [_text(item, f"  {n}. " if block.indent else f"{n}. ") for n, item in enumerate(block.items, 1)]
    return [_grid(block)]


def print_card(console: Console, kb: CompiledKnowledgeBase, card: Card) -> None:
    """Print a reference card."""
    from rich.console import Group

    c = card.condition
    head = t(c.name, style="bold")
    head.append(printable(f"  ({c.id})"), style="dim")
    # One print of one group: each console.print pays for measuring and flushing.
    parts: list[Any] = [head]
    if c.aliases:
        parts.append(t("Also called: " + ", ".join(c.aliases), style="dim"))
    for section in card.body:
        parts += [t(""), t(section.title, style="bold underline")]
        for block in section.blocks:
            parts += _block(block)
    if "references" in card.sections and card.references:
        parts += [t(""), t("References", style="bold underline")]
        for n, ref in enumerate(card.references, 1):
            line = t(f"[{n}] ", style="cyan")
            line.append(printable(format_reference(ref)))
            parts.append(line)
    parts += [t(""), t(f"Last reviewed {c.last_reviewed}. {DISCLAIMER}", style="dim")]
    console.print(Group(*parts))


def print_comparison(console: Console, kb: CompiledKnowledgeBase, cmp: Comparison) -> None:
    """Print conditions side by side with the most discriminating findings highlighted."""
    from rich.console import Group
    from rich.table import Table

    # Letters keep the columns narrow; ids such as acute-cerebellar-ataxia would not fit 80 columns.
    tags = {c.id: chr(ord("A") + i) for i, c in enumerate(cmp.conditions)}
    parts: list[Any] = [t("Comparing", style="bold")]
    for c in cmp.conditions:
        line = t(f"  {tags[c.id]} = ", style="bold")
        line.append(printable(f"{c.id} ({c.name})"))
        parts.append(line)

    prof = Table(title=t("Prior, age and onset profiles"), title_justify="left", header_style="bold")
    prof.add_column("")
    for c in cmp.conditions:
        prof.add_column(tags[c.id], justify="right")
    prof.add_row(t("prior, children"), *[t(f"{c.prior['child'].value:.3f}") for c in cmp.conditions])
    prof.add_row(t("prior, adults"), *[t(f"{c.prior['adult'].value:.3f}") for c in cmp.conditions])
    for band in kb.bands:
        prof.add_row(
            t(f"age {band.id} y"),
            *[t(f"{c.age[band.id].value:.2f} {bar(c.age[band.id].value, 6)}") for c in cmp.conditions],
        )
    for onset in cmp.conditions[0].onset:
        prof.add_row(
            t(f"onset {onset}"),
            *[t(f"{c.onset[onset].value:.2f} {bar(c.onset[onset].value, 6)}") for c in cmp.conditions],
        )
    parts.append(prof)

    table = Table(
        title=t("Findings at presentation, most discriminating first"), title_justify="left", header_style="bold"
    )
    table.add_column("", no_wrap=True)
    table.add_column("Finding")
    for c in cmp.conditions:
        table.add_column(tags[c.id], justify="right", no_wrap=True)
    table.add_column("Largest likelihood ratio")
    for f in cmp.findings:
        hot = f.finding in cmp.highlighted
        style = "bold yellow" if hot else ""
        cells = [
            t(pct(p) if listed else f"({pct(p)})", style=style if listed else "dim")
            for p, listed in zip(f.probabilities, f.listed, strict=True)
        ]
        table.add_row(
            t("◆" if hot else "", style="bold yellow"),
            t(kb.finding(f.finding).label, style=style),
            *cells,
            t(separation_text(f, tags), style=style),
        )
    parts.append(table)
    parts.append(
        t(
            f"◆ = the {len(cmp.highlighted)} findings with the largest likelihood ratio either way. "
            f"(n%) = not listed for that condition; the leak probability {kb.leak.value:g} is used.",
            style="dim",
        )
    )
    if cmp.pitfalls:
        numbers = {r.id: n for n, r in enumerate(cmp.references, 1)}
        parts += [t(""), t("Pitfalls between these conditions", style="bold underline")]
        for cid, st in cmp.pitfalls:
            nums = sorted({numbers[r] for r in st.refs if r in numbers})
            line = t("• ")
            line.append(printable(f"{cid}: {st.text}"))
            line.append(f" [{', '.join(map(str, nums))}]" if nums else "", style="cyan")
            parts.append(line)
        parts += [t(""), t("References", style="bold underline")]
        for n, ref in enumerate(cmp.references, 1):
            line = t(f"[{n}] ", style="cyan")
            line.append(printable(format_reference(ref)))
            parts.append(line)
    parts += [t(""), t(DISCLAIMER, style="dim")]
    console.print(Group(*parts))
