"""Scoring on a Dask cluster: `score_dask` maps `score_frame` over the partitions of a Dask DataFrame, with the
knowledge base shipped once to each worker (the optional extra `oms-dx[dask]`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from oms_cli.core.frame import DEFAULT_TOP, default_kb, frame_meta, score_frame
from oms_cli.kb.compiled import CompiledKnowledgeBase

if TYPE_CHECKING:
    import dask.dataframe as dd


def score_dask(
    ddf: dd.DataFrame,
    kb: CompiledKnowledgeBase | None = None,
    *,
    top: int | None = DEFAULT_TOP,
    all_conditions: bool = False,
    findings: Sequence[str] | None = None,
    keep: Sequence[str] = (),
) -> dd.DataFrame:
    """A lazy Dask DataFrame of results, partition by partition: what `score_frame` gives for each partition, on
    the same index (the arguments are `score_frame`'s). Nothing runs until it is computed or written.

    The knowledge base is one task of the graph: the scheduler sends it once to each worker that scores a
    partition, and each worker builds its scoring tables once.
    """
    from dask.delayed import delayed

    kb = kb if kb is not None else default_kb()
    shipped = delayed(kb, name=f"oms-dx-kb-{kb.content_key}", pure=True)
    kept = {name: ddf[name].dtype for name in keep}
    scored: dd.DataFrame = ddf.map_partitions(  # type: ignore[no-untyped-call]
        _score_partition,
        shipped,
        top,
        all_conditions,
        tuple(findings) if findings is not None else None,
        tuple(keep),
        meta=frame_meta(kb, top, all_conditions, kept, ddf._meta.index),
        align_dataframes=False,
    )
    return scored


def _score_partition(
    part: Any,
    kb: CompiledKnowledgeBase,
    top: int | None,
    all_conditions: bool,
    findings: tuple[str, ...] | None,
    keep: tuple[str, ...],
) -> Any:
    return score_frame(part, kb, top=top, all_conditions=all_conditions, findings=findings, keep=keep)
