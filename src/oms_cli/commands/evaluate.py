"""`oms-dx evaluate`: judge the ranking on cases with a known diagnosis."""

from pathlib import Path
from typing import Annotated

import typer

from oms_cli.commands._shared import HUMAN_OR_JSON, KbOpt, OutputOpt, format_option, load_kb, register
from oms_cli.output.formats import Format


def evaluate(
    file: Annotated[
        str | None,
        typer.Argument(
            help="JSON Lines cases with a known 'diagnosis' (condition id, name, alias or code), or -.",
            metavar="[FILE]",
        ),
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
    with_workup: Annotated[
        bool,
        typer.Option(
            "--with-workup",
            help="Add each case's workup_present and workup_absent (test results) to its findings: the ranking "
            "after the work-up. Without it they are ignored: the ranking at presentation.",
        ),
    ] = False,
    format: Annotated[Format, format_option(HUMAN_OR_JSON, "table for people, json for scripts.")] = Format.table,
    kb: KbOpt = None,
    output: OutputOpt = None,
) -> None:
    """Judge the ranking on cases with a known diagnosis: top-1, top-3, MRR, Brier score, log loss, calibration.

    Cases without a diagnosis are skipped; the exit code is 3 when any line could not be read or scored.
    Example: oms-dx evaluate published-cases.jsonl --format json
    """
    from oms_cli.commands.batch import case_lines
    from oms_cli.core.evaluate import evaluate as run_evaluation
    from oms_cli.errors import ExitCode
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import EvaluationView

    knowledge = load_kb(kb)
    if (file is None) == (phenopackets is None):
        need = (
            "not both FILE and --phenopackets" if file is not None else "a case FILE (or - for stdin) or --phenopackets"
        )
        raise typer.BadParameter(f"give {need}", param_hint="FILE")
    if phenopackets is not None:
        from oms_cli.core.phenopacket import read_phenopackets

        result = run_evaluation(knowledge, read_phenopackets(knowledge, phenopackets), with_workup)
        shown_file = str(phenopackets)
    else:
        from oms_cli.core.inputs import read_jsonl

        assert file is not None
        lines, close = case_lines(file, False)
        try:
            result = run_evaluation(knowledge, read_jsonl(lines), with_workup)
        finally:
            close()
        shown_file = "<stdin>" if file == "-" else file
    if result.n == 0:
        from oms_cli.errors import InputError

        reasons = sorted({s.reason for s in result.skipped})
        why = f" ({'; '.join(reasons[:3])})" if reasons else ""
        if not result.n_skipped:
            raise InputError(f"no cases in {shown_file}")
        raise InputError(f"no case in {shown_file} could be scored: {result.n_skipped} skipped{why}")
    emit(format, EvaluationView(knowledge, result, shown_file))
    if result.n_errors:
        raise typer.Exit(int(ExitCode.INPUT))


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, evaluate)
