"""The oms-dx command line: parses options, calls the core, renders, and maps errors to exit codes."""

# No `from __future__ import annotations` here: typer reads every command's signature on each run, and
# string annotations would have to be eval'ed each time (a few ms of start-up).

import gc

# Importing typer creates tens of thousands of long-lived objects and no garbage cycles; the collector's
# passes over them are pure start-up cost. It is switched back on as soon as the imports are done.
gc.disable()

import functools  # noqa: E402
import os  # noqa: E402
import sys  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from enum import StrEnum  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Annotated, Any, TypeVar  # noqa: E402

import typer  # noqa: E402
import typer.core  # noqa: E402

from oms_cli import __version__  # noqa: E402
from oms_cli.errors import ExitCode, KnowledgeBaseError, OmsError  # noqa: E402
from oms_cli.safe import printable  # noqa: E402

gc.enable()

if TYPE_CHECKING:
    from rich.console import Console

    from oms_cli.knowledge import CompiledKnowledgeBase

F = TypeVar("F", bound=Callable[..., Any])


class OutputFormat(StrEnum):
    """How a command prints its result on stdout."""

    table = "table"
    json = "json"

    def __str__(self) -> str:
        return self.value


class DocFormat(StrEnum):
    """Output formats of the reference commands, which can also print Markdown for notes."""

    table = "table"
    json = "json"
    markdown = "markdown"

    def __str__(self) -> str:
        return self.value


def _write_json_error(body: dict[str, Any]) -> None:
    import json

    # ASCII-escaped: a term from argv may hold undecodable bytes (lone surrogates) that UTF-8 cannot write.
    sys.stdout.write(json.dumps({"schema_version": "1", "error": body}, ensure_ascii=True) + "\n")


def _json_requested(group: Any, args: list[str]) -> bool:
    """Whether the command line asks for JSON output, explicitly or by the command's default format."""
    for i, arg in enumerate(args):
        if arg == "--format" and i + 1 < len(args):
            return args[i + 1] == "json"
        if arg.startswith("--format="):
            return arg == "--format=json"
    command = group.commands.get(args[0]) if args else None
    default = next((p.default for p in getattr(command, "params", ()) if p.name == "format"), None)
    return str(default) == "json"


class _Group(typer.core.TyperGroup):
    """The root command group. In JSON mode a usage error (a bad option value, an unknown option) is also
    written as a JSON error object on stdout, like every other error, so that scripts can parse it."""

    def main(
        self,
        args: "Sequence[str] | None" = None,
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
        except ClickException as err:
            err.show()
            if _json_requested(self, argv):
                _write_json_error({"code": "usage", "message": err.format_message(), "exit_code": err.exit_code})
            sys.exit(err.exit_code)
        except typer.Abort:
            sys.stderr.write("Aborted!\n")
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)


