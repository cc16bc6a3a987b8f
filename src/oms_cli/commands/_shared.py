"""What every command shares: the root group, the error translation, common options, the knowledge base, completion."""

# No `from __future__ import annotations` here: typer reads every command's signature on each run, and
# string annotations would have to be eval'ed each time (a few ms of start-up).

import functools
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
import typer.core

from oms_cli import __version__
from oms_cli.errors import ExitCode, OmsError, OutputError, Terminated
from oms_cli.output import streams
from oms_cli.output.formats import Format

if TYPE_CHECKING:
    from oms_cli.kb.compiled import CompiledKnowledgeBase

PROG = "oms-dx"
HELP = "Differential diagnosis of opsoclonus-myoclonus syndrome (OMS) and its mimics, with cited evidence."

# Set by the console entry point (entry.py): the process is oms-dx's own, so once a signal has been handled the
# ones that follow may be ignored while it leaves. Never so in a host process (a test runner) that runs commands.
OWN_PROCESS = False


def _format_in(args: Sequence[str]) -> str | None:
    """The value of --format on a command line, if it is there."""
    for i, arg in enumerate(args):
        if arg == "--format" and i + 1 < len(args):
            return args[i + 1]
        if arg.startswith("--format="):
            return arg.partition("=")[2]
    return None


