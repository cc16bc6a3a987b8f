"""The README is tested: its transcripts (```console blocks) match the tool byte for byte at 80 columns, and its
shell examples (```sh blocks) run from the repository root and exit 0.

Regenerate the transcripts after a change in output with `OMS_DX_UPDATE_README=1 python -m pytest tests/test_readme.py`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
BLOCK = re.compile(r"^```(?P<info>[\w-]*)\n(?P<body>.*?)^```$", re.M | re.S)


def _env(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "PAGER", "OMS_DX_PAGER")}
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "PATH": bin_dir + os.pathsep + env.get("PATH", ""),
            "COLUMNS": "80",
            "LINES": "24",
            "NO_COLOR": "1",
            "OMS_DX_CACHE_DIR": str(tmp / "cache"),
        }
    )
    return env


def _blocks(info: str) -> list[tuple[int, str]]:
    text = README.read_text(encoding="utf-8")
    return [
        (text.count("\n", 0, m.start()) + 1, m.group("body")) for m in BLOCK.finditer(text) if m.group("info") == info
    ]


def _transcript(body: str) -> list[tuple[str, str]]:
    """(command, expected output) pairs of a console block: lines after `$ ` are commands, the rest output."""
    pairs: list[tuple[str, str]] = []
    for line in body.splitlines(keepends=True):
        if line.startswith("$ "):
            pairs.append((line[2:].rstrip("\n"), ""))
        elif pairs:
            pairs[-1] = (pairs[-1][0], pairs[-1][1] + line)
    return pairs


def _run(command: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, shell=True, cwd=REPO, env=_env(tmp), capture_output=True, text=True, timeout=300, check=False
    )


def test_the_readme_has_transcripts_and_examples() -> None:
    assert _blocks("console") and _blocks("sh")


@pytest.mark.parametrize(("line", "body"), _blocks("console"), ids=lambda x: str(x) if isinstance(x, int) else "")
def test_transcripts_match_the_tool(line: int, body: str, tmp_path: Path) -> None:
    for command, expected in _transcript(body):
        res = _run(command, tmp_path)
        if os.environ.get("OMS_DX_UPDATE_README") == "1":
            text = README.read_text(encoding="utf-8")
            README.write_text(
                text.replace(f"$ {command}\n{expected}", f"$ {command}\n{res.stdout}", 1), encoding="utf-8"
            )
            continue
        assert res.stdout == expected, f"README line {line}: {command}"


@pytest.mark.parametrize(("line", "body"), _blocks("sh"), ids=lambda x: str(x) if isinstance(x, int) else "")
def test_shell_examples_run(line: int, body: str, tmp_path: Path) -> None:
    if shutil.which("sh") is None:
        pytest.skip("no POSIX shell")
    work = tmp_path / "work"
    shutil.copytree(REPO / "examples", work / "examples")
    script = f"set -e\ncd {str(work)!r}\n{body}"
    res = subprocess.run(
        ["sh", "-c", script], env=_env(tmp_path), capture_output=True, text=True, timeout=600, check=False
    )
    assert res.returncode == 0, f"README line {line}:\n{body}\n{res.stderr[-2000:]}"
