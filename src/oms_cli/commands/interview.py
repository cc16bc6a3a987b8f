"""`oms-dx interview`: ask the most informative question, one at a time, and re-rank after each answer."""

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from oms_cli.commands._shared import (
    HUMAN_OR_JSON,
    KbOpt,
    OutputOpt,
    complete_onsets,
    finite,
    format_option,
    load_kb,
    register,
)
from oms_cli.output.formats import Format

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text


def _prompt(text: str) -> "Text":
    from oms_cli.output.table import t

    return t(text, style="bold")


def _ask(console: "Console", prompt: str) -> str | None:
    """One line from stdin after a prompt on stderr; None at end of input. Ctrl-C propagates to the guard.

    On a terminal the line is read with `input` (line editing, and Tab completion once `_completion` is set up);
    its own prompt is empty, because input() would write a prompt to stdout, which carries only results."""
    console.print(_prompt(prompt), end="")
    try:
        if sys.stdin.isatty():
            try:
                return input("").strip()
            except EOFError:
                console.print()
                return None
        line = sys.stdin.readline()
    except OSError as exc:
        from oms_cli.errors import InputError

        console.print()
        raise InputError(f"cannot read answers from standard input ({exc.strerror or exc})") from None
    if not line:
        console.print()
        return None
    return line.strip()


def _completion(words: list[str]) -> None:
    """Tab completion of finding names and replies where the terminal and Python's readline allow it."""
    if not sys.stdin.isatty():
        return
    try:
        import readline
    except ImportError:  # no readline on this platform: typing still works
        return
    choices = sorted({w for w in words if w.isprintable()})

    def complete(text: str, state: int) -> str | None:
        head = text.lstrip()
        matches = [c for c in choices if c.startswith(head.lower())]
        return matches[state] if state < len(matches) else None

    readline.set_completer(complete)
    readline.set_completer_delims(",")  # a finding name may hold spaces; a comma separates names
    readline.parse_and_bind("tab: complete")


def interview(
    age: Annotated[str | None, typer.Option("--age", help="Age, if known (otherwise it is asked).")] = None,
    onset: Annotated[
        str | None,
        typer.Option(
            "--onset", metavar="TEMPO", autocompletion=complete_onsets, help="Onset tempo, if known (otherwise asked)."
        ),
    ] = None,
    stop_at: Annotated[
        float,
        typer.Option(
            "--stop-at", min=0.5, max=1.0, callback=finite, help="Stop when the leading condition reaches this."
        ),
    ] = 0.9,
    max_questions: Annotated[int, typer.Option("--max-questions", min=1, help="Ask at most this many questions.")] = 20,
    format: Annotated[Format, format_option(HUMAN_OR_JSON, "table for people, json for scripts.")] = Format.table,
    kb: KbOpt = None,
    output: OutputOpt = None,
) -> None:
    """Ask the most informative question, one at a time, and re-rank after each answer.

    Questions, the running table and prompts go to stderr; the final summary (or JSON) goes to stdout.
    Answer y(es), n(o), u(nknown) or s(kip); an empty line at a question, or end of input, finishes.
    Example: oms-dx interview --age 2
    """
    from oms_cli.core.inputs import parse_age, parse_onset, split_terms
    from oms_cli.core.interview import Interview, parse_reply
    from oms_cli.errors import InputError
    from oms_cli.output import streams
    from oms_cli.output.dispatch import emit
    from oms_cli.output.safe import printable
    from oms_cli.output.streams import stderr_console
    from oms_cli.output.table import print_interview_step
    from oms_cli.output.views import InterviewSummary, InterviewView

    if streams.is_closed(sys.stdin):
        raise InputError("cannot read answers: standard input is closed")
    ui = stderr_console()
    knowledge = load_kb(kb)
    session = Interview(knowledge, stop_at=stop_at, max_questions=max_questions)
    session.age_years = parse_age(age) if age is not None else None
    session.onset = parse_onset(onset) if onset is not None else None
    if age is None:
        while (text := _ask(ui, "Age (e.g. 2, 18m; empty if unknown): ")) is not None and text:
            try:
                session.age_years = parse_age(text)
                break
            except InputError as err:
                ui.print(_prompt(f"  {err.message}"), style="red")
    if onset is None:
        while (
            text := _ask(ui, "Onset: acute, subacute, chronic or episodic (empty if unknown): ")
        ) is not None and text:
            try:
                session.onset = parse_onset(text)
                break
            except InputError as err:
                ui.print(_prompt(f"  {err.message}"), style="red")
    _completion([*knowledge.finding_ids, *(t.replace("-", " ") for t in knowledge.finding_terms)])
    text = _ask(ui, "Findings already known to be present (comma list; empty for none): ")
    pending = split_terms([text]) if text else []
    while pending:  # an unknown name is asked for again on its own; the others are kept
        term = pending.pop(0)
        try:
            session.known(knowledge.resolve_finding(term))
        except InputError as err:
            ui.print(_prompt(f"  {err.message}"), style="red")
            again = _ask(ui, f"  Instead of {term!r} (empty to leave it out): ")
            if again:
                pending[0:0] = split_terms([again])

    analysis = session.analysis()
    while (question := session.next_question(analysis)) is not None:
        # The running table is shown before each question only: the final one is the result, on stdout.
        print_interview_step(ui, analysis)
        finding = knowledge.finding(question)
        line = _prompt(f"Q{session.asked + 1}. {finding.label}? ")
        line.append(printable(f"({finding.definition})"), style="dim")
        ui.print(line)  # one text, so that it wraps at word boundaries from its first line
        text = None
        while True:
            text = _ask(ui, "  [y]es / [n]o / [u]nknown / [s]kip, empty to finish: ")
            if not text:
                break
            reply = parse_reply(text)
            if reply is not None:
                session.answer(question, reply)
                analysis = session.analysis()
                break
            ui.print(_prompt("  please answer y, n, u or s"), style="red")
        if not text:
            break
    reason = session.stop_reason(analysis) or "stopped by the user"
    ui.print(_prompt(f"Finished: {reason}."))
    summary = InterviewSummary(
        tuple(session.present),
        tuple(session.absent),
        tuple(session.unknown),
        tuple(session.skipped),
        reason,
        session.command_line(),
    )
    emit(format, InterviewView(knowledge, analysis, summary))


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, interview)
