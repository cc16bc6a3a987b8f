"""Styled text wrapped to the terminal and handed to Rich as ready-made segments.

Rich's Text wraps every paragraph through per-word cell measurement, which costs tens of milliseconds on a long
reference card; start-up is paid on every call. Here a paragraph is a list of (text, style) runs, wrapped
greedily on spaces like Rich does (a word longer than the line is kept whole, hyphens never break a line), and the result is yielded
as Segments, which Rich prints without measuring again.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from oms_cli.output.safe import printable

if TYPE_CHECKING:
    from rich.console import Console, ConsoleOptions

Run = tuple[str, str]  # text, Rich style
# A word, or an oms-dx command with its subcommand (and ID placeholder) kept together: a command that a reader
# copies is never split across lines.
_WORD = re.compile(r"\S*oms-dx [a-z][a-z-]*(?: ID)?\S*\s*|\S+\s*")


def _width(text: str) -> int:
    if text.isascii():
        return len(text)
    from rich.cells import cell_len

    return cell_len(text)


def _breaks(plain: str, width: int, rest_width: int | None = None) -> list[tuple[int, int]]:
    """(start, end) offsets of the wrapped lines of `plain`, without the spaces where lines break; the first line
    is `width` wide, the others `rest_width` (default the same).

    A word longer than a line (a URL, a DOI, a command) is never cut: it gets a line of its own and runs past the
    width, so that the terminal soft-wraps it and a copy or a file keeps it whole.
    """
    limit = max(width, 1)
    rest_limit = max(rest_width if rest_width is not None else width, 1)
    lines: list[tuple[int, int]] = []
    start: int | None = None  # where the current line's first word starts
    end = 0  # where its last word ends
    for match in _WORD.finditer(plain):
        word_start = match.start()
        word_end = word_start + len(match.group().rstrip())
        if start is None:
            start = word_start
        elif _width(plain[start:word_end]) > limit:
            lines.append((start, end))
            start, limit = word_start, rest_limit
        end = word_end
    lines.append((start, end) if start is not None else (0, 0))
    return lines


def wrap(runs: Sequence[Run], width: int, first: str = "", rest: str | None = None) -> list[list[Run]]:
    """Wrap styled runs to `width` columns; `first` starts the first line and `rest` (default: as many spaces)
    the following ones. Control characters are shown as escapes, never sent to the terminal."""
    runs = [(printable(text).replace("\n", " "), style) for text, style in runs]
    rest = " " * _width(first) if rest is None else rest
    plain = "".join(text for text, _ in runs)
    out: list[list[Run]] = []
    for n, (lo, hi) in enumerate(_breaks(plain, width - _width(first), width - _width(rest))):
        line: list[Run] = [(first if n == 0 else rest, "")]
        pos = 0
        for text, style in runs:
            a, b = max(lo, pos), min(hi, pos + len(text))
            if a < b:
                line.append((plain[a:b], style))
            pos += len(text)
        out.append(line)
    return out


def line_width(line: Sequence[Run]) -> int:
    """The width of a wrapped line in terminal cells."""
    return sum(_width(text) for text, _ in line)


class Block:
    """A renderable made of styled runs: paragraphs wrapped at render time to the console's width."""

    def __init__(self) -> None:
        self._items: list[tuple[str, Any]] = []

    def para(self, runs: Sequence[Run], first: str = "", rest: str | None = None) -> None:
        """A paragraph, wrapped to the width it is printed at."""
        self._items.append(("para", (tuple(runs), first, rest)))

    def lines(self, lines: list[list[Run]]) -> None:
        """Lines laid out already (a grid's rows)."""
        self._items.append(("lines", lines))

    def blank(self) -> None:
        """An empty line."""
        self._items.append(("lines", [[]]))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Any]:
        from rich.segment import Segment
        from rich.style import Style

        styles: dict[str, Style | None] = {"": None}
        newline = Segment.line()
        width = options.max_width
        for kind, item in self._items:
            lines = wrap(item[0], width, item[1], item[2]) if kind == "para" else item
            for line in lines:
                for text, style in line:
                    if style not in styles:
                        styles[style] = Style.parse(style)
                    yield Segment(text, styles[style])
                yield newline
