"""Wrapping styled text by hand: nothing lost, nothing reordered, no line wider than the terminal."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from oms_cli.output.lines import line_width, wrap

words = st.text(alphabet=st.sampled_from("abcdefghij-,.é界"), min_size=1, max_size=30)
runs = st.lists(
    st.tuples(st.lists(words, min_size=1, max_size=8).map(" ".join), st.sampled_from(["", "bold", "dim"])),
    min_size=1,
    max_size=5,
)


@given(
    runs=runs,
    width=st.integers(min_value=4, max_value=100),
    first=st.sampled_from(["", "• ", "  3. "]),
    rest=st.sampled_from([None, "", "  ", "      "]),
)
def test_wrap_keeps_every_word_in_order_within_the_width(
    runs: list[tuple[str, str]], width: int, first: str, rest: str | None
) -> None:
    lines = wrap(runs, width, first, rest)
    for line in lines:  # a line is within the width, or it is one word too long to fit any line
        body = "".join(text for text, _ in line[1:])
        assert line_width(line) <= max(width, len(line[0][0]) + 2) or " " not in body.strip()
    joined = "".join(text for line in lines for text, _ in line[1:])
    assert joined.replace(" ", "") == "".join(text for text, _ in runs).replace(" ", "")
    words = "".join(text for text, _ in runs).split()  # no word is ever cut across lines
    assert [w for line in lines for w in "".join(text for text, _ in line[1:]).split()] == words
    indent = " " * len(first) if rest is None else rest
    assert lines[0][0] == (first, "") and all(line[0][0] == indent for line in lines[1:])


def test_wrap_breaks_at_spaces_keeps_styles_and_never_cuts_a_long_word() -> None:
    lines = wrap([("Alpha is taken ", ""), ("for beta", "bold"), (" when faint.", "")], 20, "• ")
    assert [[t for t, _ in line] for line in lines] == [
        ["• ", "Alpha is taken ", "for"],
        ["  ", "beta", " when faint."],
    ]
    assert [style for _, style in lines[1]] == ["", "bold", ""]
    url = "https://doi.org/10.1212/" + "x" * 40
    assert [line[1][0] for line in wrap([(f"see {url} here", "")], 20, "[1] ")] == ["see", url, "here"]
    assert wrap([("a-very-long-hyphenated-word", "")], 30)[0][1] == ("a-very-long-hyphenated-word", "")


def test_control_characters_never_reach_the_terminal() -> None:
    (line,) = wrap([("red \x1b[31m text", "")], 80)
    assert "\x1b" not in "".join(t for t, _ in line) and "\\x1b" in line[1][0]
