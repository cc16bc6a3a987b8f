"""`oms-dx batch`: score many cases, one record per case, in input order, streaming."""

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer

from oms_cli.commands._shared import KbOpt, OutputOpt, format_option, load_kb, on_termination_raise, register
from oms_cli.output.formats import Format

FORMATS = (Format.json, Format.csv, Format.tsv, Format.parquet)


# A line longer than this is not a case anyone wrote: it is cut off and reported as a bad line, so that a device
# or a file without newlines cannot make the reader hold gigabytes.
MAX_LINE_BYTES = 16 << 20


def bounded_lines(fh: Any, name: str) -> Iterator[bytes]:
    """The lines of `fh`, each at most MAX_LINE_BYTES (the rest of a longer line is skipped); a read error is an
    InputError naming the input."""
    from oms_cli.errors import InputError

    try:
        while True:
            raw = fh.readline(MAX_LINE_BYTES)
            if not raw:
                return
            if len(raw) == MAX_LINE_BYTES and not raw.endswith(b"\n"):
                while (rest := fh.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                    pass  # skip to the end of the line; what was kept fails to parse and is reported
            yield raw
    except OSError as exc:
        raise InputError(f"cannot read {name} ({exc.strerror or exc})") from None


def case_lines(source: str, progress: bool) -> tuple[Iterator[bytes], Callable[[], Any]]:
    """An iterator over the raw input lines and a callback that closes input and progress display."""
    import stat
    from contextlib import ExitStack

    from oms_cli.errors import InputError

    stack = ExitStack()
    total: int | None = None
    if source == "-":
        fh: Any = sys.stdin.buffer
        name = "standard input"
    else:
        name = source
        try:
            fh = stack.enter_context(open(source, "rb"))  # noqa: SIM115 - closed by the ExitStack
            mode = os.fstat(fh.fileno()).st_mode
        except OSError as exc:
            stack.close()
            raise InputError(f"cannot read {source} ({exc.strerror or exc})") from None
        # Files and pipes (`<(zcat cases.gz)`) are read; a device would never end.
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)):
            stack.close()
            raise InputError(f"cannot read {source}: not a regular file or a pipe")
        total = os.fstat(fh.fileno()).st_size if stat.S_ISREG(mode) else None
    lines = bounded_lines(fh, name)
    if not progress:
        return lines, stack.close
    from oms_cli.output.progress import tracked

    return tracked(lines, total, stack), stack.close


def batch(
    input: Annotated[
        str,
        typer.Argument(
            help="JSON Lines file of cases (id, present, absent, age_years, onset), or - for stdin; "
            "a .parquet file is read as a table with those columns.",
            metavar="[FILE]",
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
            "json: one JSON line per case; csv/tsv: one row per case and rank; parquet: one row per case (a file: -o FILE).",
        ),
    ] = Format.json,
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
    output: OutputOpt = None,
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

    if phenopackets is not None and input != "-":
        raise typer.BadParameter("give either FILE or --phenopackets, not both", param_hint="FILE")
    if format is Format.parquet and sys.stdout.isatty():
        raise typer.BadParameter(
            "--format parquet writes a binary file: give it with -o FILE (or redirect stdout)", param_hint="--format"
        )
    on_termination_raise()
    knowledge = load_kb(kb)
    # The bar is drawn on a terminal stderr (by default), and never while the records go to a terminal too:
    # there they would interleave with it.
    show_progress = (sys.stderr.isatty() if progress is None else progress) and not sys.stdout.isatty()
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
        # To stdout's binary buffer, like every format: with -o that is the temporary file the command guard
        # renames into place when the run completes (commands._shared.run_guarded).
        sys.stdout.flush()
        sink = parquet.ParquetSink(sys.stdout.buffer, knowledge, top)
        write = sink.write
    else:
        encode = encoder(format, with_contributions)
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


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, batch)
