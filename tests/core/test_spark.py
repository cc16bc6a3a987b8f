"""The README's Spark recipe, as written, on a local Spark session: skipped where pyspark is not installed (CI)."""

from __future__ import annotations

import re
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest

from oms_cli import score_frame
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import REPO


def test_readme_spark_recipe_gives_score_frames_rows(
    shipped_kb: CompiledKnowledgeBase, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pyspark_sql = pytest.importorskip("pyspark.sql")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### Spark") : readme.index("## Speed, the cache and security")]
    (recipe,) = re.findall(r"```text\n(.*?)```", section, flags=re.S)
    cases = pd.DataFrame(
        {
            "id": [f"s{i}" for i in range(300)],
            "present": [["opsoclonus", "ataxia"], ["vertigo", "vomiting"], ["fever"]] * 100,
            "absent": [["fever"], [], ["opsoclonus"]] * 100,
            "age_years": [2.0, 60.0, None] * 100,
            "onset": ["subacute", "acute", None] * 100,
        }
    )
    cases.to_parquet(tmp_path / "visits.parquet")
    recipe = recipe.replace("s3://warehouse/visits/", str(tmp_path / "visits.parquet"))
    recipe = recipe.replace("s3://warehouse/visits-ranked/", str(tmp_path / "ranked"))
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pyspark warns about pandas versions and its own deprecations
        spark = pyspark_sql.SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false").getOrCreate()
        try:
            exec(compile(recipe, "README.md", "exec"), {"__name__": "readme", "spark": spark})
        finally:
            spark.stop()
    got = pd.read_parquet(tmp_path / "ranked").sort_values("id").reset_index(drop=True)
    want = score_frame(cases, shipped_kb, top=3, keep=["id"]).sort_values("id").reset_index(drop=True)
    pd.testing.assert_frame_equal(got, want, check_exact=True, check_dtype=False)
