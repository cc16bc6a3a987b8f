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
}  # fmt: skip


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
        print(f"{med[name]:8.1f} ms  {name}")
    print(f"ratio json  / import typer          : {med[names[2]] / med[names[0]]:.2f} (target <= 1.3)")
    print(f"ratio table / import typer+rich     : {med[names[3]] / med[names[1]]:.2f} (target <= 1.3)")


if __name__ == "__main__":
    main()
