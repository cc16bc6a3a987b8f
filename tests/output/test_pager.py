"""The pager: long human output on a terminal goes through it; short output, pipes and files never do."""

from __future__ import annotations

import os
import pty
import shlex
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals")


def _in_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run oms-dx on a pseudo-terminal (stdin and stdout both a terminal) and return its exit code and screen."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: becomes oms-dx
        os.execve(sys.executable, [sys.executable, "-m", "oms_cli", *args], env)
    chunks = []
    while True:
        try:
            data = os.read(fd, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), b"".join(chunks).decode("utf-8", "replace")


def _env(tmp_path: Path, pager: str | None) -> tuple[dict[str, str], Path]:
    paged = tmp_path / "paged.txt"
    env = {k: v for k, v in os.environ.items() if k not in ("PAGER", "OMS_DX_PAGER")}
    env.update({"COLUMNS": "80", "LINES": "24", "TERM": "xterm"})
    if pager is None:
        recorder = f"import sys; open({str(paged)!r}, 'w').write(sys.stdin.read())"
        env["OMS_DX_PAGER"] = shlex.join([sys.executable, "-c", recorder])
    else:
        env["OMS_DX_PAGER"] = pager
    return env, paged


def test_a_long_card_on_a_terminal_goes_through_the_pager(tmp_path: Path) -> None:
    env, paged = _env(tmp_path, None)
    code, screen = _in_terminal(["show", "oms"], env)
    assert code == 0
    text = paged.read_text()
    assert "Opsoclonus-myoclonus syndrome" in text and "References" in text
    assert "References" not in screen  # what reached the terminal directly is not the card


def test_output_that_fits_the_screen_is_printed_directly(tmp_path: Path) -> None:
    env, paged = _env(tmp_path, None)
    env["LINES"] = "60"  # a tall terminal: the 33 lines of the codes fit
    code, screen = _in_terminal(["show", "oms", "-s", "codes"], env)
    assert code == 0 and not paged.exists()
    assert "ICD-10-CM" in screen


def test_an_empty_pager_setting_turns_it_off(tmp_path: Path) -> None:
    env, paged = _env(tmp_path, "")
    code, screen = _in_terminal(["show", "oms"], env)
    assert code == 0 and "References" in screen and not paged.exists()


def test_piped_output_never_uses_the_pager(tmp_path: Path) -> None:
    import subprocess

    env, paged = _env(tmp_path, None)
    res = subprocess.run([sys.executable, "-m", "oms_cli", "show", "oms"], env=env, capture_output=True, check=False)
    assert res.returncode == 0 and b"References" in res.stdout and not paged.exists()
