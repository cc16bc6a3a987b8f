"""Where output goes: stdout for results (Rich console, text, JSON, byte blocks), stderr for messages."""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from oms_cli.output.safe import printable

if TYPE_CHECKING:
    from rich.console import Console


class _TrimmedStdout:
    """stdout for Rich, minus the spaces Rich pads table titles and wrapped lines with up to the full width.

    Trailing blanks are invisible on a terminal but land in notes, diffs and copied text.
    """

    _code_at_end = re.compile(r"\x1b\[[0-9;]*m\Z")

    def __init__(self) -> None:
        self._out = sys.stdout

    def _trim(self, line: str) -> str:
        # Peel the spaces and style codes (SGR) off the end of the line; put the codes back.
        codes: list[str] = []
        while True:
            line = line.rstrip(" ")
            code = self._code_at_end.search(line) if "\x1b" in line else None
            if code is None:
                return line + "".join(reversed(codes))
            codes.append(code.group())
            line = line[: code.start()]

    def write(self, text: str) -> int:
        trim = self._trim
        self._out.write("\n".join([trim(line) for line in text.split("\n")]))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)  # flush, isatty, fileno, encoding: as the real stdout


def console() -> Console:
    """The Rich console for results on stdout."""
    from rich.console import Console

    return Console(file=_TrimmedStdout(), highlight=False, emoji=False)  # type: ignore[arg-type]


def stderr_console() -> Console:
    """A Rich console for messages, prompts and progress on stderr."""
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


def write_text(text: str) -> None:
    """Text results (Markdown, CSV, plain lines) on stdout."""
    sys.stdout.write(text)


def write_json(doc: Any) -> None:
    """A JSON document on stdout: indented for a person at a terminal, one compact line for pipes (like gh)."""
    import orjson  # here, not at the top: the table views never need it; several times faster than json

    option = orjson.OPT_APPEND_NEWLINE | (orjson.OPT_INDENT_2 if sys.stdout.isatty() else 0)
    try:
        data = orjson.dumps(doc, option=option)
    except TypeError:  # an integer beyond 64 bits, or text that is not valid Unicode: the json module copes
        import json

        data = (json.dumps(doc, ensure_ascii=True, indent=2 if sys.stdout.isatty() else None) + "\n").encode()
    buffer = getattr(sys.stdout, "buffer", None)
    if buffer is None:
        sys.stdout.write(data.decode("utf-8"))
    else:
        sys.stdout.flush()
        buffer.write(data)


def write_json_ascii(doc: Any) -> None:
    """A JSON document on stdout with every non-ASCII character escaped (text from argv may not be encodable)."""
    import json

    sys.stdout.write(json.dumps(doc, ensure_ascii=True) + "\n")


def warn(message: str) -> None:
    """One warning line on stderr."""
    sys.stderr.write(f"oms-dx: warning: {printable(message)}\n")


def error_line(message: str) -> None:
    """One error line on stderr."""
    sys.stderr.write(f"oms-dx: error: {printable(message)}\n")


def info(message: str) -> None:
    """One informational line on stderr (summaries, check results)."""
    sys.stderr.write(f"oms-dx: {printable(message)}\n")


def silence_stdout() -> None:
    """Point stdout at /dev/null so that the interpreter's final flush of buffered output cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def byte_writer() -> Callable[[bytes], None]:
    """A function that writes whole blocks of records to stdout (through its binary buffer when it has one)."""
    import signal

    out = sys.stdout
    if hasattr(out, "buffer"):
        out.flush()  # anything already written as text goes first
        buffer = out.buffer

        def put(data: bytes) -> None:
            buffer.write(data)
            buffer.flush()

    else:

        def put(data: bytes) -> None:
            out.write(data.decode("utf-8"))

    if not hasattr(signal, "pthread_sigmask"):
        return put
    held = {signal.SIGINT}

    def write(data: bytes) -> None:
        # A ^C in the middle of a large write would cut a record in half: hold it until the block is out.
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
        try:
            put(data)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)

    return write
