"""batch with Parquet: reading a table of cases, writing --format parquet -o FILE, and agreeing with JSON Lines
and with score_frame."""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import oms_cli.core.batch
import oms_cli.core.parquet
from oms_cli import score_frame
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import TOY_KB, Result

Invoke = Callable[..., Result]


def _cases(kb: CompiledKnowledgeBase, n: int, seed: int = 5) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    ids = list(kb.finding_ids)
    out = []
    for i in range(n):
        picked = rng.sample(ids, rng.randint(0, min(6, len(ids))))
        k = rng.randint(0, len(picked))
        out.append(
            {
                "id": f"c{i}",
                "present": picked[:k],
                "absent": picked[k:],
                "age_years": rng.choice([None, round(rng.uniform(0, 100), 1)]),
                "onset": rng.choice([None, "acute", "subacute", "chronic", "episodic"]),
            }
        )
    out[3]["present"] = ["no-such-finding"]  # an error row
    return out


def _jsonl(cases: list[dict[str, Any]], path: Path) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return path


def _parquet(cases: list[dict[str, Any]], path: Path, row_group_size: int = 1000) -> Path:
    table = pa.Table.from_pylist(
        cases,
        schema=pa.schema(
            [
                ("id", pa.string()),
                ("present", pa.list_(pa.string())),
                ("absent", pa.list_(pa.string())),
                ("age_years", pa.float64()),
                ("onset", pa.string()),
            ]
        ),
    )
    pq.write_table(table, path, row_group_size=row_group_size)
    return path


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    # Row-group and record-batch boundaries fall inside the input; workers and the vectorised path start early.
    monkeypatch.setattr(oms_cli.core.parquet, "BATCH_ROWS", 300)
    monkeypatch.setattr(oms_cli.core.batch, "VECTOR_AFTER", 256)
    monkeypatch.setattr(oms_cli.core.batch, "PARALLEL_MIN_LINES", 500)
    monkeypatch.setattr(oms_cli.core.batch, "CHUNK_LINES", 200)


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_parquet_in_gives_the_json_lines_records(
    invoke: Invoke, shipped_kb: CompiledKnowledgeBase, tmp_path: Path, small_blocks: None, jobs: str
) -> None:
    cases = _cases(shipped_kb, 1500)
    from_jsonl = invoke("batch", str(_jsonl(cases, tmp_path / "cases.jsonl")), "--jobs", jobs)
    from_parquet = invoke("batch", str(_parquet(cases, tmp_path / "cases.parquet")), "--jobs", jobs)
    assert from_jsonl.exit_code == from_parquet.exit_code == ExitCode.INPUT  # one unknown finding
    assert from_parquet.stdout == from_jsonl.stdout  # row numbers are the lines
    assert from_parquet.stderr == from_jsonl.stderr
    assert "1500 case(s)" in from_parquet.stderr


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_parquet_out_round_trips_and_matches_json_and_score_frame(
    invoke: Invoke, shipped_kb: CompiledKnowledgeBase, tmp_path: Path, small_blocks: None, jobs: str
) -> None:
    cases = _cases(shipped_kb, 1500)
    out = tmp_path / "ranked.parquet"
    res = invoke("batch", str(_jsonl(cases, tmp_path / "cases.jsonl")), "--top", "3", "--format", "parquet",
                 "-o", str(out), "--jobs", jobs)  # fmt: skip
    assert res.exit_code == ExitCode.INPUT and res.stdout == ""
    table = pq.read_table(out)
    assert table.num_rows == 1500
    assert table.schema.names[:4] == ["id", "line", "condition_1", "probability_1"]
    rows = table.to_pandas()
    records = [json.loads(x) for x in invoke("batch", str(tmp_path / "cases.jsonl"), "--top", "3").stdout.splitlines()]
    for row, rec in zip(rows.itertuples(), records, strict=True):
        assert (row.id, row.line) == (rec["id"], rec["line"])
        if "error" in rec:
            assert row.error == rec["error"]["message"] and pd.isna(row.condition_1)
            continue
        got = [(getattr(row, f"condition_{j}"), getattr(row, f"probability_{j}")) for j in (1, 2, 3)]
        assert got == [(r["id"], r["probability"]) for r in rec["results"]]
        assert row.other_probability == rec["other_probability"]
    # The same rows as the data-frame API, column for column.
    framed = score_frame(pd.DataFrame(cases), shipped_kb, top=3, keep=["id"])
    pd.testing.assert_frame_equal(
        rows.drop(columns="line"), framed.reset_index(drop=True), check_exact=True, check_dtype=False
    )


