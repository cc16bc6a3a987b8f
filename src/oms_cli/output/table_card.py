"""The `table` format of reference cards (their neutral blocks drawn with Rich) and of comparisons."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from oms_cli.core.cards import Bullets, Card, Comparison, Grid, Line, Numbered, Para, separation_text
from oms_cli.core.wording import DISCLAIMER, bar, pct, reference_ids, reference_text
from oms_cli.output.lines import Block, Run, line_width, wrap

if TYPE_CHECKING:
    from rich.console import Console

    from oms_cli.core.cards import Block as CardBlock
    from oms_cli.kb.compiled import CompiledKnowledgeBase, Reference

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


def _runs(line: Line) -> list[Run]:
    return [(span.text, STYLES[span.role]) for span in line]


def _grid(out: Block, grid: Grid, width: int) -> None:
    rows: list[list[list[Run]] | str] = []  # a str alone is a group heading
    current = None
    for i, row in enumerate(grid.rows):
        group = grid.groups[i] if grid.groups else None
        if group is not None and group != current:
            rows.append(group.capitalize())
            current = group
        first, *others = row
        rows.append([[("  " if group is not None else "", ""), *_runs(first)], *[_runs(cell) for cell in others]])
    out.lines(columns(list(grid.header), rows, grid.layout or "l" * len(grid.header), width))


def columns(names: list[str], rows: list[list[list[Run]] | str], layout: str, width: int) -> list[list[Run]]:
    """Rows of cells laid out in borderless columns two spaces apart (a str row is a heading across them).

    When the columns are wider than the terminal, the widest wrapping ones ("l" in `layout`; "n" never wraps,
    "r" is right-aligned) give way first, never below ten cells.
    """
    header = [[(h, "bold")] for h in names]
    table = [header, *(r for r in rows if not isinstance(r, str))]
    widths = [max(line_width(row[c]) for row in table) for c in range(len(header))]
    excess = sum(widths) + 2 * (len(widths) - 1) - width
    wrapping = [c for c, how in enumerate(layout) if how == "l"]
    while excess > 0 and wrapping:
        widest = max(wrapping, key=lambda c: widths[c])
        if widths[widest] <= 10:
            break
        widths[widest] -= 1
        excess -= 1
    lines: list[list[Run]] = []
    for entry in [header, *rows]:
        if isinstance(entry, str):
            lines.append([(entry, "bold magenta")])
            continue
        cells = [wrap(cell, w) for cell, w in zip(entry, widths, strict=True)]
        for k in range(max(len(c) for c in cells)):
            line: list[Run] = []
            for c, (cell, w) in enumerate(zip(cells, widths, strict=True)):
                piece = cell[k] if k < len(cell) else []
                pad = (" " * (w - line_width(piece)), "")
                line += [pad, *piece] if layout[c] == "r" else [*piece, pad]
                if c < len(widths) - 1:
                    line.append(("  ", ""))
            lines.append(line)
    return lines


def _block(out: Block, block: CardBlock, width: int) -> None:
    if isinstance(block, Para):
        out.para(_runs(block.spans), "  " if block.indent else "")
    elif isinstance(block, Bullets):
        for item in block.items:
            out.para(_runs(item), "• ")
    elif isinstance(block, Numbered):
        for n, item in enumerate(block.items, 1):
            out.para(_runs(item), f"  {n}. " if block.indent else f"{n}. ")
    else:
        _grid(out, block, width)


_LINKABLE = re.compile(r"https?://[\x21-\x7e]+\Z")  # printable ASCII only: an address never smuggles escapes


def reference_runs(n: int, ref: Reference) -> list[Run]:
    """A numbered reference whose identifiers are hyperlinks on a terminal (Rich drops links elsewhere)."""
    runs: list[Run] = [(f"[{n}] ", "cyan"), (reference_text(ref), "")]
    for i, (label, address) in enumerate(reference_ids(ref)):
        link = f"link {address}" if _LINKABLE.match(address) else ""
        runs += [(" " if i == 0 else "; ", ""), (label, link)]
    return runs


def print_card(console: Console, kb: CompiledKnowledgeBase, card: Card) -> None:
    """Print a reference card."""
    c = card.condition
    width = console.width
    out = Block()
    out.para([(c.name, "bold"), (f"  ({c.id})", "dim")])
    if c.aliases:
        out.para([("Also called: " + ", ".join(c.aliases), "dim")])
    for section in card.body:
        out.blank()
        out.para([(section.title, "bold underline")])
        for block in section.blocks:
            _block(out, block, width)
    if card.references:
        out.blank()
        out.para([("References", "bold underline")])
        for n, ref in enumerate(card.references, 1):
            out.para(reference_runs(n, ref))
    out.blank()
    out.para([(f"Last reviewed {card.text.last_reviewed}. {DISCLAIMER}", "dim")])
    console.print(out, crop=False)  # a URL longer than the line runs on: the terminal wraps it, a file keeps it whole


def print_comparison(console: Console, kb: CompiledKnowledgeBase, cmp: Comparison) -> None:
    """Print conditions side by side with the most discriminating findings highlighted."""
    # Letters keep the columns narrow; ids such as acute-cerebellar-ataxia would not fit 80 columns.
    tags = {c.id: chr(ord("A") + i) for i, c in enumerate(cmp.conditions)}
    width = console.width
    out = Block()
    out.para([("Comparing", "bold")])
    for c in cmp.conditions:
        out.para([(f"{tags[c.id]} = ", "bold"), (f"{c.id} ({c.name})", "")], "  ")
    out.blank()
    out.para([("Prior, age and onset profiles", "bold underline")])
    profile: list[list[list[Run]] | str] = [
        [[("prior, children", "")], *[[(f"{c.prior['child'].value:.3f}", "")] for c in cmp.conditions]],
        [[("prior, adults", "")], *[[(f"{c.prior['adult'].value:.3f}", "")] for c in cmp.conditions]],
    ]
    profile += [
        [
            [(f"age {band.id} y", "")],
            *[[(f"{c.age[band.id].value:.2f} {bar(c.age[band.id].value, 6)}", "")] for c in cmp.conditions],
        ]
        for band in kb.bands
    ]
    profile += [
        [
            [(f"onset {onset}", "")],
            *[[(f"{c.onset[onset].value:.2f} {bar(c.onset[onset].value, 6)}", "")] for c in cmp.conditions],
        ]
        for onset in cmp.conditions[0].onset
    ]
    letters = [tags[c.id] for c in cmp.conditions]
    out.lines(columns(["", *letters], profile, "n" + "r" * len(letters), width))
    out.blank()
    out.para([("Findings at presentation, most discriminating first", "bold underline")])
    rows: list[list[list[Run]] | str] = []
    for f in cmp.findings:
        hot = f.finding in cmp.highlighted
        style = "bold yellow" if hot else ""
        cells = [
            [(pct(p) if listed else f"({pct(p)})", style if listed else "dim")]
            for p, listed in zip(f.probabilities, f.listed, strict=True)
        ]
        rows.append(
            [[("◆" if hot else "", "bold yellow")], [(kb.finding(f.finding).label, style)], *cells,
             [(separation_text(f, tags), style)]]
        )  # fmt: skip
    out.lines(
        columns(["", "Finding", *letters, "Largest likelihood ratio"], rows, "nl" + "r" * len(letters) + "l", width)
    )
    out.para(
        [
            (
                f"◆ = the {len(cmp.highlighted)} findings with the largest likelihood ratio either way. "
                "(n%) = not listed for that condition: its background rate among presenting patients.",
                "dim",
            )
        ]
    )
    if cmp.pitfalls:
        numbers = {r.id: n for n, r in enumerate(cmp.references, 1)}
        out.blank()
        out.para([("Pitfalls between these conditions", "bold underline")])
        for cid, st in cmp.pitfalls:
            nums = sorted({numbers[r] for r in st.refs if r in numbers})
            out.para([(f"{cid}: {st.text}", ""), (f" [{', '.join(map(str, nums))}]" if nums else "", "cyan")], "• ")
        out.blank()
        out.para([("References", "bold underline")])
        for n, ref in enumerate(cmp.references, 1):
            out.para(reference_runs(n, ref))
    out.blank()
    out.para([(DISCLAIMER, "dim")])
    console.print(out, crop=False)  # a URL longer than the line runs on: the terminal wraps it, a file keeps it whole