app = typer.Typer(
    name="oms-dx",
    cls=_Group,
    help="Differential diagnosis of opsoclonus-myoclonus syndrome (OMS) and its mimics, with cited evidence.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

FormatOpt = Annotated[OutputFormat, typer.Option("--format", help="table for people, json for scripts.")]
DocFormatOpt = Annotated[
    DocFormat, typer.Option("--format", help="table for people, json for scripts, markdown for notes.")
]
KbOpt = Annotated[
    Path | None, typer.Option("--kb", help="Use this knowledge-base file instead of the shipped one.", metavar="PATH")
]


def _emit_error(err: OmsError, fmt: str) -> None:
    sys.stderr.write(f"oms-dx: error: {printable(err.message)}\n")
    if fmt == "json":
        body: dict[str, Any] = {"code": err.code, "message": err.message, "exit_code": int(err.exit_code)}
        if isinstance(err, KnowledgeBaseError):
            body["file"] = err.file
            body["problems"] = [{"path": p.path, "message": p.message} for p in err.problems]
        suggestions = getattr(err, "suggestions", None)
        if suggestions is not None:
            body["suggestions"] = suggestions
        _write_json_error(body)


def _guard(fn: F) -> F:
    """Turn expected errors into one stderr line (plus a JSON error object in JSON mode) and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = str(kwargs.get("format", "table"))
        try:
            result = fn(*args, **kwargs)
            # Flush here so that a reader who went away is noticed inside the guard, not at interpreter exit.
            sys.stdout.flush()
            return result
        except OmsError as err:
            _emit_error(err, fmt)
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            # After a ^C echoed by the terminal, start the message on a fresh line.
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "oms-dx: interrupted\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except BrokenPipeError:
            # `oms-dx batch big.jsonl | head -1`: the reader has all it wants; stop quietly, as a shell would.
            _silence_stdout()
            raise typer.Exit(int(ExitCode.BROKEN_PIPE)) from None

    return wrapper  # type: ignore[return-value]


def _silence_stdout() -> None:
    # Point stdout at /dev/null so the interpreter's final flush of buffered output cannot fail again.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


def _complete_findings(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of finding ids, synonyms and HPO ids; the last item of a comma list is completed."""
    head, _, last = incomplete.rpartition(",")
    prefix = f"{head}," if head else ""
    try:
        kb = _load(ctx.params.get("kb"))
    except OmsError:
        return []
    key = last.strip().lower().replace("_", "-").replace(" ", "-")
    terms = sorted(set(kb.finding_ids) | {t for t in kb.finding_terms if not t.startswith("HP:")})
    if key.startswith("hp"):
        terms = sorted(f.hpo for f in kb.findings if f.hpo)
        key = key.upper()
    return [prefix + t for t in terms if t.startswith(key)]


def _complete_conditions(ctx: typer.Context, incomplete: str) -> list[str]:
    """Shell completion of condition ids and aliases."""
    try:
        kb = _load(ctx.params.get("kb"))
    except OmsError:
        return []
    key = incomplete.strip().lower().replace(" ", "-")
    return sorted(t for t in set(kb.condition_terms) | {c.id for c in kb.conditions} if t.startswith(key))


class _TrimmedStdout:
    """stdout for Rich, minus the spaces Rich pads table titles and wrapped lines with up to the full width.

    Trailing blanks are invisible on a terminal but land in notes, diffs and copied text.
    """

    def __init__(self) -> None:
        import re

        self._out = sys.stdout
        self._code_at_end = re.compile(r"\x1b\[[0-9;]*m\Z")

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


def _console() -> "Console":
    from rich.console import Console

    return Console(file=_TrimmedStdout(), highlight=False, emoji=False)  # type: ignore[arg-type]


def _load(path: Path | None) -> "CompiledKnowledgeBase":
    from oms_cli.cache import default_cache_dir
    from oms_cli.knowledge import load_knowledge_base

    return load_knowledge_base(path, cache_dir=default_cache_dir())


def _print_json(doc: dict[str, Any]) -> None:
    # Like gh: indented for a person at a terminal, one compact line for pipes (the C encoder, much faster).
    indent = 2 if sys.stdout.isatty() else None
    import json  # here, not at the top: the table views never need it

    sys.stdout.write(json.dumps(doc, ensure_ascii=False, indent=indent) + "\n")


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"oms-dx {__version__}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Differential diagnosis of opsoclonus-myoclonus syndrome (OMS) and its mimics, with cited evidence."""


@app.command()
@_guard
def suggest(
    finding: Annotated[
        list[str] | None,
        typer.Option(
            "--finding",
            "-f",
            help="A finding that is present (repeatable; comma lists allowed; ids, synonyms or HPO ids).",
            autocompletion=_complete_findings,
        ),
    ] = None,
    absent: Annotated[
        list[str] | None,
        typer.Option(
            "--absent",
            "-x",
            help="A finding that was looked for and is absent (repeatable).",
            autocompletion=_complete_findings,
        ),
    ] = None,
    age: Annotated[
        str | None, typer.Option("--age", help="Age in years (2.5) or with a unit (18m, 2y, 6w, 10d).")
    ] = None,
    onset: Annotated[
        str | None,
        typer.Option(
            "--onset", help="Onset tempo: acute (<1 week), subacute (1-6 weeks), chronic (>6 weeks), episodic."
        ),
    ] = None,
    phenopacket: Annotated[
        Path | None,
        typer.Option(
            "--phenopacket",
            help="Read findings, exclusions, age and course from a GA4GH Phenopacket v2 JSON file "
            "(options given as well are added; --age and --onset override).",
            metavar="FILE",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the N most probable conditions.")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add a ledger of every term behind each shown condition's probability.")
    ] = False,
    cant_miss_threshold: Annotated[
        float,
        typer.Option(
            "--cant-miss-threshold",
            min=0.0,
            max=1.0,
            help="List can't-miss conditions at or above this probability (default 0.01).",
        ),
    ] = 0.01,
    format: DocFormatOpt = DocFormat.table,
    kb: KbOpt = None,
) -> None:
    """Rank OMS and its mimics for the entered findings, age and onset.

    Also shows the can't-miss panel, the findings worth checking next and any formal criteria the findings bear on.
    Example: oms-dx suggest --finding opsoclonus --age 3
    """
    from oms_cli.engine import normalise_query
    from oms_cli.parsing import parse_age, parse_onset, split_terms
    from oms_cli.reasoning import analyse

    age_years = parse_age(age) if age is not None else None
    onset_id = parse_onset(onset) if onset is not None else None
    knowledge = _load(kb)
    present, missing = split_terms(finding), split_terms(absent)
    notes: list[str] = []
    if phenopacket is not None:
        from oms_cli.cases import read_input_file
        from oms_cli.phenopacket import case_from_phenopacket

        case = case_from_phenopacket(knowledge, read_input_file(phenopacket), source=str(phenopacket))
        present, missing = [*case.present, *present], [*case.absent, *missing]
        age_years = age_years if age_years is not None else case.age_years
        onset_id = onset_id if onset_id is not None else case.onset
        notes += case.warnings
    query = normalise_query(knowledge, present, missing, age_years, onset_id)
    analysis = analyse(knowledge, query, cant_miss_threshold=cant_miss_threshold)
    notes += analysis.ranking.warnings
    for warning in notes:
        sys.stderr.write(f"oms-dx: warning: {printable(warning)}\n")
    if format is DocFormat.json:
        from oms_cli.render import suggest_document

        doc = suggest_document(analysis, knowledge, top=top, explain=explain)
        doc["warnings"] = notes
        _print_json(doc)
    elif format is DocFormat.markdown:
        from oms_cli.markdown import suggest_markdown

        sys.stdout.write(suggest_markdown(analysis, knowledge, top=top, explain=explain))
    else:
        from oms_cli.render import render_suggest

        render_suggest(_console(), analysis, knowledge, top=top, explain=explain)


class BatchFormat(StrEnum):
    """Output formats of batch: JSON Lines (one record per case) or flat rows (one per case and rank)."""

    json = "json"
    csv = "csv"
    tsv = "tsv"

    def __str__(self) -> str:
        return self.value


def _case_lines(source: str, progress: bool) -> tuple[Any, Any]:
    """An iterator over the raw input lines and a callback that closes input and progress display."""
    from contextlib import ExitStack

    stack = ExitStack()
    if source == "-":
        fh = sys.stdin.buffer
        total = None
    else:
        try:
            fh = stack.enter_context(open(source, "rb"))  # noqa: SIM115 - closed by the ExitStack
        except OSError as exc:
            from oms_cli.errors import InputError

            raise InputError(f"cannot read {source} ({exc.strerror or exc})") from None
        try:
            total = os.fstat(fh.fileno()).st_size
        except OSError:
            total = None
    if not progress:
        return iter(fh), stack.close
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(
        TextColumn("[bold]scoring"), BarColumn(), DownloadColumn(), TimeElapsedColumn(), TextColumn("{task.fields[cases]} cases"),
        console=_stderr_console(), transient=True, auto_refresh=False,
    )  # fmt: skip
    # Refreshed from here rather than by Rich's refresh thread: batch may fork workers, which is only safe
    # while the process has a single thread.
    stack.enter_context(bar)
    task = bar.add_task("batch", total=total, cases=0)

    def tracked() -> Any:
        from time import monotonic

        done = cases = 0
        shown = monotonic()
        for raw in fh:
            done += len(raw)
            cases += 1
            if cases % 256 == 0 and monotonic() - shown > 0.1:
                bar.update(task, completed=done, cases=cases, refresh=True)
                shown = monotonic()
            yield raw
        bar.update(task, completed=done, cases=cases, refresh=True)

    return tracked(), stack.close


def _stderr_console() -> "Console":
    from rich.console import Console

    return Console(stderr=True, highlight=False, emoji=False)


@app.command()
@_guard
def batch(
    input: Annotated[
        str,
        typer.Argument(help="JSON Lines file of cases (id, present, absent, age_years, onset), or - for stdin."),
    ] = "-",
    phenopackets: Annotated[
        Path | None,
        typer.Option(
            "--phenopackets",
            help="Read GA4GH Phenopacket v2 cases instead: a directory of .json files, one .json file, "
            "or a .jsonl file with one phenopacket per line.",
            metavar="DIR|FILE",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Keep only the N most probable conditions.")] = None,
    contributions: Annotated[
        bool,
        typer.Option(
            "--contributions",
            help="Add each finding's likelihood ratio to every result (the full suggest result objects; "
            "several times more output and time).",
        ),
    ] = False,
    format: Annotated[
        BatchFormat, typer.Option("--format", help="json: one JSON line per case; csv/tsv: one row per case and rank.")
    ] = BatchFormat.json,
    progress: Annotated[
        bool | None,
        typer.Option("--progress/--no-progress", help="Progress bar on stderr (default: when stderr is a terminal)."),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            "-j",
            min=1,
            help="Worker processes (default: one per CPU once the input passes 4,096 lines; 1 scores in this process).",
        ),
    ] = None,
    kb: KbOpt = None,
) -> None:
    """Score many cases: one output record per input case, in input order, streaming.

    A line that cannot be read or scored gives an error record ({"id", "line", "error", "code"}) and the run
    goes on; the exit code is 3 when any case failed.
    Example: oms-dx batch cases.jsonl > results.jsonl
    """
    from oms_cli.batch import BatchOptions, header, run_batch, write_records

    knowledge = _load(kb)
    show_progress = sys.stderr.isatty() if progress is None else progress
    options = BatchOptions(top, contributions, format.value)
    write = _byte_writer()
    close: Any = None
    try:
        write(header(options))
        if phenopackets is not None:
            from oms_cli.phenopacket import read_phenopackets

            tally = write_records(knowledge, read_phenopackets(knowledge, phenopackets), options, write)
        else:
            lines, close = _case_lines(input, show_progress)
            tally = run_batch(knowledge, lines, options, write, jobs)
    finally:
        if close is not None:
            close()
    failed = tally.failed
    sys.stderr.write(f"oms-dx: batch: {tally.cases} case(s), {tally.cases - failed} scored, {failed} failed\n")
    if failed:
        sys.stdout.flush()
        raise typer.Exit(int(ExitCode.INPUT))


def _byte_writer() -> Callable[[bytes], None]:
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


@app.command()
@_guard
def evaluate(
    file: Annotated[
        str | None,
        typer.Argument(help="JSON Lines cases with a known 'diagnosis' (condition id, name, alias or code), or -."),
    ] = None,
    phenopackets: Annotated[
        Path | None,
        typer.Option(
            "--phenopackets",
            help="Read GA4GH Phenopacket v2 cases instead (a directory of .json files, one .json file, or a .jsonl "
            "file); the diagnosis comes from each packet's interpretations, else its diseases.",
            metavar="DIR|FILE",
        ),
    ] = None,
    format: FormatOpt = OutputFormat.table,
    kb: KbOpt = None,
) -> None:
    """Judge the ranking on cases with a known diagnosis: top-1, top-3, MRR, Brier score, log loss, calibration.

    Cases without a diagnosis are skipped; the exit code is 3 when any line could not be read or scored.
    Example: oms-dx evaluate published-cases.jsonl --format json
    """
    from oms_cli.evaluate import evaluate as run_evaluation

    knowledge = _load(kb)
    if (file is None) == (phenopackets is None):
        need = (
            "not both FILE and --phenopackets" if file is not None else "a case FILE (or - for stdin) or --phenopackets"
        )
        raise typer.BadParameter(f"give {need}", param_hint="FILE")
    if phenopackets is not None:
        from oms_cli.phenopacket import read_phenopackets

        result = run_evaluation(knowledge, read_phenopackets(knowledge, phenopackets))
        shown_file = str(phenopackets)
    else:
        from oms_cli.cases import read_jsonl

        assert file is not None
        lines, close = _case_lines(file, False)
        try:
            result = run_evaluation(knowledge, read_jsonl(lines))
        finally:
            close()
        shown_file = "<stdin>" if file == "-" else file
    if format is OutputFormat.json:
        from oms_cli.render_eval import evaluation_document

        _print_json(evaluation_document(result, knowledge, shown_file))
    else:
        from oms_cli.render_eval import render_evaluation

        render_evaluation(_console(), result, knowledge, shown_file)
    if result.n_errors:
        sys.stdout.flush()
        raise typer.Exit(int(ExitCode.INPUT))


@app.command()
@_guard
def show(
    condition: Annotated[
        str,
        typer.Argument(
            help="Condition id, name or alias (e.g. oms, 'dancing eye syndrome').", autocompletion=_complete_conditions
        ),
    ],
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            "-s",
            help="Print only this section (repeatable; comma lists allowed): synopsis, codes, cant-miss, look-for, "
            "findings, criteria, pearls, pitfalls, tests, management, therapy, profile, references.",
        ),
    ] = None,
    format: DocFormatOpt = DocFormat.table,
    kb: KbOpt = None,
) -> None:
    """Print the reference card of a condition, every statement with its source.

    Example: oms-dx show oms --section pitfalls --section tests
    """
    from oms_cli.cards import resolve_sections
    from oms_cli.parsing import split_terms

    sections = resolve_sections(split_terms(section))
    knowledge = _load(kb)
    cid = knowledge.resolve_condition(condition)
    if format is DocFormat.json:
        from oms_cli.render_card import card_document

        _print_json(card_document(knowledge, cid, sections))
    elif format is DocFormat.markdown:
        from oms_cli.markdown import card_markdown

        sys.stdout.write(card_markdown(knowledge, cid, sections))
    else:
        from oms_cli.render_card import render_card

        render_card(_console(), knowledge, cid, sections)