def test_parquet_writes_row_groups_as_it_goes(
    invoke: Invoke, toy_kb: CompiledKnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import oms_cli.output.parquet

    monkeypatch.setattr(oms_cli.output.parquet, "ROW_GROUP_ROWS", 1000)
    lines = "".join(json.dumps({"id": i, "present": ["spots"], "age_years": i % 90}) + "\n" for i in range(5000))
    out = tmp_path / "r.parquet"
    res = invoke("batch", "--kb", str(TOY_KB), "--format", "parquet", "-o", str(out), "--jobs", "1", input=lines)
    assert res.exit_code == ExitCode.OK
    meta = pq.ParquetFile(out).metadata
    assert meta.num_rows == 5000 and meta.num_row_groups >= 5
    assert pq.read_table(out, columns=["id"]).column("id").to_pylist()[:3] == ["0", "1", "2"]  # ids as text


def test_wide_parquet_input(invoke: Invoke, tmp_path: Path) -> None:
    wide = pa.table(
        {
            "id": ["a", "b", "c"],
            "spots": pa.array([True, None, False]),
            "cough": pa.array([None, 1, 2], pa.int64()),  # 2 is neither true nor false: an error row
            "age_years": [3.0, None, 50.0],
        }
    )
    pq.write_table(wide, tmp_path / "wide.parquet")
    long = "\n".join(
        [
            '{"id": "a", "present": ["spots"], "age_years": 3}',
            '{"id": "b", "present": ["cough"]}',
        ]
    )
    res = invoke("batch", "--kb", str(TOY_KB), str(tmp_path / "wide.parquet"))
    ref = invoke("batch", "--kb", str(TOY_KB), input=long + "\n")
    records = [json.loads(x) for x in res.stdout.splitlines()]
    assert res.exit_code == ExitCode.INPUT
    assert records[:2] == [json.loads(x) for x in ref.stdout.splitlines()]
    assert records[2]["error"]["message"] == "column 'cough' must be true, false or missing"
    assert records[2]["line"] == 3


def test_parquet_goes_to_a_redirected_stdout_too(tmp_path: Path) -> None:
    # Not only -o FILE: `oms-dx batch cases.jsonl --format parquet > out.parquet` (a terminal is refused).
    import subprocess
    import sys

    import pyarrow.parquet as pq

    target = tmp_path / "out.parquet"
    with target.open("wb") as fh:
        run = subprocess.run(
            [sys.executable, "-m", "oms_cli", "batch", "--kb", str(TOY_KB), "--format", "parquet"],
            input=b'{"present": ["spots"]}\n', stdout=fh, stderr=subprocess.PIPE, check=False,
        )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert pq.read_table(target).num_rows == 1


def test_a_file_that_is_not_parquet_is_an_input_error(invoke: Invoke, tmp_path: Path) -> None:
    bad = tmp_path / "cases.parquet"
    bad.write_text('{"present": ["spots"]}\n')
    res = invoke("batch", "--kb", str(TOY_KB), str(bad))
    assert res.exit_code == ExitCode.INPUT
    assert json.loads(res.stdout)["error"]["code"] == "invalid_input"
    assert "as Parquet" in res.stderr


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_output_file_holds_what_stdout_would(invoke: Invoke, tmp_path: Path, fmt: str) -> None:
    text = '{"id": 1, "present": ["spots"]}\n{"id": 2, "present": ["sopts"]}\n'
    to_stdout = invoke("batch", "--kb", str(TOY_KB), "--format", fmt, input=text)
    out = tmp_path / f"out.{fmt}"
    to_file = invoke("batch", "--kb", str(TOY_KB), "--format", fmt, "-o", str(out), input=text)
    assert to_file.exit_code == to_stdout.exit_code == ExitCode.INPUT
    assert to_file.stdout == "" and out.read_text(encoding="utf-8") == to_stdout.stdout
