"""Start-up benchmark: alternates oms-dx commands with bare-import baselines and reports medians and ratios."""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

PY = sys.executable
OMS = [str(Path(PY).with_name("oms-dx"))]

CASES = {
    "python -c 'import typer'": [PY, "-c", "import typer"],
    "python -c 'import typer, rich.console, rich.table'": [PY, "-c", "import typer, rich.console, rich.table"],
    "oms-dx suggest --finding opsoclonus --age 3 --format json": [
        *OMS, "suggest", "--finding", "opsoclonus", "--age", "3", "--format", "json"],
    "oms-dx suggest --finding opsoclonus --age 3": [*OMS, "suggest", "--finding", "opsoclonus", "--age", "3"],
    "oms-dx show oms": [*OMS, "show", "oms"],
    "oms-dx show oms --format json": [*OMS, "show", "oms", "--format", "json"],
    "oms-dx compare oms acute-cerebellar-ataxia": [*OMS, "compare", "oms", "acute-cerebellar-ataxia"],
    "oms-dx conditions": [*OMS, "conditions"],
    "oms-dx findings --format json": [*OMS, "findings", "--format", "json"],
}  # fmt: skip
# Each oms-dx command against its baseline: typer alone for JSON, typer and Rich's tables for human output.
BASELINE = {name: (0 if "json" in name else 1) for name in CASES if name.startswith("oms-dx")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    # As after `pip install`: bytecode is written (an editable install under PYTHONDONTWRITEBYTECODE would
    # recompile oms-dx's sources on every call), and the knowledge-base cache is warm after the first run.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONDONTWRITEBYTECODE", "OMS_DX_NO_CACHE")}
    for cmd in CASES.values():
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    times: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(args.runs):
        for name, cmd in CASES.items():  # alternate so drift hits every command alike
            start = time.perf_counter()
            subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
            times[name].append(time.perf_counter() - start)
    med = {name: statistics.median(ts) * 1000 for name, ts in times.items()}
    names = list(CASES)
    for name in names:
        ratio = f"  {med[name] / med[names[BASELINE[name]]]:.2f} x" if name in BASELINE else ""
        print(f"{med[name]:8.1f} ms{ratio:>8}  {name}")
    print("ratio: against `import typer` for JSON output, `import typer, rich...` for tables (target <= 1.3)")


if __name__ == "__main__":
    main()
