"""`oms-dx batch`: score many cases, one record per case, in input order, streaming."""

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_cli.commands._shared import KbOpt, format_option, load_kb, register
from oms_cli.output.formats import Format

FORMATS = (Format.json, Format.csv, Format.tsv, Format.parquet)


def case_lines(source: str, progress: bool) -> tuple[Iterator[bytes], Callable[[], Any]]:
    """An iterator over the raw input lines and a callback that closes input and progress display."""
    from contextlib import ExitStack

    stack = ExitStack()
    total: int | None = None
    if source == "-":
        fh: Any = sys.stdin.buffer
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
    from oms_cli.output.progress import tracked

    return tracked(fh, total, stack), stack.close


def batch(
    input: Annotated[
        str,
        typer.Argument(
            help="JSON Lines file of cases (id, present, absent, age_years, onset), or - for stdin; "
            "a .parquet file is read as a table with those columns."
        ),
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
        Format,
        format_option(
            FORMATS,
            "json: one JSON line per case; csv/tsv: one row per case and rank; parquet: one row per case (needs -o).",
        ),
    ] = Format.json,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the results to this file instead of stdout.", metavar="FILE"),
    ] = None,
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

    A line that cannot be read or scored gives an error record ({"id", "line", "error"}) and the run goes on;
    the exit code is 3 when any case failed.
    Example: oms-dx batch cases.jsonl > results.jsonl
    """
    from oms_cli.core.batch import BatchOptions, run_batch, run_batch_cases, write_outcomes
    from oms_cli.errors import ExitCode
    from oms_cli.output import streams
    from oms_cli.output.records import encoder, header

    if format is Format.parquet and output is None:
        raise typer.BadParameter("--format parquet writes a file: give it with -o FILE", param_hint="--format")
    knowledge = load_kb(kb)
    show_progress = sys.stderr.isatty() if progress is None else progress
    # Flat rows carry no contributions, so they are not computed for csv/tsv/parquet.
    with_contributions = contributions and format is Format.json
    options = BatchOptions(top, with_contributions)
    close: Any = None
    sink: Any = None
    if format is Format.parquet:
        from oms_cli.core.parquet import needs_pyarrow
        from oms_cli.output import parquet

        needs_pyarrow()
        encode = parquet.encoder(knowledge, top)
        sink = parquet.ParquetSink(output, knowledge, top)  # type: ignore[arg-type]
        write = sink.write
    else:
        encode = encoder(format, with_contributions)
        if output is not None:
            sink = _file_writer(output)
            write = sink.write
        else:
            write = streams.byte_writer()
    try:
        write(header(format))
        if phenopackets is not None:
            from oms_cli.core.phenopacket import read_phenopackets

            tally = write_outcomes(knowledge, read_phenopackets(knowledge, phenopackets), options, encode, write)
        elif input.endswith(".parquet"):
            from oms_cli.core.parquet import read_parquet_cases

            tally = run_batch_cases(knowledge, read_parquet_cases(knowledge, Path(input)), options, encode, write, jobs)
        else:
            lines, close = case_lines(input, show_progress)
            tally = run_batch(knowledge, lines, options, encode, write, jobs)
    finally:
        if close is not None:
            close()
        if sink is not None:
            sink.close()
    failed = tally.failed
    streams.info(f"batch: {tally.cases} case(s), {tally.cases - failed} scored, {failed} failed")
    if failed:
        raise typer.Exit(int(ExitCode.INPUT))


def _file_writer(path: Path) -> Any:
    """A binary file for -o (closed by the caller)."""
    try:
        return open(path, "wb")
    except OSError as exc:
        from oms_cli.errors import InputError

        raise InputError(f"cannot write {path} ({exc.strerror or exc})") from None


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, batch)
