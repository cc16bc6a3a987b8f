"""Cases from a Parquet file, read a record batch at a time so memory stays flat (pyarrow: `oms-dx[arrow]`).

The columns are those of the data-frame API (core/frame.py): `present` and `absent` as lists of strings or
comma-separated strings, or one boolean column per finding; `age_years`, `onset`, and `id` (a string or an
integer). A row that cannot be read becomes a CaseError with its row number (from 1) as its line.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from oms_cli.core.frame import LONG_COLUMNS, NOT_FINDINGS, age_of, onset_of, terms_of
from oms_cli.core.inputs import Case, CaseError, clip
from oms_cli.errors import InputError, OmsError
from oms_cli.kb.compiled import CompiledKnowledgeBase

BATCH_ROWS = 16384  # rows converted at a time


def needs_pyarrow() -> Any:
    """pyarrow.parquet, or a clear error naming the extra that installs it."""
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise InputError("Parquet needs pyarrow: pip install 'oms-dx[arrow]'") from None
    return pq


def read_parquet_cases(kb: CompiledKnowledgeBase, path: Path) -> Iterator[Case | CaseError]:
    """Every row of a Parquet file as a case (or a CaseError), in order, one record batch at a time."""
    pq = needs_pyarrow()
    import pyarrow as pa

    try:
        file = pq.ParquetFile(path)
    except (OSError, pa.ArrowException) as exc:
        raise InputError(f"cannot read {path} as Parquet ({exc})") from None
    names = file.schema_arrow.names
    wide: list[tuple[str, str]] = []
    if not any(c in names for c in LONG_COLUMNS):
        for name in names:
            if name in NOT_FINDINGS:
                continue
            try:
                wide.append((name, kb.resolve_finding(name)))
            except OmsError:
                continue
        if not wide:
            raise InputError(f"{path} has no 'present' or 'absent' column and no column named after a finding")
    wanted = [c for c in ("id", "present", "absent", "age_years", "onset") if c in names] + [n for n, _ in wide]
    line = 0
    try:
        for batch in file.iter_batches(batch_size=BATCH_ROWS, columns=wanted):
            columns = {name: batch.column(name).to_pylist() for name in wanted}
            none = [None] * batch.num_rows
            ids = columns.get("id", none)
            present, absent = columns.get("present", none), columns.get("absent", none)
            ages, onsets = columns.get("age_years", none), columns.get("onset", none)
            for r in range(batch.num_rows):
                line += 1
                case_id = ids[r] if isinstance(ids[r], (str, int)) and not isinstance(ids[r], bool) else None
                try:
                    if wide:
                        p, a = _wide_terms(columns, wide, r)
                    else:
                        p, a = tuple(terms_of(present[r], "present")), tuple(terms_of(absent[r], "absent"))
                    yield Case(case_id, line, p, a, age_of(ages[r]), onset_of(onsets[r]))
                except InputError as err:
                    yield CaseError(case_id, line, clip(err.message), err.code)
    except pa.ArrowException as exc:
        raise InputError(f"cannot read {path} as Parquet ({exc})") from None


def _wide_terms(
    columns: dict[str, list[Any]], wide: list[tuple[str, str]], r: int
) -> tuple[tuple[str, ...], tuple[str, ...]]:
    present: list[str] = []
    absent: list[str] = []
    for name, fid in wide:
        value = columns[name][r]
        if value is None:
            continue
        if value is True or value == 1:
            present.append(fid)
        elif value is False or value == 0:
            absent.append(fid)
        else:
            raise InputError(f"column '{name}' must be true, false or missing")
    return tuple(present), tuple(absent)
