"""Cohort benchmark: score_frame against batch --jobs 1, Dask with one and two workers, and peak memory of
Parquet in and out by input size.

    .venv/bin/python benchmarks/cohort.py frame --cases 1000000 --baseline /path/to/old/oms-dx
    .venv/bin/python benchmarks/cohort.py dask --cases 1000000
    .venv/bin/python benchmarks/cohort.py memory --sizes 10000 100000 1000000 10000000

Times are wall clock and CPU (user + system, from the kernel's accounting of the process and its children): the
machine is shared, so CPU seconds per case are the steadier measure of work per core.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

PY = sys.executable
OMS = str(Path(PY).with_name("oms-dx"))
ONSETS = ("acute", "subacute", "chronic", "episodic", None)


def finding_ids() -> list[str]:
    vocab = json.loads(subprocess.run([OMS, "findings", "--format", "json"], capture_output=True, check=True).stdout)
    return [f["id"] for f in vocab["findings"]]


def minimal_cases(n: int, seed: int = 1) -> Iterator[dict[str, Any]]:
    """The minimal cases of benchmarks/batch.py: 1-9 findings (1-6 present), an age, maybe an onset."""
    rng = random.Random(seed)
    ids = finding_ids()
    for i in range(n):
        picked = rng.sample(ids, rng.randint(1, 9))
        k = rng.randint(1, min(6, len(picked)))
        yield {
            "id": f"case{i}",
            "present": picked[:k],
            "absent": picked[k:],
            "age_years": round(rng.uniform(0.5, 80), 1),
            "onset": rng.choice(ONSETS),
        }


def write_jsonl(path: Path, n: int) -> None:
    with path.open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(c) + "\n" for c in minimal_cases(n))


def write_parquet(path: Path, n: int, chunk: int = 200_000) -> None:
    """Minimal cases as Parquet, written a chunk at a time (memory stays small for 10M rows)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    schema = pa.schema(
        [
            ("id", pa.string()),
            ("present", pa.list_(pa.string())),
            ("absent", pa.list_(pa.string())),
            ("age_years", pa.float64()),
            ("onset", pa.string()),
        ]
    )
    cases = minimal_cases(n)
    with pq.ParquetWriter(str(path), schema) as writer:
        while True:
            rows = [c for _, c in zip(range(chunk), cases, strict=False)]
            if not rows:
                break
            writer.write_table(pa.Table.from_pylist(rows, schema=schema), row_group_size=65536)


def run(cmd: list[str], stdin: Path | None = None) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (process and children) and peak RSS in KiB (the largest process) of one run."""
    start = time.perf_counter()
    with stdin.open("rb") if stdin else open(os.devnull, "rb") as fh:
        proc = subprocess.Popen(cmd, stdin=fh, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    code = os.waitstatus_to_exitcode(status)
    if code not in (0, 3):
        raise SystemExit(f"{cmd} failed with exit code {code}")
    return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss


def frame(args: argparse.Namespace) -> None:
    import pandas as pd

    from oms_cli import load_knowledge_base, score_frame

    n = args.cases
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "cases.jsonl"
        write_jsonl(path, n)
        df = pd.read_json(path, lines=True, dtype=False)
        kb = load_knowledge_base()
        score_frame(df.head(1000), kb)  # tables built, numpy warm
        for _ in range(args.runs):
            cpu0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.perf_counter()
            out = score_frame(df, kb, top=3)
            wall = time.perf_counter() - t0
            cpu1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu = cpu1.ru_utime - cpu0.ru_utime + cpu1.ru_stime - cpu0.ru_stime
            print(
                f"score_frame {n:,} cases: {wall:6.2f} s wall ({n / wall:9,.0f}/s), {cpu:6.2f} s CPU ({n / cpu:9,.0f}/s)"
            )
        assert len(out) == n
        for name, exe in (("batch --jobs 1 (this tree)", OMS), ("batch --jobs 1 (baseline)", args.baseline)):
            if not exe:
                continue
            for _ in range(args.runs):
                wall, cpu, _ = run([exe, "batch", "--jobs", "1", "-"], path)
                print(
                    f"{name} {n:,} cases: {wall:6.2f} s wall ({n / wall:9,.0f}/s), {cpu:6.2f} s CPU ({n / cpu:9,.0f}/s)"
                )


def dask_run(args: argparse.Namespace) -> None:
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    from oms_cli import load_knowledge_base, score_dask

    n = args.cases
    kb = load_knowledge_base()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "cases.parquet"
        write_parquet(data, n)
        for workers in (1, 2):
            with (
                LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=":0", silence_logs=50) as c,
                Client(c),
            ):
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    ranked = score_dask(dd.read_parquet(str(data), split_row_groups=True), kb, top=3)
                    ranked.to_parquet(str(Path(tmp) / f"out-{workers}"), overwrite=True)
                    wall = time.perf_counter() - t0
                    print(
                        f"dask, {workers} worker(s), {n:,} cases, Parquet in and out: {wall:6.2f} s ({n / wall:9,.0f}/s)"
                    )


def memory(args: argparse.Namespace) -> None:
    peaks: dict[int, list[int]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            data = Path(tmp) / f"in-{n}.parquet"
            t0 = time.perf_counter()
            # In another process: a child forked from this one would count this one's pages in its peak RSS.
            subprocess.run([PY, __file__, "write", str(data), str(n)], check=True)
            made = time.perf_counter() - t0
            out = Path(tmp) / "out.parquet"
            peaks[n] = []
            for jobs in ("1", None):
                cmd = [OMS, "batch", str(data), "--format", "parquet", "-o", str(out)] + (
                    ["--jobs", jobs] if jobs else []
                )
                wall, cpu, rss = run(cmd)
                peaks[n].append(rss)
                label = "--jobs 1" if jobs else "2 workers"
                print(
                    f"memory {n:>11,} cases ({label:9}): peak RSS {rss / 1024:7.1f} MiB, {wall:7.1f} s wall, "
                    f"{cpu:7.1f} s CPU ({n / wall:8,.0f}/s; input written in {made:.0f} s)"
                )
            data.unlink()
            out.unlink()
    small, large = min(peaks), max(peaks)
    for i, label in enumerate(("--jobs 1", "2 workers")):
        a, b = peaks[small][i], peaks[large][i]
        print(f"peak RSS {label}: {large:,} vs {small:,} cases: {100 * (b - a) / a:+.1f}%")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="what", required=True)
    f = sub.add_parser("frame", help="score_frame against batch --jobs 1")
    f.add_argument("--cases", type=int, default=1_000_000)
    f.add_argument("--runs", type=int, default=1)
    f.add_argument("--baseline", default="", help="an oms-dx from before the vectorised scorer, to compare with")
    d = sub.add_parser("dask", help="score_dask with one and two workers")
    d.add_argument("--cases", type=int, default=1_000_000)
    d.add_argument("--runs", type=int, default=1)
    m = sub.add_parser("memory", help="peak memory of Parquet in and out by size")
    m.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 10_000_000])
    w = sub.add_parser("write", help="write minimal cases as Parquet (used by memory)")
    w.add_argument("path", type=Path)
    w.add_argument("n", type=int)
    args = parser.parse_args()
    if args.what == "write":
        write_parquet(args.path, args.n)
        return
    {"frame": frame, "dask": dask_run, "memory": memory}[args.what](args)


if __name__ == "__main__":
    main()
