"""Where output goes: stdout for results (Rich console, text, JSON, byte blocks), stderr for messages."""

from __future__ import annotations

import errno
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli.output.safe import printable

if TYPE_CHECKING:
    from rich.console import Console


class _TrimmedStdout:
    """stdout (or stderr) for Rich, minus the spaces Rich pads table titles and wrapped lines with up to the full
    width. Trailing blanks are invisible on a terminal but land in notes, diffs, logs and copied text.
    """

    _code_at_end = re.compile(r"\x1b\[[0-9;]*m\Z")

    def __init__(self, out: Any = None) -> None:
        self._out = sys.stdout if out is None else out

    @classmethod
    def _trim_line(cls, line: str) -> str:
        # Peel the spaces and style codes (SGR) off the end of the line; put the codes back.
        codes: list[str] = []
        while True:
            line = line.rstrip(" ")
            code = cls._code_at_end.search(line) if "\x1b" in line else None
            if code is None:
                return line + "".join(reversed(codes))
            codes.append(code.group())
            line = line[: code.start()]

    def write(self, text: str) -> int:
        trim = self._trim_line
        lines = text.split("\n")
        # The text after the last newline is not a finished line: a prompt keeps the space the answer follows.
        self._out.write("\n".join([*(trim(line) for line in lines[:-1]), lines[-1]]))
        return len(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._out, name)  # flush, isatty, fileno, encoding: as the real stdout


# Errors that mean results could not be written (EPIPE is apart: the reader left, which is not a failure).
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EBADF, errno.EIO, errno.EFBIG, errno.EDQUOT, errno.EROFS})


def _closed_stream(name: str, mode: str) -> Any:
    """A text stream standing in for a standard stream the caller closed (`>&-`, `<&-`): every use fails with
    EBADF, so that the failure is reported like any other write or read error."""
    import io

    class Closed(io.RawIOBase):
        def readable(self) -> bool:
            return mode == "r"

        def writable(self) -> bool:
            return mode == "w"

        def readinto(self, buffer: Any) -> int:
            raise OSError(errno.EBADF, f"{name} is closed")

        def write(self, data: Any) -> int:
            raise OSError(errno.EBADF, f"{name} is closed")

    raw = Closed()
    buffered = io.BufferedReader(raw) if mode == "r" else io.BufferedWriter(raw)
    stream = io.TextIOWrapper(buffered, encoding="utf-8", errors="backslashreplace")
    stream.closed_by_caller = True  # type: ignore[attr-defined]
    return stream


def is_closed(stream: Any) -> bool:
    """Whether a standard stream was closed by the caller (see `prepare`)."""
    return getattr(stream, "closed_by_caller", False) is True


def prepare() -> None:
    """Make the standard streams safe to use, once, at start-up.

    - A closed descriptor (`>&-`) is reopened on /dev/null, so that no file opened later takes its number and
      receives output by mistake, and the Python stream is replaced by one whose every use fails with EBADF.
    - Output is UTF-8 whatever the locale (as in Python's UTF-8 mode): results are the same bytes under
      `LC_ALL=C` as under a UTF-8 locale, and text that cannot be encoded (a lone surrogate from argv) is
      written as a backslash escape instead of failing.
    """
    for fd, name, mode in ((0, "stdin", "r"), (1, "stdout", "w"), (2, "stderr", "w")):
        try:
            os.fstat(fd)
        except OSError:
            try:
                null = os.open(os.devnull, os.O_RDWR)
                if null != fd:
                    os.dup2(null, fd)
                    os.close(null)
            except OSError:
                pass
            setattr(sys, name, _closed_stream(name, mode) if name != "stderr" else open(os.devnull, "w"))  # noqa: SIM115
            continue
        stream = getattr(sys, name)
        if stream is None or not hasattr(stream, "reconfigure"):
            continue
        encoding = (stream.encoding or "").lower().replace("_", "-")
        if name == "stdin":
            if encoding not in ("utf-8", "utf8"):
                stream.reconfigure(encoding="utf-8", errors="replace")
        elif encoding not in ("utf-8", "utf8"):
            stream.reconfigure(encoding="utf-8", errors="backslashreplace")
        elif stream.errors != "backslashreplace":
            stream.reconfigure(errors="backslashreplace")


def write_failure(err: OSError) -> str | None:
    """The one-line message for an error writing results, or None when the error is something else."""
    if err.errno not in WRITE_ERRNOS:
        return None
    reason = err.strerror or str(err)
    return f"cannot write results: {reason}"