@app.command()
@_guard
def compare(
    condition: Annotated[
        list[str],
        typer.Argument(help="Two or more condition ids, names or aliases.", autocompletion=_complete_conditions),
    ],
    highlight: Annotated[
        int, typer.Option("--highlight", min=0, help="How many of the most discriminating findings to highlight.")
    ] = 5,
    format: DocFormatOpt = DocFormat.table,
    kb: KbOpt = None,
) -> None:
    """Put conditions side by side and highlight the findings that tell them apart.

    Example: oms-dx compare oms acute-cerebellar-ataxia
    """
    from oms_cli.cards import compare as compare_conditions

    knowledge = _load(kb)
    result = compare_conditions(knowledge, condition, highlight=highlight)
    if format is DocFormat.json:
        from oms_cli.render_card import comparison_document

        _print_json(comparison_document(knowledge, result))
    elif format is DocFormat.markdown:
        from oms_cli.markdown import comparison_markdown

        sys.stdout.write(comparison_markdown(knowledge, result))
    else:
        from oms_cli.render_card import render_comparison

        render_comparison(_console(), knowledge, result)


@app.command()
@_guard
def conditions(format: FormatOpt = OutputFormat.table, kb: KbOpt = None) -> None:
    """List the conditions of the knowledge base.

    Example: oms-dx conditions --format json
    """
    knowledge = _load(kb)
    if format is OutputFormat.json:
        from oms_cli.render import conditions_document

        _print_json(conditions_document(knowledge))
    else:
        from oms_cli.render import render_conditions

        render_conditions(_console(), knowledge)


