"""Batch results as Parquet (`batch --format parquet -o FILE`; pyarrow: `oms-dx[arrow]`).

One row per case: `id` (as text), `line`, then the columns of the data-frame API (core/frame.py):
`condition_1`, `probability_1`, ... `other_probability`, `error`. Blocks are encoded (in the workers, when there
are any) as Arrow record batches in IPC form; `ParquetSink` collects them into row groups and writes each as it
fills, so memory stays flat however many cases pass.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli.core.frame import result_columns, shown

if TYPE_CHECKING:
    from oms_cli.core.batch import Outcome
    from oms_cli.kb.compiled import CompiledKnowledgeBase

ROW_GROUP_ROWS = 16384  # rows buffered before a row group is written: memory stays flat from 10k cases up


def schema(kb: CompiledKnowledgeBase, top: int | None) -> Any:
    """The Arrow schema of the result rows."""
    import pyarrow as pa

    fields = [pa.field("id", pa.string()), pa.field("line", pa.int64())]
    fields += [
        pa.field(name, pa.string() if kind == "string" else pa.float64()) for name, kind in result_columns(kb, top)
    ]
    return pa.schema(fields)


def encoder(kb: CompiledKnowledgeBase, top: int | None) -> Callable[[Sequence[Outcome]], bytes]:
    """The block encoder for Parquet output: outcomes to one Arrow record batch, serialised (picklable)."""
    return functools.partial(_encode, shown=shown(kb, top), names=tuple(f.name for f in schema(kb, top)))


def _encode(outcomes: Sequence[Outcome], shown: int, names: tuple[str, ...]) -> bytes:
    import pyarrow as pa

    if getattr(outcomes, "columnar", False):  # a block scored at once (core/vector.py): columns from its arrays
        arrays = _block_arrays(outcomes, shown)
    else:
        arrays = _outcome_arrays(outcomes, shown)
    batch = pa.RecordBatch.from_arrays(arrays, names=list(names))
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, batch.schema) as writer:
        writer.write_batch(batch)
    return bytes(sink.getvalue().to_pybytes())


def _block_arrays(block: Any, shown: int) -> list[Any]:
    import numpy as np
    import pyarrow as pa

    items = block.items
    rows = np.array(block.rows, dtype=np.int64)
    scored = rows >= 0
    names = np.array([c.id for c in block.kb.conditions] + [None], dtype=object)
    order = np.full((len(items), shown), len(names) - 1, dtype=np.int64)  # None where not scored
    probability = np.full((len(items), shown + 1), np.nan)
    order[scored] = block.order[rows[scored]]
    probability[scored] = block.probability[rows[scored]]
    errors: list[str | None] = [None] * len(items)
    for i, outcome in block.outcomes.items():
        if type(outcome).__name__ == "Scored":  # pragma: no cover - refused rows come back as errors
            order[i] = [block.model.t.index[r.id] for r in outcome.results[:shown]]
            probability[i, :shown] = [r.probability for r in outcome.results[:shown]]
            probability[i, shown] = outcome.other_probability
            scored[i] = True
        else:
            errors[i] = outcome.error
    missing = ~scored
    arrays: list[Any] = [
        pa.array([None if c.id is None else str(c.id) for c in items], pa.string()),
        pa.array([c.line for c in items], pa.int64()),
    ]
    for i in range(shown):
        arrays += [
            pa.array(names[order[:, i]], pa.string()),
            pa.array(probability[:, i], pa.float64(), mask=missing),
        ]
    arrays += [pa.array(probability[:, shown], pa.float64(), mask=missing), pa.array(errors, pa.string())]
    return arrays


def _outcome_arrays(outcomes: Sequence[Outcome], shown: int) -> list[Any]:
    import pyarrow as pa

    from oms_cli.core.batch import Scored

    ids: list[str | None] = []
    lines: list[int] = []
    conditions: list[list[str | None]] = [[] for _ in range(shown)]
    probabilities: list[list[float | None]] = [[] for _ in range(shown)]
    other: list[float | None] = []
    errors: list[str | None] = []
    for o in outcomes:
        ids.append(None if o.id is None else str(o.id))
        lines.append(o.line)
        if type(o) is Scored:
            results = o.results
            for i in range(shown):
                conditions[i].append(results[i].id)
                probabilities[i].append(results[i].probability)
            other.append(o.other_probability)
            errors.append(None)
        else:
            for i in range(shown):
                conditions[i].append(None)
                probabilities[i].append(None)
            other.append(None)
            errors.append(o.error)  # type: ignore[union-attr]
    arrays: list[Any] = [pa.array(ids, pa.string()), pa.array(lines, pa.int64())]
    for i in range(shown):
        arrays += [pa.array(conditions[i], pa.string()), pa.array(probabilities[i], pa.float64())]
    arrays += [pa.array(other, pa.float64()), pa.array(errors, pa.string())]
    return arrays


class ParquetSink:
    """Writes encoded blocks to a Parquet file, a row group at a time; `close` finishes the file (a run cut short
    leaves a valid file with every block written before)."""

    def __init__(self, where: Any, kb: CompiledKnowledgeBase, top: int | None) -> None:
        import pyarrow.parquet as pq

        self.schema = schema(kb, top)
        # Dictionaries for the condition ids only: the probabilities are all distinct, and dictionary-encoding
        # them only to fall back costs time and memory.
        text = [f.name for f in self.schema if str(f.type) == "string"]
        # A path, or a binary file object (stdout's buffer, or the temporary file of -o): Parquet is written front
        # to back, its footer last, so no seeking is needed.
        target = str(where) if isinstance(where, Path) else where
        self.writer = pq.ParquetWriter(target, self.schema, compression="zstd", use_dictionary=text)
        self.pending: list[Any] = []
        self.rows = 0

    def write(self, data: bytes) -> None:
        import pyarrow as pa

        if not data:
            return  # the (empty) header every batch format writes first
        with pa.ipc.open_stream(data) as reader:
            for batch in reader:
                self.pending.append(batch)
                self.rows += batch.num_rows
        if self.rows >= ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        import pyarrow as pa

        if self.pending:
            self.writer.write_table(pa.Table.from_batches(self.pending, self.schema), row_group_size=ROW_GROUP_ROWS)
            self.pending, self.rows = [], 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self.writer.close()