class RootGroup(typer.core.TyperGroup):
    """The root command group. In JSON mode a usage error (a bad option value, an unknown option) is also
    written as a JSON error object on stdout, like every other error, so that scripts can parse it."""

    def main(
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        # typer 0.26-0.28 vendor click; its exception classes are only reachable through the private module.
        from typer._click.exceptions import ClickException

        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except SystemExit as done:
            # click turns a reader that left while help was written into exit 1 (after wrapping stdout in its
            # PacifyFlushWrapper); the documented code is 141.
            if done.code == 1 and type(sys.stdout).__name__ == "PacifyFlushWrapper":
                streams.silence_stdout()
                sys.exit(int(ExitCode.BROKEN_PIPE))
            raise
        except ClickException as err:
            err.show()
            command = self._command_of(argv)
            if self._json_requested(command, argv):
                from oms_cli.output.jsondoc import error_document

                body = {"code": "usage", "message": err.format_message(), "exit_code": err.exit_code}
                # ASCII-escaped: a term from argv may hold undecodable bytes (lone surrogates) that UTF-8 cannot write.
                streams.write_json_ascii(error_document(command or PROG, body))
            sys.exit(err.exit_code)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def _command_of(self, argv: list[str]) -> str | None:
        if not argv or argv[0] not in self.commands:
            return None
        sub = self.commands[argv[0]]
        if isinstance(sub, typer.core.TyperGroup) and len(argv) > 1 and argv[1] in sub.commands:
            return f"{argv[0]} {argv[1]}"
        return argv[0]

    def _json_requested(self, command: str | None, argv: list[str]) -> bool:
        """Whether the command line asks for JSON, explicitly or by the command's default format."""
        given = _format_in(argv)
        if given is not None:
            return given == "json"
        obj: Any = self
        for word in (command or "").split():
            obj = obj.commands.get(word) if hasattr(obj, "commands") else None
        default = next((p.default for p in getattr(obj, "params", ()) if "--format" in getattr(p, "opts", ())), None)
        return str(default) == "json"


class PlainCommand(typer.core.TyperCommand):
    """A command whose usage line shows required arguments as plain metavars (`CONDITION`, as click and most
    tools do) rather than typer's `{CONDITION}`."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)
        return [p[1:-1] if p.startswith("{") and p.endswith("}") else p for p in pieces]


def _version(value: bool) -> None:
    if value:
        try:
            kb = f"knowledge base {load_kb(None).kb_version}"
        except OmsError as err:  # the version of the program is still worth printing
            kb = f"knowledge base unavailable: {err.message}"
        sys.stdout.write(f"{PROG} {__version__} ({kb})\n")
        raise typer.Exit(0)


def new_app() -> typer.Typer:
    """The root application, without commands."""
    app = typer.Typer(
        name=PROG,
        cls=RootGroup,
        help=HELP,
        no_args_is_help=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: Annotated[
            bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
        ] = False,
    ) -> None:
        """Differential diagnosis of opsoclonus-myoclonus syndrome (OMS) and its mimics, with cited evidence."""

    return app


def _emit_error(err: OmsError, command: str, fmt: Format) -> None:
    streams.error_line(err.message)
    if fmt is Format.json:
        from oms_cli.output.jsondoc import error_document, error_object

        try:
            streams.write_json_ascii(error_document(command, error_object(err)))
            sys.stdout.flush()
        except OSError:
            streams.silence_stdout()  # stdout is what failed: the stderr line and the exit code must do


def register(app: typer.Typer, fn: Callable[..., Any], name: str | None = None) -> None:
    """Add a command to an application, with every expected error turned into one stderr line (plus a JSON error
    object when the command writes JSON) and its documented exit code; `-o FILE` is handled here too."""
    command = name or fn.__name__.replace("_", "-")
    full = f"{app.info.name} {command}" if app.info.name and app.info.name != PROG else command

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        fmt = next((v for v in kwargs.values() if isinstance(v, Format)), Format.table)
        target = kwargs.pop("output", None)
        try:
            return run_guarded(functools.partial(fn, *args, **kwargs), target)
        except OmsError as err:
            _emit_error(err, full, fmt)
            _leave_if_threads_linger(int(err.exit_code))
            raise typer.Exit(int(err.exit_code)) from None
        except typer.Exit as done:
            # Any way out of a stopped batch (a closed pipe, a full disk, a signal) may leave pool threads behind.
            _leave_if_threads_linger(done.exit_code)
            raise

    app.command(command, cls=PlainCommand)(guarded)


def on_termination_raise() -> None:
    """From now on SIGTERM and SIGHUP raise `Terminated` (a KeyboardInterrupt) in the main thread, so that the
    clean-up a ^C gets (whole records, workers stopped, no partial -o file) runs for them too. A signal the
    caller chose to ignore (`nohup`) stays ignored."""
    import signal

    def stop(signum: int, frame: object) -> None:
        raise Terminated(signum)

    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_DFL:
            signal.signal(signum, stop)


def _ignore_signals() -> None:
    import signal

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_IGN)


def _leave_if_threads_linger(code: int) -> None:
    """Exit now if a stopped batch left threads behind: a process pool's queue feeder or manager can stay blocked
    on a pipe that no worker reads or writes any more, and the interpreter would wait for it at exit (for ever).
    Only the stopped pool's own threads count, so that a host process with threads of its own is left alone.
    Everything kept is written first."""
    batch = sys.modules.get("oms_cli.core.batch")  # not imported here: only a batch can have stopped a pool
    if batch is None or not any(t.is_alive() for t in batch.ABANDONED):
        return
    import contextlib
    import os

    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


def run_guarded(call: Callable[[], Any], target: Path | None = None) -> Any:
    """Run a command's body (into `target` when given), turning interrupts, signals, a reader that went away and
    write failures into their exit codes; expected errors (OmsError) go up to the caller."""
    if OWN_PROCESS:
        return _run_guarded(call, target)
    # Inside a host process (a test runner, a notebook): give it back the signal handlers a command installs.
    import signal

    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.getsignal(s) for s in watched]
    try:
        return _run_guarded(call, target)
    finally:
        for signum, handler in zip(watched, before, strict=True):
            if handler is not None and signal.getsignal(signum) is not handler:
                signal.signal(signum, handler)


def _run_guarded(call: Callable[[], Any], target: Path | None) -> Any:
    try:
        try:
            if target is None:
                return call()
            ended: typer.Exit | None = None
            on_termination_raise()
            with streams.output_file(target):
                try:
                    result = call()
                except typer.Exit as exit_code:  # an exit code that comes with results (batch: some cases failed)
                    ended = exit_code
            if ended is not None:
                raise ended
            return result
        finally:
            # Flush here, also on the way out of an error or an exit code, so that a reader who went away or a
            # full disk is noticed inside the guard rather than at interpreter exit.
            sys.stdout.flush()
    except KeyboardInterrupt as stop:  # ^C, or SIGTERM/SIGHUP raised as Terminated
        if OWN_PROCESS:
            # Leaving now: a second ^C (a double press) must not break into the clean-up or the interpreter's
            # exit (where Python would end by the signal itself, not with our code).
            _ignore_signals()
        if isinstance(stop, Terminated):
            code = stop.exit_code
            streams.info("terminated" if code == ExitCode.TERMINATED else "hung up")
        else:
            code = int(ExitCode.INTERRUPTED)
            # After a ^C echoed by the terminal, start the message on a fresh line.
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "oms-dx: interrupted\n")
        raise typer.Exit(code) from None
    except BrokenPipeError:
        # `oms-dx batch big.jsonl | head -1`: the reader has all it wants; stop quietly, as a shell would.
        streams.silence_stdout()
        raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None
    except OSError as err:
        message = streams.write_failure(err)
        if message is None:
            raise
        streams.silence_stdout()
        raise OutputError(message) from None


def format_option(allowed: Sequence[Format], help: str) -> Any:
    """The --format option of a command that offers `allowed` formats (a usage error for any other)."""
    names = [str(f) for f in allowed]

    def parse(value: str | Format) -> Format:
        if value in names:
            return Format(value)
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(repr(n) for n in names)}.")

    def complete(incomplete: str) -> list[str]:
        return [n for n in names if n.startswith(incomplete)]

    return typer.Option("--format", help=help, metavar=f"[{'|'.join(names)}]", parser=parse, autocompletion=complete)


def finite(value: float | None) -> float | None:
    """Option callback: NaN and infinities are not numbers a person means (click's range checks let NaN through,
    since every comparison with it is false); -0 is 0."""
    import math

    if value is None:
        return None
    if not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number.")
    return value + 0.0


HUMAN_OR_JSON = (Format.table, Format.json)
DOCUMENTS = (Format.table, Format.json, Format.markdown)
DocumentFormatOpt = Annotated[
    Format, format_option(DOCUMENTS, "table for people, json for scripts, markdown for notes.")
]

OutputOpt = Annotated[
    Path | None,
    typer.Option(
        "--output",
        "-o",
        help="Write the results to FILE (replaced only when complete) instead of stdout.",
        metavar="FILE",
        dir_okay=False,
    ),
]

KbOpt = Annotated[
    Path | None, typer.Option("--kb", help="Use this knowledge-base file instead of the shipped one.", metavar="PATH")
]


def load_kb(path: Path | None) -> "CompiledKnowledgeBase":
    """The knowledge base at `path` (the shipped one when None), through the cache."""
    from oms_cli.kb.store import default_cache_dir, load_knowledge_base

    return load_knowledge_base(path, cache_dir=default_cache_dir())


def complete_findings(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of finding ids, synonyms and HPO ids; the last item of a comma list is completed."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    try:
        kb = load_kb(ctx.params.get("kb"))
    except OmsError:
        return []
    key = last.strip().lower().replace("_", "-").replace(" ", "-")
    terms = sorted(set(kb.finding_ids) | {t for t in kb.finding_terms if not t.startswith("HP:")})
    if key.startswith("hp"):
        terms = sorted(f.hpo for f in kb.findings if f.hpo)
        key = key.upper()
    # Terms from a knowledge base reach the user's shell: control characters never do.
    return [prefix + t for t in terms if t.startswith(key) and t.isprintable()]


def complete_onsets(incomplete: str) -> list[str]:
    """Shell completion of the four onset tempos."""
    from oms_cli.kb.terms import ONSETS

    return [o for o in ONSETS if o.startswith(incomplete.strip().lower())]


def complete_conditions(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of condition ids and aliases."""
    try:
        kb = load_kb(ctx.params.get("kb"))
    except OmsError:
        return []
    key = incomplete.strip().lower().replace(" ", "-")
    return sorted(t for t in set(kb.condition_terms) | set(kb.condition_ids) if t.startswith(key) and t.isprintable())