@app.command()
@_guard
def findings(format: FormatOpt = OutputFormat.table, kb: KbOpt = None) -> None:
    """List the finding vocabulary with synonyms and HPO ids.

    Example: oms-dx findings
    """
    knowledge = _load(kb)
    if format is OutputFormat.json:
        from oms_cli.render import findings_document

        _print_json(findings_document(knowledge))
    else:
        from oms_cli.render import render_findings

        render_findings(_console(), knowledge)


def _ask(console: "Console", prompt: str) -> str | None:
    """One line from stdin after a prompt on stderr; None at end of input. Ctrl-C propagates to the guard."""
    console.print(_prompt_text(prompt), end="")
    line = sys.stdin.readline()
    if not line:
        console.print()
        return None
    return line.strip()


def _prompt_text(text: str) -> Any:
    from rich.text import Text

    return Text(printable(text), style="bold")


@app.command()
@_guard
def interview(
    age: Annotated[str | None, typer.Option("--age", help="Age, if known (otherwise it is asked).")] = None,
    onset: Annotated[str | None, typer.Option("--onset", help="Onset tempo, if known (otherwise it is asked).")] = None,
    stop_at: Annotated[
        float, typer.Option("--stop-at", min=0.5, max=1.0, help="Stop when the leading condition reaches this.")
    ] = 0.9,
    max_questions: Annotated[int, typer.Option("--max-questions", min=1, help="Ask at most this many questions.")] = 20,
    format: FormatOpt = OutputFormat.table,
    kb: KbOpt = None,
) -> None:
    """Ask the most informative question, one at a time, and re-rank after each answer.

    Questions, the running table and prompts go to stderr; the final summary (or JSON) goes to stdout.
    Answer y(es), n(o), u(nknown) or s(kip); an empty line at a question, or end of input, finishes.
    Example: oms-dx interview --age 2
    """
    from rich.console import Console

    from oms_cli.errors import InputError
    from oms_cli.interview import Interview, parse_reply
    from oms_cli.parsing import parse_age, parse_onset, split_terms
    from oms_cli.render import render_interview_step

    ui = Console(stderr=True, highlight=False, emoji=False)
    knowledge = _load(kb)
    session = Interview(knowledge, stop_at=stop_at, max_questions=max_questions)
    session.age_years = parse_age(age) if age is not None else None
    session.onset = parse_onset(onset) if onset is not None else None
    if age is None:
        while (text := _ask(ui, "Age (e.g. 2, 18m; empty if unknown): ")) is not None and text:
            try:
                session.age_years = parse_age(text)
                break
            except InputError as err:
                ui.print(_prompt_text(f"  {err.message}"), style="red")
    if onset is None:
        while (
            text := _ask(ui, "Onset: acute, subacute, chronic or episodic (empty if unknown): ")
        ) is not None and text:
            try:
                session.onset = parse_onset(text)
                break
            except InputError as err:
                ui.print(_prompt_text(f"  {err.message}"), style="red")
    while (
        text := _ask(ui, "Findings already known to be present (comma list; empty for none): ")
    ) is not None and text:
        try:
            known = list(dict.fromkeys(knowledge.resolve_finding(t) for t in split_terms([text])))
        except InputError as err:
            ui.print(_prompt_text(f"  {err.message}"), style="red")
            continue
        for fid in known:
            session.answer(fid, "yes")
        break

    analysis = session.analysis()
    finished = False
    while not finished:
        render_interview_step(ui, analysis, knowledge)
        question = session.next_question(analysis)
        if question is None:
            break
        finding = knowledge.finding(question)
        ui.print(_prompt_text(f"Q{session.asked + 1}. {finding.label}? "), end="")
        ui.print(_prompt_text(f"({finding.definition})"), style="dim")
        while True:
            text = _ask(ui, "  [y]es / [n]o / [u]nknown / [s]kip, empty to finish: ")
            if not text:
                finished = True
                break
            reply = parse_reply(text)
            if reply is not None:
                session.answer(question, reply)
                analysis = session.analysis()
                break
            ui.print(_prompt_text("  please answer y, n, u or s"), style="red")
    reason = session.stop_reason(analysis) or "stopped by the user"
    ui.print(_prompt_text(f"Finished: {reason}."))
    if format is OutputFormat.json:
        from oms_cli.render import suggest_document

        doc = suggest_document(analysis, knowledge)
        doc["interview"] = {
            "present": session.present,
            "absent": session.absent,
            "unknown": session.unknown,
            "skipped": session.skipped,
            "stop_reason": reason,
            "command": session.command_line(),
        }
        _print_json(doc)
    else:
        from oms_cli.render import render_suggest

        out = _console()
        render_suggest(out, analysis, knowledge)
        out.print(_prompt_text("Reproduce with: " + session.command_line()))


