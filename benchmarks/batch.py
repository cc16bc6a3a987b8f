"""Batch benchmark: oms-dx batch against a bare parse-and-reserialise loop, and peak memory by input size."""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

PY = sys.executable
OMS = str(Path(PY).with_name("oms-dx"))
DEV = Path(__file__).resolve().parents[2] / "shared" / "vignettes" / "dev-v2.jsonl"
BARE_LOOP = (
    "import json, sys\n"
    "out = sys.stdout\n"
    "for line in sys.stdin.buffer:\n"
    "    out.write(json.dumps(json.loads(line), ensure_ascii=False) + '\\n')\n"
)
ONSETS = ("acute", "subacute", "chronic", "episodic", None)


def dev_lines() -> list[bytes]:
    """The published development cases, as they are (about 900 bytes each, with their narrative fields)."""
    return [line for line in DEV.read_bytes().splitlines() if line.strip()]


def minimal_lines(n: int, seed: int = 1) -> Iterator[bytes]:
    """Random cases with only the keys oms-dx reads: 1-6 findings present, 0-3 absent, an age, maybe an onset."""
    rng = random.Random(seed)
    vocab = json.loads(subprocess.run([OMS, "findings", "--format", "json"], capture_output=True, check=True).stdout)
    ids = [f["id"] for f in vocab["findings"]]
    for i in range(n):
        picked = rng.sample(ids, rng.randint(1, 9))
        k = rng.randint(1, min(6, len(picked)))
        case = {
            "id": f"case{i}",
            "present": picked[:k],
            "absent": picked[k:],
            "age_years": round(rng.uniform(0.5, 80), 1),
            "onset": rng.choice(ONSETS),
        }
        yield json.dumps(case).encode() + b"\n"


def write_cases(path: Path, n: int, kind: str) -> None:
    with path.open("wb") as fh:
        if kind == "dev":
            lines = dev_lines()
            for i in range(n):
                case = json.loads(lines[i % len(lines)])
                case["id"] = f"{case['id']}-{i}"
                fh.write(json.dumps(case, ensure_ascii=False).encode() + b"\n")
        else:
            fh.writelines(minimal_lines(n))


def timed(cmd: list[str], stdin: Path) -> tuple[float, int, float]:
    """Wall-clock seconds, peak resident memory (KiB) and CPU seconds (user + system, with the workers) of one
    run, output discarded. On a shared machine the CPU seconds are the steadier measure."""
    with stdin.open("rb") as fh:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdin=fh, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 3):
        raise SystemExit(f"{cmd} failed with exit code {proc.returncode}")
    return elapsed, usage.ru_maxrss, usage.ru_utime + usage.ru_stime


def throughput(n: int, kind: str, runs: int, tmp: Path) -> None:
    path = tmp / f"{kind}-{n}.jsonl"
    write_cases(path, n, kind)
    commands = {
        "bare loop": [PY, "-c", BARE_LOOP],
        "oms-dx batch": [OMS, "batch", "-"],  # workers: one per CPU
        "oms-dx batch --jobs 1": [OMS, "batch", "--jobs", "1", "-"],  # one process, for comparison
    }
    times: dict[str, list[float]] = {name: [] for name in commands}
    cpu: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(runs):  # alternate so drift hits all alike
        for name, cmd in commands.items():
            wall, _, used = timed(cmd, path)
            times[name].append(wall)
            cpu[name].append(used)
    median = {name: sorted(t)[runs // 2] for name, t in times.items()}
    median_cpu = {name: sorted(t)[runs // 2] for name, t in cpu.items()}
    bare = median.pop("bare loop")
    bare_cpu = median_cpu.pop("bare loop")
    size = path.stat().st_size / n
    print(f"{kind:8} {n:>9,} cases ({size:4.0f} B/line): bare loop {bare:6.2f} s ({bare_cpu:6.2f} s CPU)")
    for name, seconds in median.items():
        used = median_cpu[name]
        print(
            f"{'':8} {name:22} {seconds:6.2f} s = {n / seconds:8,.0f} cases/s, ratio {seconds / bare:.2f} (target <= 3); "
            f"CPU {used:6.2f} s, ratio {used / bare_cpu:.2f}"
        )


def memory(sizes: list[int], tmp: Path) -> None:
    peaks = {}
    for n in sizes:
        path = tmp / f"mem-{n}.jsonl"
        write_cases(path, n, "minimal")
        seconds, peaks[n], _ = timed([OMS, "batch", "-"], path)
        path.unlink()
        print(f"memory   {n:>9,} cases: peak RSS {peaks[n] / 1024:6.1f} MiB ({seconds:.1f} s)")
    small, large = peaks[sizes[0]], peaks[sizes[-1]]
    print(f"peak RSS {sizes[-1]:,} vs {sizes[0]:,}: {100 * (large - small) / small:+.1f}% (target within 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cases", type=int, default=100_000, help="cases for the throughput comparison")
    parser.add_argument("--runs", type=int, default=3, help="runs per command (the median is reported)")
    parser.add_argument("--memory", type=int, nargs="*", default=[10_000, 1_000_000], help="sizes for peak memory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for kind in ("dev", "minimal") if DEV.is_file() else ("minimal",):
            throughput(args.cases, kind, args.runs, Path(tmp))
        if args.memory:
            memory(args.memory, Path(tmp))


if __name__ == "__main__":
    main()
