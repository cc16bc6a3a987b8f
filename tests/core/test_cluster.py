"""score_dask on a real dask.distributed cluster (two worker processes): exactly the rows batch gives."""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from oms_cli import score_dask
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import Result

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")

Invoke = Callable[..., Result]
CASES = 20_000


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0", silence_logs=50
        ) as local,
        distributed.Client(local) as client,
    ):
        yield client


def _cases(kb: CompiledKnowledgeBase) -> list[dict[str, Any]]:
    rng = random.Random(16)
    ids = list(kb.finding_ids)
    out = []
    for i in range(CASES):
        picked = rng.sample(ids, rng.randint(1, 8))
        k = rng.randint(1, len(picked))
        out.append(
            {
                "id": f"v{i}",
                "present": picked[:k],
                "absent": picked[k:],
                "age_years": rng.choice([None, round(rng.uniform(0, 95), 1)]),
                "onset": rng.choice([None, "acute", "subacute", "chronic", "episodic"]),
            }
        )
    return out


def test_a_two_worker_cluster_gives_exactly_the_batch_rows(
    cluster: Any, invoke: Invoke, shipped_kb: CompiledKnowledgeBase, tmp_path: Path
) -> None:
    assert len(cluster.scheduler_info()["workers"]) == 2
    cases = _cases(shipped_kb)
    (tmp_path / "cases.jsonl").write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    dataset = tmp_path / "dataset"
    dataset.mkdir()
    table = pa.Table.from_pylist(cases)
    for part in range(4):  # a dataset of four files, as a warehouse export would be
        pq.write_table(table.slice(part * CASES // 4, CASES // 4), dataset / f"part-{part}.parquet")

    ranked = score_dask(dd.read_parquet(str(dataset)), shipped_kb, top=3, keep=["id"])
    assert ranked.npartitions >= 2
    result = ranked.compute().reset_index(drop=True)
    assert len(result) == CASES

    out = tmp_path / "batch.parquet"
    res = invoke("batch", str(tmp_path / "cases.jsonl"), "--top", "3", "--format", "parquet", "-o", str(out))
    assert res.exit_code in (ExitCode.OK, ExitCode.INPUT)  # random cases include contradictions
    expected = pq.read_table(out).to_pandas().drop(columns="line")
    pd.testing.assert_frame_equal(result, expected, check_exact=True, check_dtype=False)
    assert result["error"].notna().sum() == expected["error"].notna().sum() > 0  # the refusals are rows too
    # The worker processes really scored: each built its own tables from the shipped knowledge base.
    assert sum(cluster.run(lambda: __import__("oms_cli.core.vector").core.vector._MODELS.__len__()).values()) >= 2
