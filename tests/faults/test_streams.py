"""Stream faults for every command, in real processes: a reader that left, a full disk, closed descriptors and a
C locale each give their documented exit code and at most one line on stderr, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from oms_cli.errors import ExitCode
from tests.conftest import DEV_V2

EXE = [sys.executable, "-m", "oms_cli"]

COMMANDS: dict[str, list[str]] = {
    "suggest table": ["suggest", "-f", "ataxia,vomiting", "--age", "3"],
    "suggest json": ["suggest", "-f", "opsoclonus", "--age", "3", "--format", "json"],
    "suggest markdown": ["suggest", "-f", "opsoclonus", "--format", "markdown"],
    "suggest csv": ["suggest", "-f", "opsoclonus", "--format", "csv"],
    "show": ["show", "oms"],
    "show json": ["show", "oms", "--format", "json"],
    "compare": ["compare", "oms", "acute-cerebellar-ataxia"],
    "conditions": ["conditions"],
    "findings": ["findings"],
    "evaluate": ["evaluate", str(DEV_V2)],
    "batch": ["batch", "-"],
    "kb validate": ["kb", "validate"],
    "kb schema": ["kb", "schema"],
    "interview": ["interview", "--age", "3", "--onset", "acute"],
    "version": ["--version"],
    "help": ["--help"],
}
STDIN = {"batch": b'{"id": "a", "present": ["opsoclonus"], "age_years": 3}\n', "interview": b"opsoclonus\n"}


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LC_", "PYTHONUTF8", "PYTHONIOENCODING"))}
    env.update({"COLUMNS": "80", "LANG": "C.UTF-8", **extra})
    return env


def _run(args: list[str], stdin: bytes | None, **popen: object) -> subprocess.CompletedProcess[bytes]:
    if stdin is None:
        popen.setdefault("stdin", subprocess.DEVNULL)
    return subprocess.run([*EXE, *args], input=stdin, stderr=subprocess.PIPE, timeout=120, check=False, **popen)  # type: ignore[call-overload, no-any-return]


def _stdin(name: str) -> bytes | None:
    return STDIN.get(name.split()[0])


def _assert_one_clean_line(stderr: bytes, name: str) -> list[str]:
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text and "Exception ignored" not in text, text
    lines = [line for line in text.splitlines() if line.startswith("oms-dx: error")]
    if name != "interview":  # the interview's questions are on stderr too; only the error line is counted
        assert len(text.splitlines()) <= 2 and len(lines) <= 1, text  # batch adds its one-line tally
    return lines


@pytest.mark.parametrize("name", COMMANDS)
def test_a_reader_that_left_ends_the_run_quietly_with_141(name: str) -> None:
    read, write = os.pipe()
    os.close(read)  # nobody will read: the first write fails with EPIPE
    try:
        res = _run(COMMANDS[name], _stdin(name), stdout=write, env=_env())
    finally:
        os.close(write)
    assert res.returncode == ExitCode.BROKEN_PIPE, res.stderr
    _assert_one_clean_line(res.stderr, name)
    assert b"error" not in res.stderr


@pytest.mark.parametrize("name", COMMANDS)
def test_a_full_disk_is_one_line_and_exit_5(name: str) -> None:
    with open("/dev/full", "wb") as full:
        res = _run(COMMANDS[name], _stdin(name), stdout=full, env=_env())
    assert res.returncode == ExitCode.OUTPUT
    (line,) = _assert_one_clean_line(res.stderr, name)
    assert line == "oms-dx: error: cannot write results: No space left on device"


@pytest.mark.parametrize("name", COMMANDS)
def test_a_closed_stdout_is_one_line_and_exit_5(name: str) -> None:
    res = subprocess.run(
        ["sh", "-c", 'exec "$@" >&-', "sh", *EXE, *COMMANDS[name]],
        input=_stdin(name),
        stderr=subprocess.PIPE,
        env=_env(),
        timeout=120,
        check=False,
    )
    assert res.returncode == ExitCode.OUTPUT
    (line,) = _assert_one_clean_line(res.stderr, name)
    assert line == "oms-dx: error: cannot write results: stdout is closed"


@pytest.mark.parametrize("name", COMMANDS)
def test_a_closed_stdin_matters_only_to_commands_that_read_it(name: str) -> None:
    res = subprocess.run(
        ["sh", "-c", 'exec "$@" <&-', "sh", *EXE, *COMMANDS[name]],
        capture_output=True,
        env=_env(),
        timeout=120,
        check=False,
    )
    lines = _assert_one_clean_line(res.stderr, name)
    if name.split()[0] in STDIN:
        assert res.returncode == ExitCode.INPUT
        assert len(lines) == 1 and "standard input" in lines[0]
    else:
        assert res.returncode == ExitCode.OK and not lines


@pytest.mark.parametrize("name", COMMANDS)
def test_the_c_locale_writes_the_same_utf8_bytes(name: str) -> None:
    expected = _run(COMMANDS[name], _stdin(name), stdout=subprocess.PIPE, env=_env())
    c_locale = _env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    res = _run(COMMANDS[name], _stdin(name), stdout=subprocess.PIPE, env=c_locale)
    assert res.returncode == expected.returncode == ExitCode.OK, res.stderr
    _assert_one_clean_line(res.stderr, name)
    if "--version" not in COMMANDS[name]:
        assert res.stdout == expected.stdout


def test_non_ascii_from_argv_in_the_c_locale_is_escaped_not_fatal() -> None:
    c_locale = _env(LC_ALL="C", LANG="C", PYTHONUTF8="0", PYTHONCOERCECLOCALE="0")
    args = [os.fsencode(a) for a in [*EXE, "suggest", "-f", "ataxie-\u00e9", "--format", "json"]]
    res = subprocess.run(args, capture_output=True, env=c_locale, timeout=60, check=False)
    assert res.returncode == ExitCode.INPUT
    assert json.loads(res.stdout)["error"]["code"] == "unknown_finding"
    assert len(res.stderr.splitlines()) == 1 and b"Traceback" not in res.stderr
