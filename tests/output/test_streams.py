"""stdout for people: no trailing blanks from Rich's padding, style codes kept, nothing else changed."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ..conftest import Result

Invoke = Callable[..., Result]


@pytest.mark.parametrize(
    "args",
    [
        ["suggest", "-f", "opsoclonus", "--age", "3"],
        ["suggest", "-f", "opsoclonus,ataxia", "--age", "3", "--explain"],
        ["show", "oms"],
        ["compare", "oms", "acute-cerebellar-ataxia"],
    ],
)
def test_human_output_has_no_trailing_blanks(invoke: Invoke, args: list[str]) -> None:
    # Rich pads titles and wrapped lines to the full width; that padding must not reach notes and diffs.
    res = invoke(*args)
    assert res.exit_code == 0
    lines = res.stdout.splitlines()
    assert len(lines) > 10
    assert [line for line in lines if line != line.rstrip()] == []


def test_trailing_blanks_go_but_style_codes_stay(monkeypatch: pytest.MonkeyPatch) -> None:
    import io

    from oms_cli.output.streams import _TrimmedStdout

    out = io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    trimmed = _TrimmedStdout()
    trimmed.write("a \x1b[2mb \x1b[0m   \x1b[1m \x1b[0m\nkeep  inner\n   \n")
    assert out.getvalue() == "a \x1b[2mb\x1b[0m\x1b[1m\x1b[0m\nkeep  inner\n\n"


@given(st.lists(st.sampled_from(["a", " ", "  ", "\n", "\x1b[0m", "\x1b[1;31m", "m", "["]), max_size=40))
def test_trimming_changes_only_trailing_blanks(pieces: list[str]) -> None:
    import io
    import re

    from oms_cli.output import streams

    text = "".join(pieces)
    out = io.StringIO()
    saved, streams.sys.stdout = streams.sys.stdout, out  # type: ignore[assignment]
    try:
        streams._TrimmedStdout().write(text)
    finally:
        streams.sys.stdout = saved
    codes = re.compile(r"\x1b\[[0-9;]*m")

    def visible(s: str) -> list[str]:
        return [line.rstrip(" ") for line in codes.sub("", s).split("\n")]

    assert visible(out.getvalue()) == visible(text)  # same words, same lines
    assert codes.findall(out.getvalue()) == codes.findall(text)  # every style code kept, in order
    written = out.getvalue().split("\n")
    assert all(not codes.sub("", line).endswith(" ") for line in written[:-1])  # every finished line
    assert written[-1] == text.split("\n")[-1]  # an unfinished line (a prompt) keeps its blanks
