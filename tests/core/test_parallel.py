"""batch in worker processes: the same records, in the same order, as scoring in one process; clean failures."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import oms_cli.core.batch
from oms_cli.core.batch import BatchOptions, BatchTally, chunks, run_batch
from oms_cli.core.inputs import read_jsonl
from oms_cli.errors import ExitCode, WorkerError
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.output.formats import Format
from oms_cli.output.records import encoder

from ..conftest import TOY_KB, Result

ENCODE = encoder(Format.json)

Invoke = Callable[..., Result]


def _lines(n: int) -> list[str]:
    """A mixed input: good cases, unknown findings, bad JSON, non-objects and blank lines."""
    kinds = [
        '{{"id": {i}, "present": ["spots"], "age_years": {age}}}',
        '{{"id": "c{i}", "present": ["spots"], "absent": ["cough"], "onset": "acute"}}',
        '{{"id": {i}, "present": ["no-such-finding"]}}',
        "{{not json {i}",
        "",
        "[{i}]",
        '{{"id": {i}, "present": ["cough"], "age_years": "{i}m"}}',
    ]
    return [kinds[i % len(kinds)].format(i=i, age=(i % 70) + 0.5) for i in range(n)]


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Worker processes fork from this one, so they see the patched chunk size too.
    monkeypatch.setattr(oms_cli.core.batch, "CHUNK_LINES", 5)
    monkeypatch.setattr(oms_cli.core.batch, "PARALLEL_MIN_LINES", 10)


@pytest.mark.parametrize("fmt", ["json", "csv", "tsv"])
def test_workers_give_exactly_the_single_process_output(invoke: Invoke, small_chunks: None, fmt: str) -> None:
    text = "\n".join(_lines(61)) + "\n"
    one = invoke("batch", "--kb", str(TOY_KB), "--jobs", "1", "--format", fmt, input=text)
    two = invoke("batch", "--kb", str(TOY_KB), "--jobs", "2", "--format", fmt, input=text)
    assert one.exit_code == two.exit_code == ExitCode.INPUT  # the input holds bad lines
    assert two.stdout == one.stdout
    assert two.stderr == one.stderr
    if fmt == "json":
        records = [json.loads(x) for x in two.stdout.splitlines()]
        expected = [i + 1 for i, line in enumerate(_lines(61)) if line]  # every non-blank line, numbered
        assert [r["line"] for r in records] == expected


def test_auto_jobs_uses_workers_only_past_the_threshold(
    toy_kb: CompiledKnowledgeBase, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []
    real = oms_cli.core.batch._run_parallel

    def spy(*args: Any) -> BatchTally:
        started.append(args[-1])
        return real(*args)

    monkeypatch.setattr(oms_cli.core.batch, "_run_parallel", spy)
    monkeypatch.setattr(oms_cli.core.batch, "available_cpus", lambda: 2)
    out: list[bytes] = []
    lines = [line.encode() for line in _lines(10)]  # exactly the threshold: not worth the workers
    assert run_batch(toy_kb, lines, BatchOptions(), ENCODE, out.append) == BatchTally(9, 4)
    assert started == []
    run_batch(toy_kb, [*lines, b'{"present": ["spots"]}'], BatchOptions(), ENCODE, out.append)
    assert started == [2]


def test_spawned_workers_receive_the_knowledge_base(
    toy_kb: CompiledKnowledgeBase, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With another thread alive, fork is unsafe and workers start as fresh interpreters (the knowledge base
    # pickled); they must read the chunk size from the call, not from a patched module.
    import multiprocessing

    methods: list[str | None] = []
    real_context = multiprocessing.get_context

    def recording(method: str | None = None) -> Any:
        methods.append(method)
        return real_context(method)

    monkeypatch.setattr("threading.active_count", lambda: 2)
    monkeypatch.setattr(multiprocessing, "get_context", recording)
    lines = [line.encode() for line in _lines(30)]
    spawned: list[bytes] = []
    forked: list[bytes] = []
    tally = oms_cli.core.batch._run_parallel(toy_kb, chunks(lines, 5), BatchOptions(top=2), ENCODE, spawned.append, 2)
    monkeypatch.undo()
    assert methods == ["spawn"]  # fresh interpreters, not forks of this process
    assert tally == oms_cli.core.batch.write_outcomes(
        toy_kb, read_jsonl(lines), BatchOptions(top=2), ENCODE, forked.append
    )
    assert b"".join(spawned) == b"".join(forked)


def _die(first_line: int, lines: list[bytes]) -> Any:
    os._exit(9)  # a worker killed by the system mid-chunk


def test_a_dead_worker_is_a_clean_error(
    toy_kb: CompiledKnowledgeBase, small_chunks: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(oms_cli.core.batch, "_render_chunk", _die)
    lines = [b'{"present": ["spots"]}'] * 20
    out: list[bytes] = []
    with pytest.raises(WorkerError, match="--jobs 1"):
        run_batch(toy_kb, lines, BatchOptions(), ENCODE, out.append, jobs=2)
    assert out == []


def test_interrupt_keeps_finished_chunks_in_order(toy_kb: CompiledKnowledgeBase, small_chunks: None) -> None:
    written: list[bytes] = []

    def write(data: bytes) -> None:
        written.append(data)
        if len(written) == 2:
            raise KeyboardInterrupt

    lines = [f'{{"id": {i}, "present": ["spots"]}}'.encode() for i in range(40)]
    with pytest.raises(KeyboardInterrupt):
        run_batch(toy_kb, lines, BatchOptions(), ENCODE, write, jobs=2)
    ids = [json.loads(x)["id"] for x in b"".join(written).splitlines()]
    assert ids == list(range(len(ids))) and len(ids) >= 10  # whole chunks, from the start, none skipped


def test_chunks_number_lines_and_close_early_on_long_lines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(oms_cli.core.batch, "CHUNK_BYTES", 10)
    got = list(chunks([b"a", b"b", b"c" * 12, b"d", b"e", b"f"], 3))
    assert got == [(1, [b"a", b"b", b"c" * 12]), (4, [b"d", b"e", b"f"])]
    assert list(chunks([b"x"] * 7, 3)) == [(1, [b"x"] * 3), (4, [b"x"] * 3), (7, [b"x"])]
    assert list(chunks([])) == []


def test_jobs_must_be_positive(invoke: Invoke, tmp_path: Path) -> None:
    res = invoke("batch", "--kb", str(TOY_KB), "--jobs", "0", input="")
    assert res.exit_code == ExitCode.USAGE


def test_ctrl_c_on_a_real_parallel_run(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    cases = tmp_path / "cases.jsonl"
    cases.write_text("".join(f'{{"id": {i}, "present": ["spots"]}}\n' for i in range(300_000)))
    proc = subprocess.Popen(
        [sys.executable, "-m", "oms_cli", "batch", "--jobs", "2", "--kb", str(TOY_KB), str(cases)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    assert proc.stdout is not None
    first = b""
    while b"\n" not in first:  # the run is under way and writing records (raw reads: communicate reads raw too)
        first += os.read(proc.stdout.fileno(), 4096)
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # as a terminal does: the whole process group, workers included
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == ExitCode.INTERRUPTED, err
    assert b"Traceback" not in err and b"interrupted" in err
    ids = [json.loads(x)["id"] for x in (first + rest).splitlines()]
    assert len(ids) >= 1 and ids == list(range(len(ids))) and len(ids) < 300_000


def _second_chunk_slow(first_line: int, lines: list[bytes]) -> Any:
    import time

    if first_line == 6:  # the second chunk of five lines
        time.sleep(3)
    return oms_cli.core.batch._render_chunk(first_line, lines)


def test_ctrl_c_while_waiting_for_a_chunk_never_writes_a_later_one(toy_kb: CompiledKnowledgeBase) -> None:
    # ^C lands while the oldest chunk is still being scored and a later one is already done: the later one must
    # not be written in its place (a gap in the output); the run ends after the chunks before the slow one.
    import signal
    import threading

    lines = [f'{{"id": {i}, "present": ["spots"]}}'.encode() for i in range(1, 16)]
    written: list[bytes] = []
    main = threading.main_thread().ident
    assert main is not None
    timer = threading.Timer(1.5, signal.pthread_kill, (main, signal.SIGINT))  # at the main thread, as a ^C
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            oms_cli.core.batch._run_parallel(
                toy_kb, chunks(lines, 5), BatchOptions(top=1), ENCODE, written.append, 2, _second_chunk_slow
            )
    finally:
        timer.cancel()
    ids = [json.loads(line)["id"] for line in b"".join(written).splitlines()]
    assert ids == [1, 2, 3, 4, 5]
