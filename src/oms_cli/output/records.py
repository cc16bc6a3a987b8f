"""Batch records: each case's outcome as a JSON Lines record or as CSV/TSV rows, encoded a block at a time.

The encoders are module-level functions (picklable): batch workers run them, so records are built in parallel.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from oms_cli.output.formats import Format
from oms_cli.output.jsondoc import SCHEMA_VERSION, result_rows

if TYPE_CHECKING:
    from oms_cli.core.batch import Outcome
    from oms_cli.core.inputs import CaseError

FLAT_COLUMNS = ("id", "line", "rank", "condition", "probability", "cant_miss", "error")


def case_error_object(err: CaseError) -> dict[str, Any]:
    """The error object of a case that could not be read or scored (the shape of every JSON error object)."""
    from oms_cli.errors import ExitCode

    return {"code": err.code, "message": err.error, "exit_code": int(ExitCode.INPUT)}


def record(outcome: Outcome, contributions: bool = False) -> dict[str, Any]:
    """One case's JSON record: `{"schema_version", "id", "line", "results", "other_probability"}` (plus
    `warnings` and `source` when there are any), or `{"schema_version", "id", "line", "error": {...}}` when it
    could not be read or scored. Each record names its contract version, so a file of records stands alone."""
    from oms_cli.core.batch import Scored

    if type(outcome) is Scored:
        out: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "id": outcome.id,
            "line": outcome.line,
            "results": result_rows(outcome.results, contributions),
            "other_probability": outcome.other_probability,
        }
        if outcome.warnings:
            out["warnings"] = list(outcome.warnings)
    else:
        out = {
            "schema_version": SCHEMA_VERSION,
            "id": outcome.id,
            "line": outcome.line,
            "error": case_error_object(outcome),  # type: ignore[arg-type]
        }
    if outcome.source is not None:
        out["source"] = outcome.source
    return out


def flat_rows(outcome: Outcome) -> list[list[Any]]:
    """A case's outcome as CSV/TSV rows: one per ranked condition, or one row carrying the error."""
    from oms_cli.core.batch import Scored

    if type(outcome) is not Scored:
        return [[outcome.id, outcome.line, "", "", "", "", outcome.error]]  # type: ignore[union-attr]
    rows: list[list[Any]] = [
        [outcome.id, outcome.line, r.rank, r.id, f"{r.probability:.6g}", str(r.cant_miss).lower(), ""]
        for r in outcome.results
    ]
    rows.append([outcome.id, outcome.line, "", "other", f"{outcome.other_probability:.6g}", "false", ""])
    return rows


def delimited_bytes(rows: list[list[Any]], fmt: Format) -> bytes:
    """Rows as CSV or TSV bytes, every text cell neutralised (`output.safe.cell`)."""
    import csv
    import io

    from oms_cli.output.safe import cell

    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="," if fmt is Format.csv else "\t", lineterminator="\n")
    writer.writerows([[cell(v) for v in row] for row in rows])
    return buffer.getvalue().encode("utf-8")


def _json_lines(outcomes: Sequence[Outcome], contributions: bool) -> bytes:
    if not contributions and getattr(outcomes, "columnar", False):  # a block scored at once (core/vector.py)
        from oms_cli.output.columnar import json_lines

        return json_lines(outcomes)  # type: ignore[arg-type]
    import orjson

    records = [record(o, contributions) for o in outcomes]
    newline = orjson.OPT_APPEND_NEWLINE
    try:
        return b"".join([orjson.dumps(r, option=newline) for r in records])
    except TypeError:  # an integer id beyond 64 bits: the json module writes any size
        import json

        return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in records).encode()


def _flat(outcomes: Sequence[Outcome], fmt: Format) -> bytes:
    return delimited_bytes([row for o in outcomes for row in flat_rows(o)], fmt)


def encoder(fmt: Format, contributions: bool = False) -> Callable[[Sequence[Outcome]], bytes]:
    """The block encoder of a batch format (json: JSON Lines; csv/tsv: one row per case and rank)."""
    if fmt is Format.json:
        return functools.partial(_json_lines, contributions=contributions)
    if fmt is Format.csv or fmt is Format.tsv:
        return functools.partial(_flat, fmt=fmt)
    raise ValueError(f"batch cannot write {fmt}")


def header(fmt: Format) -> bytes:
    """What comes before the first record: the column names for csv/tsv, nothing for JSON Lines."""
    return delimited_bytes([list(FLAT_COLUMNS)], fmt) if fmt in (Format.csv, Format.tsv) else b""
