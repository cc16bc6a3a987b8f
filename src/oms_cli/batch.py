"""Batch scoring: cases in, one record out per case, in input order, streaming, in worker processes for big inputs."""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_cli.cases import Case, CaseError, clip, read_jsonl
from oms_cli.engine import normalise_query, posterior, query_warnings, rank
from oms_cli.errors import OmsError, WorkerError
from oms_cli.knowledge import CompiledKnowledgeBase
from oms_cli.render import lean_rows, result_rows

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

FORMATS = ("json", "csv", "tsv")
FLAT_COLUMNS = ("id", "line", "rank", "condition", "probability", "cant_miss", "error")
# Records are written in blocks: fewer system calls, and a block is the unit of work sent to a worker.
BLOCK = 256
CHUNK_LINES = 512  # small enough that the chunks in flight keep memory flat, big enough to amortise the IPC
CHUNK_BYTES = 4 << 20  # a chunk closes early on long lines, so a few 10 MB lines do not pile up in memory
# Below this many lines, starting workers costs more than it saves.
PARALLEL_MIN_LINES = 4096
IN_FLIGHT_PER_JOB = 2  # chunks queued per worker: enough to keep it busy, few enough to keep memory flat


class BatchOptions(NamedTuple):
    """What each record holds and how it is written: json (JSON Lines), csv or tsv (one row per rank)."""

    top: int | None = None
    contributions: bool = False
    format: str = "json"


class BatchTally(NamedTuple):
    """How many cases a run (or one chunk of it) read, and how many of them could not be scored."""

    cases: int = 0
    failed: int = 0


class _Rendered(NamedTuple):
    data: bytes
    cases: int
    failed: int


def error_record(err: CaseError) -> dict[str, Any]:
    """The output record of a case that could not be scored."""
    record: dict[str, Any] = {"id": err.id, "line": err.line, "error": err.error, "code": err.code}
    if err.source is not None:
        record["source"] = err.source
    return record


def score_case(
    kb: CompiledKnowledgeBase, case: Case, top: int | None = None, contributions: bool = True
) -> dict[str, Any]:
    """One case's record: `{"id", "line", "results"}` (plus `warnings` and `source` when there are any),
    or an error record when its findings cannot be resolved."""
    try:
        query = normalise_query(kb, case.present, case.absent, case.age_years, case.onset)
    except OmsError as err:
        return error_record(CaseError(case.id, case.line, clip(err.message), err.code, case.source))
    rows = result_rows(rank(kb, query, top=top)) if contributions else lean_rows(kb, posterior(kb, query), top)
    record: dict[str, Any] = {"id": case.id, "line": case.line, "results": rows}
    warnings = case.warnings + query_warnings(kb, query)
    if warnings:
        record["warnings"] = list(warnings)
    if case.source is not None:
        record["source"] = case.source
    return record


def score_all(
    kb: CompiledKnowledgeBase, items: Iterable[Case | CaseError], top: int | None = None, contributions: bool = True
) -> Iterator[dict[str, Any]]:
    """A record for every case and every unreadable line, lazily, so memory stays flat on any input size."""
    for item in items:
        yield error_record(item) if isinstance(item, CaseError) else score_case(kb, item, top, contributions)


def flat_rows(record: dict[str, Any]) -> list[list[Any]]:
    """A batch record as CSV/TSV rows: one per ranked condition, or one row carrying the error."""
    if "error" in record:
        return [[record["id"], record["line"], "", "", "", "", record["error"]]]
    return [
        [record["id"], record["line"], r["rank"], r["id"], f"{r['probability']:.6g}", str(r["cant_miss"]).lower(), ""]
        for r in record["results"]
    ]


def header(options: BatchOptions) -> bytes:
    """What comes before the first record: the column names for csv/tsv, nothing for JSON Lines."""
    return b"" if options.format == "json" else _flat_bytes([list(FLAT_COLUMNS)], options.format)


