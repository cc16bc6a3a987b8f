"""Batch scoring: cases in, one outcome per case, in input order, streaming, in worker processes for big inputs.

Large inputs are scored a block at a time by `core.vector` (numpy; identical outcomes), small ones case by case,
which saves importing numpy. It imports no output code: the caller passes an encoder that turns a block of
outcomes into bytes.
"""

from __future__ import annotations

import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_cli.core.engine import ScoredCondition, normalise_query, rank
from oms_cli.core.inputs import Case, CaseError, clip, read_jsonl
from oms_cli.errors import OmsError, WorkerError
from oms_cli.kb.compiled import CompiledKnowledgeBase

if TYPE_CHECKING:
    from concurrent.futures import Future, ProcessPoolExecutor

# Records are written in blocks: fewer system calls, and a block is the unit of work sent to a worker.
BLOCK = 256
CHUNK_LINES = 512  # small enough that the chunks in flight keep memory flat, big enough to amortise the IPC
CHUNK_BYTES = 4 << 20  # a chunk closes early on long lines, so a few 10 MB lines do not pile up in memory
# Below this many lines, starting workers costs more than it saves.
PARALLEL_MIN_LINES = 4096
IN_FLIGHT_PER_JOB = 2  # chunks queued per worker: enough to keep it busy, few enough to keep memory flat
# Cases scored one by one before a run in this process switches to the vectorised scorer: below this, importing
# numpy (about 0.1 s) costs more than it saves. Workers score vectorised from the start (their input is large).
VECTOR_AFTER = 1024


class BatchOptions(NamedTuple):
    """What each outcome holds: the top conditions only, and each finding's contributions or not."""

    top: int | None = None
    contributions: bool = False


class Scored(NamedTuple):
    """A case that was scored: its ranked conditions and what its reader and the engine warn about."""

    id: str | int | None
    line: int
    results: tuple[ScoredCondition, ...]
    other_probability: float
    warnings: tuple[str, ...]
    source: str | None


Outcome = Scored | CaseError
# Turns a block of outcomes into the bytes to write; runs in the workers, so it must be picklable. The block is a
# list, or a core.vector.ScoredBlock (a sequence of the same outcomes).
Encoder = Callable[[Sequence[Outcome]], bytes]


class BatchTally(NamedTuple):
    """How many cases a run (or one chunk of it) read, and how many of them could not be scored."""

    cases: int = 0
    failed: int = 0


class _Rendered(NamedTuple):
    data: bytes
    cases: int
    failed: int


def score_case(kb: CompiledKnowledgeBase, case: Case, top: int | None = None, contributions: bool = True) -> Outcome:
    """One case's outcome: its ranked conditions, or a CaseError when its findings cannot be resolved."""
    try:
        query = normalise_query(kb, case.present, case.absent, case.age_years, case.onset)
    except OmsError as err:
        return CaseError(case.id, case.line, clip(err.message), err.code, case.source)
    ranking = rank(kb, query, top=top, contributions=contributions)
    return Scored(
        case.id, case.line, ranking.results, ranking.other_probability, case.warnings + ranking.warnings, case.source
    )


def score_all(
    kb: CompiledKnowledgeBase,
    items: Iterable[Case | CaseError],
    top: int | None = None,
    contributions: bool = True,
    vector_after: int | None = None,
) -> Iterator[Outcome]:
    """An outcome for every case and every unreadable line, lazily, so memory stays flat on any input size.

    With `vector_after`, the items after that many are scored BLOCK at a time by the vectorised scorer (the same
    outcomes; not with contributions, which only the per-case path explains).
    """
    if vector_after is None or contributions:
        for item in items:
            yield item if isinstance(item, CaseError) else score_case(kb, item, top, contributions)
        return
    it = iter(items)
    for item in itertools.islice(it, vector_after):
        yield item if isinstance(item, CaseError) else score_case(kb, item, top, contributions)
    from oms_cli.core.vector import score_cases

    while True:
        block = list(itertools.islice(it, BLOCK))
        if not block:
            return
        yield from score_cases(kb, block, top)


