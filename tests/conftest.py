"""Shared fixtures: the toy and shipped knowledge bases, and an in-process CLI runner."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from oms_cli.commands import build_app
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.kb.schema import KnowledgeBase
from oms_cli.kb.store import default_kb_path, load_knowledge_base, parse_json, read_bytes, validate

DATA = Path(__file__).parent / "data"
TOY_KB = DATA / "toy_conditions.json"
REPO = Path(__file__).resolve().parents[1]
DEV_VIGNETTES = REPO.parent / "shared" / "vignettes" / "dev.jsonl"
DEV_V2 = REPO.parent / "shared" / "vignettes" / "dev-v2.jsonl"


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(autouse=True)
def _stable_terminal(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    # Never touch the user's cache; one cache per test session, so cached and fresh loads both get exercised.
    monkeypatch.setenv("OMS_DX_CACHE_DIR", str(cache_dir))
    monkeypatch.delenv("OMS_DX_NO_CACHE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("FORCE_COLOR", raising=False)


@pytest.fixture(autouse=True)
def _signal_handlers_left_as_found() -> Iterator[None]:
    # A command run in-process must leave the host's signal handlers alone: an ignored SIGINT or SIGTERM would be
    # inherited by every process a later test starts (it once made each signal test after it fail).
    import signal

    watched = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    before = [signal.getsignal(s) for s in watched]
    yield
    after = [signal.getsignal(s) for s in watched]
    for signum, old in zip(watched, before, strict=True):
        signal.signal(signum, old)  # put back for the tests that follow, then fail this one
    assert after == before, "the test changed the process's signal handlers"


@pytest.fixture(scope="session")
def toy_kb() -> CompiledKnowledgeBase:
    return load_knowledge_base(TOY_KB)


@pytest.fixture(scope="session")
def shipped_kb() -> CompiledKnowledgeBase:
    return load_knowledge_base(default_kb_path())


@pytest.fixture(scope="session")
def shipped_model() -> KnowledgeBase:
    """The shipped knowledge base as the validated pydantic model (what `kb validate` checks)."""
    path = default_kb_path()
    return validate(parse_json(read_bytes(path), str(path)), str(path))


@pytest.fixture()
def toy_data() -> dict[str, Any]:
    """A fresh, mutable copy of the toy knowledge base's JSON."""
    data: dict[str, Any] = json.loads(TOY_KB.read_text(encoding="utf-8"))
    return data


@pytest.fixture()
def write_kb(tmp_path: Path) -> Callable[[Any], Path]:
    def write(data: Any, name: str = "kb.json") -> Path:
        path = tmp_path / name
        if isinstance(data, (bytes, str)):
            path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
        else:
            path.write_text(json.dumps(data), encoding="utf-8")
        return path

    return write


class Result:
    def __init__(self, exit_code: int, stdout: str, stderr: str) -> None:
        self.exit_code = exit_code
        self.stdout = stdout
        self.stderr = stderr

    def json(self) -> Any:
        return json.loads(self.stdout)


@pytest.fixture()
def invoke() -> Callable[..., Result]:
    runner = CliRunner()
    app = build_app()

    def run(*args: str, input: str | None = None) -> Result:
        res = runner.invoke(app, list(args), input=input, catch_exceptions=False)
        return Result(res.exit_code, res.stdout, res.stderr)

    return run


def load_dev_cases(path: Path = DEV_VIGNETTES) -> list[dict[str, Any]]:
    if not path.is_file():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