@contextmanager
def output_file(path: Path) -> Iterator[None]:
    """Send stdout to `path` for the duration, atomically: the results go to a new temporary file in the same
    directory, which replaces `path` only when the command completes; on any failure it is removed."""
    import tempfile

    from oms_cli.errors import OutputError

    def failed(err: OSError) -> OutputError:
        return OutputError(f"cannot write {path}: {err.strerror or err}")

    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as err:
        raise failed(err) from None
    handle = open(fd, "w", encoding="utf-8", errors="backslashreplace", newline="\n")  # noqa: SIM115
    saved, sys.stdout = sys.stdout, handle
    done = False
    try:
        try:
            yield
        except OSError as err:
            if write_failure(err) is None:
                raise
            raise failed(err) from None
        try:
            handle.flush()
            os.fsync(handle.fileno())
            mask = os.umask(0)
            os.umask(mask)
            os.fchmod(handle.fileno(), 0o666 & ~mask)  # as a file made by the shell's `>` would be
            handle.close()
            os.replace(tmp, path)
        except OSError as err:
            raise failed(err) from None
        done = True
    finally:
        sys.stdout = saved
        if not done:
            for undo in (handle.close, lambda: os.unlink(tmp)):
                with suppress(OSError):
                    undo()


def _console_class() -> type[Console]:
    from rich.console import Console

    class QuietConsole(Console):
        """A Rich console that reports a reader who went away as BrokenPipeError (exit 141 in the commands'
        guard) instead of Rich's own SystemExit(1)."""

        def on_broken_pipe(self) -> None:
            raise BrokenPipeError(errno.EPIPE, os.strerror(errno.EPIPE))

    return QuietConsole


def console() -> Console:
    """The Rich console for results on stdout."""
    return _console_class()(file=_TrimmedStdout(), highlight=False, emoji=False)  # type: ignore[arg-type]


def pager_command() -> list[str] | None:
    """The pager to show long results through: only when stdout and stdin are a terminal, as git and gh do;
    $OMS_DX_PAGER, else $PAGER, else less; an empty value or `cat` turns it off."""
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        return None
    import shlex
    import shutil

    chosen = os.environ.get("OMS_DX_PAGER", os.environ.get("PAGER", "less"))
    try:
        command = shlex.split(chosen)
    except ValueError:
        return None
    if not command or command[0] == "cat" or shutil.which(command[0]) is None:
        return None
    return command


@contextmanager
def paged() -> Iterator[Console]:
    """A console for results that go through the pager when they would not fit the terminal's height."""
    out = console()
    command = pager_command()
    if command is None:
        yield out
        return
    with out.capture() as captured:
        yield out
    text = "\n".join(_TrimmedStdout._trim_line(line) for line in captured.get().split("\n"))
    if text.count("\n") < out.height:
        sys.stdout.write(text)
        return
    _page(command, text)


def _page(command: list[str], text: str) -> None:
    import signal
    import subprocess

    env = dict(os.environ)
    env.setdefault("LESS", "FRX")  # as git: quit if one screen, keep colours, leave the text on the screen
    env.setdefault("LV", "-c")
    sys.stdout.flush()
    try:
        pager = subprocess.Popen(command, stdin=subprocess.PIPE, env=env)
    except OSError:
        sys.stdout.write(text)
        return
    # The pager owns the terminal now: ^C is for it (less stops scrolling), not for us.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        assert pager.stdin is not None
        try:
            pager.stdin.write(text.encode("utf-8", "backslashreplace"))
            pager.stdin.close()
        except BrokenPipeError:
            pass  # the reader quit before the end: that is how a pager is used
        pager.wait()
    finally:
        signal.signal(signal.SIGINT, previous)


def stderr_console() -> Console:
    """A Rich console for messages, prompts and progress on stderr."""
    return _console_class()(file=_TrimmedStdout(sys.stderr), highlight=False, emoji=False)  # type: ignore[arg-type]


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
        # No descriptor to redirect (a closed stdout stands in): drop the stream and what it still holds.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115


WRITE_PIECE = 64 << 10  # a pipe's buffer: a piece this size goes out in one go to a reader keeping up


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
    held = {signal.SIGINT, signal.SIGTERM, signal.SIGHUP}

    def write(data: bytes) -> None:
        # A signal in the middle of a write would cut a record in half, so it is held while a piece is written;
        # pieces end at a record boundary and are at most about WRITE_PIECE bytes, so that on a stalled reader
        # a ^C waits for one small write, not for the whole block.
        start, size = 0, len(data)
        while start < size:
            end = size
            if size - start > WRITE_PIECE:
                end = data.rfind(b"\n", start, start + WRITE_PIECE) + 1 or data.find(b"\n", start + WRITE_PIECE) + 1
                end = end or size
            signal.pthread_sigmask(signal.SIG_BLOCK, held)
            try:
                put(data[start:end])
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, held)
            start = end

    return write