kb_app = typer.Typer(
    name="kb",
    help="Check and describe knowledge-base files.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(kb_app)


@kb_app.command("validate")
@_guard
def kb_validate(
    path: Annotated[
        Path | None, typer.Argument(help="Knowledge-base file to check (default: the shipped one).", metavar="[PATH]")
    ] = None,
    format: FormatOpt = OutputFormat.table,
) -> None:
    """Check a knowledge-base file: JSON, schema, links between ids and references, ICD-10-CM codes, HPO ids.

    Every problem is listed with its JSON path; the exit code is 4 when there is any.
    Example: oms-dx kb validate my-conditions.json
    """
    from oms_cli.kbcheck import report_document, validate_file
    from oms_cli.knowledge import default_kb_path

    report = validate_file(path if path is not None else default_kb_path())
    if format is OutputFormat.json:
        _print_json(report_document(report))
    else:
        for check in report.checks:
            detail = f" ({check.detail})" if check.detail else ""
            sys.stderr.write(f"oms-dx: {check.name}: {check.status}{printable(detail)}\n")
        for problem in report.problems:
            where = f"{report.file}: {problem.path}" if problem.path else report.file
            sys.stdout.write(f"{printable(where)}: {printable(problem.message)}\n")
        if report.valid:
            counts = ", ".join(f"{v} {k}" for k, v in report.counts.items())
            sys.stdout.write(f"{printable(report.file)}: valid ({counts})\n")
    if not report.valid:
        raise typer.Exit(int(ExitCode.KNOWLEDGE_BASE))


@kb_app.command("schema")
@_guard
def kb_schema() -> None:
    """Print the JSON Schema of knowledge-base files, generated from the models oms-dx validates with.

    Example: oms-dx kb schema > oms-dx-kb.schema.json
    """
    from oms_cli.kbcheck import schema_document

    _print_json(schema_document())


def _command_name(info: Any) -> str:
    return str(info.name or info.callback.__name__.replace("_", "-").lower())


def app_for(args: list[str]) -> typer.Typer:
    """The app with only the command that `args` starts with, or the whole app (help, --version, a typo).

    typer builds the parameters of every registered command on each run (about 3 ms for the ten here);
    a run needs one of them.
    """
    import copy

    first = args[0] if args else ""
    commands = [c for c in app.registered_commands if _command_name(c) == first]
    groups = [g for g in app.registered_groups if g.typer_instance is not None and g.typer_instance.info.name == first]
    if not commands and not groups:
        return app
    slim = copy.copy(app)
    slim.registered_commands = commands
    slim.registered_groups = groups
    return slim


def main() -> None:
    """Console-script entry point."""
    # Everything alive now (modules, classes, the command tree) lives until exit: keep it out of the
    # collector's way, during the run and in the final collection at interpreter exit (about 10 ms).
    gc.freeze()
    app_for(sys.argv[1:])()
