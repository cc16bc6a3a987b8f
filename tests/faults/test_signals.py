"""Signals during a parallel batch and during start-up: a bounded end, the right exit code, whole records and no
worker left running."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

import oms_cli.entry
from oms_cli.errors import ExitCode

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="process groups and /proc as on Linux")

FINDINGS = ["opsoclonus", "ataxia", "vomiting", "fever", "nystagmus", "myoclonus", "irritability", "vertigo"]


@pytest.fixture(scope="module")
def many_cases(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Enough cases that two workers are still busy seconds after they start."""
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("signals") / "cases.jsonl"
    with path.open("w") as fh:
        for i in range(150_000):
            present = rng.sample(FINDINGS, 3)
            fh.write(json.dumps({"id": f"c{i}", "present": present, "age_years": rng.randint(1, 80)}) + "\n")
    return path


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of the group still running (a zombie has ended; only its parent, gone, could reap it)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            alive.append(int(entry.name))
    return alive


def _start(cases: Path, out: Path) -> subprocess.Popen[bytes]:
    with out.open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "oms_cli", "batch", str(cases), "--jobs", "2"],
            stdout=fh,
            stderr=subprocess.PIPE,
            start_new_session=True,  # its own process group, as a shell job would have
        )
    deadline = time.monotonic() + 60
    while out.stat().st_size < 200_000:  # the workers are running and records are flowing
        assert proc.poll() is None and time.monotonic() < deadline, "batch ended before it could be signalled"
        time.sleep(0.05)
    return proc


@pytest.mark.parametrize(
    ("signals", "to_group", "code"),
    [
        ([signal.SIGINT, signal.SIGINT], True, ExitCode.INTERRUPTED),  # ^C twice at the terminal
        ([signal.SIGINT], True, ExitCode.INTERRUPTED),
        ([signal.SIGTERM], False, ExitCode.TERMINATED),  # kill PID
        ([signal.SIGTERM], True, ExitCode.TERMINATED),
        ([signal.SIGHUP], False, ExitCode.HANGUP),
    ],
    ids=["double-ctrl-c", "ctrl-c", "sigterm-parent", "sigterm-group", "sighup"],
)
def test_a_signal_ends_a_parallel_batch_promptly_and_cleanly(
    many_cases: Path, tmp_path: Path, signals: list[signal.Signals], to_group: bool, code: ExitCode
) -> None:
    out = tmp_path / "out.jsonl"
    proc = _start(many_cases, out)
    try:
        for n, signum in enumerate(signals):
            if n:
                time.sleep(0.02)
            (os.killpg if to_group else os.kill)(proc.pid, signum)
        assert proc.wait(timeout=5) == code
        time.sleep(0.2)
        assert _alive_in_group(proc.pid) == []
    finally:
        if _alive_in_group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        stderr = proc.communicate()[1].decode()
    assert "Traceback" not in stderr and len(stderr.splitlines()) == 1, stderr
    data = out.read_bytes()
    assert data.endswith(b"\n")
    ids = [json.loads(line)["id"] for line in data.splitlines()]  # every record whole, in input order
    assert ids == [f"c{i}" for i in range(len(ids))]


def test_killing_the_parent_takes_the_workers_with_it(many_cases: Path, tmp_path: Path) -> None:
    proc = _start(many_cases, tmp_path / "out.jsonl")
    try:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=5)
        deadline = time.monotonic() + 5
        while _alive_in_group(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _alive_in_group(proc.pid) == []
    finally:
        if _alive_in_group(proc.pid):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()


def test_ctrl_c_while_starting_up_exits_130_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def interrupted(only: str | None = None) -> None:
        raise KeyboardInterrupt

    def leave(code: int) -> None:
        raise SystemExit(code)

    monkeypatch.setattr("oms_cli.commands.build_app", interrupted)
    monkeypatch.setattr(oms_cli.entry, "_exit", leave)
    monkeypatch.setattr(sys, "argv", ["oms-dx", "suggest", "-f", "ataxia"])
    with pytest.raises(SystemExit) as done:
        oms_cli.entry.main()
    assert done.value.code == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == ""
