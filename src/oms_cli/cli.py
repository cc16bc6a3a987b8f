"""The oms-dx command line: parses options, calls the core, renders, and maps errors to exit codes."""

# No `from __future__ import annotations` here: typer reads every command's signature on each run, and
# string annotations would have to be eval'ed each time (a few ms of start-up).

import functools
import json
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from oms_cli import __version__
from oms_cli.errors import ExitCode, KnowledgeBaseError, OmsError
from oms_cli.safe import printable

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


app = typer.Typer(
    name="oms-dx",
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
        sys.stdout.write(json.dumps({"schema_version": "1", "error": body}) + "\n")


def _guard(fn: F) -> F:
    """Turn expected errors into one stderr line (plus a JSON error object in JSON mode) and an exit code."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        fmt = str(kwargs.get("format", "table"))
        try:
            return fn(*args, **kwargs)
        except OmsError as err:
            _emit_error(err, fmt)
            raise typer.Exit(int(err.exit_code)) from None
        except KeyboardInterrupt:
            # After a ^C echoed by the terminal, start the message on a fresh line.
            sys.stderr.write(("\n" if sys.stderr.isatty() else "") + "oms-dx: interrupted\n")
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None

    return wrapper  # type: ignore[return-value]


def _console() -> "Console":
    from rich.console import Console

    return Console(highlight=False, emoji=False)


def _load(path: Path | None) -> "CompiledKnowledgeBase":
    from oms_cli.cache import default_cache_dir
    from oms_cli.knowledge import load_knowledge_base

    return load_knowledge_base(path, cache_dir=default_cache_dir())


def _print_json(doc: dict[str, Any]) -> None:
    # Like gh: indented for a person at a terminal, one compact line for pipes (the C encoder, much faster).
    indent = 2 if sys.stdout.isatty() else None
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
        ),
    ] = None,
    absent: Annotated[
        list[str] | None,
        typer.Option("--absent", "-x", help="A finding that was looked for and is absent (repeatable)."),
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
    format: FormatOpt = OutputFormat.table,
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
    query = normalise_query(knowledge, split_terms(finding), split_terms(absent), age_years, onset_id)
    analysis = analyse(knowledge, query, cant_miss_threshold=cant_miss_threshold)
    for warning in analysis.ranking.warnings:
        sys.stderr.write(f"oms-dx: warning: {printable(warning)}\n")
    if format is OutputFormat.json:
        from oms_cli.render import suggest_document

        _print_json(suggest_document(analysis, knowledge, top=top, explain=explain))
    else:
        from oms_cli.render import render_suggest

        render_suggest(_console(), analysis, knowledge, top=top, explain=explain)


@app.command()
@_guard
def show(
    condition: Annotated[str, typer.Argument(help="Condition id, name or alias (e.g. oms, 'dancing eye syndrome').")],
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
    condition: Annotated[list[str], typer.Argument(help="Two or more condition ids, names or aliases.")],
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


def main() -> None:
    """Console-script entry point."""
    app()