def _flat_bytes(rows: list[list[Any]], fmt: str) -> bytes:
    import csv
    import io

    buffer = io.StringIO()
    delimiter = "," if fmt == "csv" else "\t"
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\n")
    # The csv module quotes only the line terminator's characters, so a bare carriage return in an id or an
    # error message would split the row for most readers: such rows are written fully quoted.
    quoted = csv.writer(buffer, delimiter=delimiter, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for row in rows:
        (quoted if any(type(f) is str and "\r" in f for f in row) else writer).writerow(row)
    return buffer.getvalue().encode("utf-8")


def _json_bytes(records: list[dict[str, Any]]) -> bytes:
    import json

    import orjson

    newline = orjson.OPT_APPEND_NEWLINE
    try:
        return b"".join([orjson.dumps(r, option=newline) for r in records])
    except TypeError:  # an integer id beyond 64 bits: the json module writes any size
        return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()


def write_records(
    kb: CompiledKnowledgeBase, items: Iterable[Case | CaseError], options: BatchOptions, write: Callable[[bytes], Any]
) -> BatchTally:
    """Score `items` in this process and hand the encoded records to `write`, a block at a time.

    On KeyboardInterrupt the records already scored are written before the interrupt goes on.
    """
    contributions = options.contributions and options.format == "json"  # flat rows carry no contributions
    encode = _json_bytes if options.format == "json" else None
    cases = failed = 0
    block: list[dict[str, Any]] = []

    def flush() -> None:
        if block:
            data = (
                encode(block) if encode else _flat_bytes([r for rec in block for r in flat_rows(rec)], options.format)
            )
            block.clear()  # before writing: an interrupt raised as the write returns must not write it twice
            write(data)

    try:
        for record in score_all(kb, items, options.top, contributions):
            cases += 1
            failed += "error" in record
            block.append(record)
            if len(block) == BLOCK:
                flush()
    except KeyboardInterrupt:
        flush()  # keep every case scored before the interrupt
        raise
    flush()
    return BatchTally(cases, failed)


def chunks(lines: Iterable[bytes], size: int | None = None) -> Iterator[tuple[int, list[bytes]]]:
    """Raw input lines in runs of at most `size` lines (fewer when long), each with its first line number."""
    size = size or CHUNK_LINES
    chunk: list[bytes] = []
    first = 1
    nbytes = 0
    for number, raw in enumerate(lines, start=1):
        chunk.append(raw)
        nbytes += len(raw)
        if len(chunk) == size or nbytes >= CHUNK_BYTES:
            yield first, chunk
            chunk, first, nbytes = [], number + 1, 0
    if chunk:
        yield first, chunk


def available_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the system has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def run_batch(
    kb: CompiledKnowledgeBase,
    lines: Iterable[bytes],
    options: BatchOptions,
    write: Callable[[bytes], Any],
    jobs: int | None = None,
) -> BatchTally:
    """Score JSON Lines cases and write their records to `write`, in input order.

    `jobs` is the number of worker processes (None: one per available CPU). With 1, cases are scored here,
    block by block as lines arrive; otherwise workers start once the input has proved longer than
    PARALLEL_MIN_LINES, and smaller inputs, not worth the start, are scored here too.
    """
    if jobs is None:
        jobs = available_cpus()
    if jobs <= 1:
        return write_records(kb, read_jsonl(lines), options, write)
    pending = chunks(lines)
    head: list[tuple[int, list[bytes]]] = []
    seen = 0
    for chunk in pending:
        head.append(chunk)
        seen += len(chunk[1])
        if seen > PARALLEL_MIN_LINES:
            return _run_parallel(kb, itertools.chain(head, pending), options, write, jobs)
    return write_records(kb, read_jsonl([raw for _, part in head for raw in part]), options, write)


# Each worker's knowledge base and options, set by its initializer (under fork the arguments are not even pickled).
_worker: tuple[CompiledKnowledgeBase, BatchOptions] | None = None


def _init_worker(kb: CompiledKnowledgeBase, options: BatchOptions) -> None:
    import signal

    global _worker
    # ^C reaches the whole process group; the parent alone decides what to keep and how to stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _worker = (kb, options)


def _render_chunk(first_line: int, lines: list[bytes]) -> _Rendered:
    assert _worker is not None, "batch worker used before its initializer ran"
    kb, options = _worker
    parts: list[bytes] = []
    tally = write_records(kb, read_jsonl(lines, first_line=first_line), options, parts.append)
    return _Rendered(b"".join(parts), tally.cases, tally.failed)


def _executor(kb: CompiledKnowledgeBase, options: BatchOptions, jobs: int) -> ProcessPoolExecutor:
    import multiprocessing
    import threading
    from concurrent.futures import ProcessPoolExecutor

    # fork shares the loaded knowledge base for free, but is only safe while this is the only thread (a live
    # progress bar runs one); otherwise fresh interpreters receive the knowledge base pickled.
    method = "fork" if threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods() else "spawn"
    return ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context(method),
        initializer=_init_worker,
        initargs=(kb, options),
    )


def _run_parallel(
    kb: CompiledKnowledgeBase,
    work: Iterator[tuple[int, list[bytes]]],
    options: BatchOptions,
    write: Callable[[bytes], Any],
    jobs: int,
) -> BatchTally:
    from concurrent.futures.process import BrokenProcessPool

    cases = failed = 0
    queued: deque[Future[_Rendered]] = deque()
    executor = _executor(kb, options, jobs)

    def emit(done: _Rendered) -> None:
        nonlocal cases, failed
        write(done.data)
        cases += done.cases
        failed += done.failed

    try:
        for first_line, lines in work:
            queued.append(executor.submit(_render_chunk, first_line, lines))
            if len(queued) >= jobs * IN_FLIGHT_PER_JOB:
                emit(queued.popleft().result())  # output stays in input order; reading waits for the oldest
        while queued:
            emit(queued.popleft().result())
    except KeyboardInterrupt:
        while queued and queued[0].done() and not queued[0].cancelled():
            emit(queued.popleft().result())  # keep the chunks finished before the interrupt
        raise
    except BrokenProcessPool as exc:
        raise WorkerError(f"a batch worker process stopped unexpectedly ({exc}); rerun with --jobs 1") from None
    finally:
        executor.shutdown(wait=not queued, cancel_futures=True)
    return BatchTally(cases, failed)