def write_outcomes(
    kb: CompiledKnowledgeBase,
    items: Iterable[Case | CaseError],
    options: BatchOptions,
    encode: Encoder,
    write: Callable[[bytes], Any],
    vector_after: int | None = None,
) -> BatchTally:
    """Score `items` in this process and hand the encoded outcomes to `write`, a block at a time (vectorised after
    `vector_after` items, when given).

    On KeyboardInterrupt the outcomes already scored are written before the interrupt goes on.
    """
    cases = failed = 0
    block: list[Outcome] = []

    def flush() -> None:
        if block:
            data = encode(block)
            block.clear()  # before writing: an interrupt raised as the write returns must not write it twice
            write(data)

    vectorised = vector_after is not None and not options.contributions
    it = iter(items)
    try:
        head = itertools.islice(it, vector_after) if vectorised else it
        for outcome in score_all(kb, head, options.top, options.contributions):
            cases += 1
            failed += type(outcome) is CaseError
            block.append(outcome)
            if len(block) == BLOCK:
                flush()
        flush()
        # A scored block goes to the encoder whole: it is a sequence of outcomes, and encoders that know it write
        # its records straight from its numbers. numpy is imported only when there is such a block.
        while vectorised and (part := list(itertools.islice(it, BLOCK))):
            from oms_cli.core.vector import score_cases

            scored = score_cases(kb, part, options.top)
            cases += len(scored)
            failed += scored.failed
            write(encode(scored))
    except KeyboardInterrupt:
        flush()  # keep every case scored before the interrupt
        raise
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
    encode: Encoder,
    write: Callable[[bytes], Any],
    jobs: int | None = None,
) -> BatchTally:
    """Score JSON Lines cases and write their encoded outcomes to `write`, in input order.

    `jobs` is the number of worker processes (None: one per available CPU). With 1, cases are scored here,
    block by block as lines arrive; otherwise workers start once the input has proved longer than
    PARALLEL_MIN_LINES, and smaller inputs, not worth the start, are scored here too.
    """
    if jobs is None:
        jobs = available_cpus()
    if jobs <= 1:
        return write_outcomes(kb, read_jsonl(lines), options, encode, write, VECTOR_AFTER)
    pending = chunks(lines)
    head: list[tuple[int, list[bytes]]] = []
    seen = 0
    for chunk in pending:
        head.append(chunk)
        seen += len(chunk[1])
        if seen > PARALLEL_MIN_LINES:
            return _run_parallel(kb, itertools.chain(head, pending), options, encode, write, jobs)
    return write_outcomes(
        kb, read_jsonl([raw for _, part in head for raw in part]), options, encode, write, VECTOR_AFTER
    )


def run_batch_cases(
    kb: CompiledKnowledgeBase,
    items: Iterable[Case | CaseError],
    options: BatchOptions,
    encode: Encoder,
    write: Callable[[bytes], Any],
    jobs: int | None = None,
) -> BatchTally:
    """As `run_batch`, for cases already read (from Parquet): the workers receive cases instead of raw lines."""
    if jobs is None:
        jobs = available_cpus()
    if jobs <= 1:
        return write_outcomes(kb, items, options, encode, write, VECTOR_AFTER)
    pending = _case_chunks(items)
    head: list[tuple[int, list[Case | CaseError]]] = []
    seen = 0
    for chunk in pending:
        head.append(chunk)
        seen += len(chunk[1])
        if seen > PARALLEL_MIN_LINES:
            return _run_parallel(kb, itertools.chain(head, pending), options, encode, write, jobs, _render_cases)
    return write_outcomes(kb, [c for _, part in head for c in part], options, encode, write, VECTOR_AFTER)


def _case_chunks(items: Iterable[Case | CaseError]) -> Iterator[tuple[int, list[Case | CaseError]]]:
    it = iter(items)
    while chunk := list(itertools.islice(it, CHUNK_LINES)):
        yield 0, chunk


# Each worker's knowledge base and options, set by its initializer (under fork the arguments are not even pickled).
_worker: tuple[CompiledKnowledgeBase, BatchOptions, Encoder] | None = None


def _init_worker(kb: CompiledKnowledgeBase, options: BatchOptions, encode: Encoder) -> None:
    import signal

    global _worker
    # ^C reaches the whole process group; the parent alone decides what to keep and how to stop. SIGTERM and
    # SIGHUP end a worker at once (the parent's handlers, inherited under fork, are not for workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)
    _die_with_parent()
    _worker = (kb, options, encode)


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies, however it dies (even SIGKILL): no orphan is left to
    hold the output open. Elsewhere the parent's own clean-up is all there is."""
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes
    import signal

    parent = os.getppid()
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL, 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before the request was made
        os._exit(1)


def _render_chunk(first_line: int, lines: list[bytes]) -> _Rendered:
    assert _worker is not None, "batch worker used before its initializer ran"
    kb, options, encode = _worker
    return _render(kb, options, encode, list(read_jsonl(lines, first_line=first_line)))


def _render_cases(_: int, items: list[Case | CaseError]) -> _Rendered:
    assert _worker is not None, "batch worker used before its initializer ran"
    kb, options, encode = _worker
    return _render(kb, options, encode, items)


def _render(
    kb: CompiledKnowledgeBase, options: BatchOptions, encode: Encoder, items: list[Case | CaseError]
) -> _Rendered:
    if options.contributions:  # only the per-case path explains
        parts: list[bytes] = []
        tally = write_outcomes(kb, items, options, encode, parts.append)
        return _Rendered(b"".join(parts), tally.cases, tally.failed)
    from oms_cli.core.vector import score_cases

    scored = score_cases(kb, items, options.top)  # a whole chunk at once: nothing waits for its first records
    return _Rendered(encode(scored), len(scored), scored.failed)


def _executor(kb: CompiledKnowledgeBase, options: BatchOptions, encode: Encoder, jobs: int) -> ProcessPoolExecutor:
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
        initargs=(kb, options, encode),
    )


def _run_parallel(
    kb: CompiledKnowledgeBase,
    work: Iterator[tuple[int, Any]],
    options: BatchOptions,
    encode: Encoder,
    write: Callable[[bytes], Any],
    jobs: int,
    task: Callable[[int, Any], _Rendered] | None = None,
) -> BatchTally:
    from concurrent.futures.process import BrokenProcessPool

    cases = failed = 0
    queued: deque[Future[_Rendered]] = deque()
    import threading

    before = set(threading.enumerate())
    executor = _executor(kb, options, encode, jobs)
    stopped = True  # until the run completes: any way out before that stops the workers at once

    writing = False  # a signal that lands while a chunk is being written stops the output at a record boundary

    def emit_oldest() -> None:
        # The oldest chunk leaves the queue only once its result is in hand: a signal that lands while waiting
        # for it leaves it queued, so the clean-up below never writes a later chunk in its place.
        nonlocal cases, failed, writing
        done = queued[0].result()
        writing = True
        queued.popleft()
        write(done.data)
        writing = False
        cases += done.cases
        failed += done.failed

    try:
        for first_line, lines in work:
            queued.append(executor.submit(task or _render_chunk, first_line, lines))
            if len(queued) >= jobs * IN_FLIGHT_PER_JOB:
                emit_oldest()  # output stays in input order; reading waits for the oldest
        while queued:
            emit_oldest()
        stopped = False
    except KeyboardInterrupt:  # ^C, or SIGTERM/SIGHUP raised as Terminated
        # Keep the chunks finished before the signal (a second ^C here ends this at once; the workers are
        # still stopped below, and each block is written whole or not at all).
        # Not after a chunk cut short by the signal: the output would skip the rest of it.
        while not writing and queued and queued[0].done() and not queued[0].cancelled() and not queued[0].exception():
            emit_oldest()
        raise
    except BrokenProcessPool as exc:
        raise WorkerError(f"a batch worker process stopped unexpectedly ({exc}); rerun with --jobs 1") from None
    finally:
        if stopped:
            _stop_workers(executor)
            ABANDONED.extend(t for t in threading.enumerate() if t not in before)
        else:
            executor.shutdown(wait=True)
    return BatchTally(cases, failed)


STOP_GRACE_SECONDS = 2.0

# Threads of a stopped pool (its queue feeder and manager) that may stay blocked on a pipe no worker reads or
# writes any more; the command layer leaves the process without waiting for them (commands._shared).
ABANDONED: list[Any] = []


def _stop_workers(executor: ProcessPoolExecutor) -> None:
    """End the workers now, in a bounded time: terminate, wait a little, then kill. Signals that would
    interrupt this are held off meanwhile (it takes at most a few seconds), so that no worker is left behind."""
    import multiprocessing
    import signal
    import threading
    import time

    held: list[tuple[int, Any]] = []
    if threading.current_thread() is threading.main_thread():
        held = [(n, signal.signal(n, signal.SIG_IGN)) for n in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)]
    try:
        children = multiprocessing.active_children()
        for child in children:
            child.terminate()
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
        for child in children:
            if child.is_alive():
                child.kill()
                child.join(1.0)
        # Not shutdown(wait=True): the pool's queue feeder may be blocked on a pipe no worker reads any more.
        # The caller leaves the process without waiting for such threads (commands._shared.run_guarded).
        executor.shutdown(wait=False, cancel_futures=True)
    finally:
        for signum, handler in held:
            signal.signal(signum, handler)
