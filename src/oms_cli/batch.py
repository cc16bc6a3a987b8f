"""Batch scoring: cases in, one JSON-ready record out per case, in input order, streaming."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from oms_cli.cases import Case, CaseError, clip
from oms_cli.engine import normalise_query, posterior, query_warnings, rank
from oms_cli.errors import OmsError
from oms_cli.knowledge import CompiledKnowledgeBase
from oms_cli.render import lean_rows, result_rows


def error_record(err: CaseError) -> dict[str, Any]:
    """The output record of a case that could not be scored."""
    record: dict[str, Any] = {"id": err.id, "line": err.line, "error": err.error, "code": err.code}
    if err.source is not None:
        record["source"] = err.source
    return record


def score_case(
    kb: CompiledKnowledgeBase, case: Case, top: int | None = None, contributions: bool = True
) -> dict[str, Any]:
    """One case's record: `{"id", "line", "results"}` (plus `warnings` and `source` when there are any),
    or an error record when its findings cannot be resolved."""
    try:
        query = normalise_query(kb, case.present, case.absent, case.age_years, case.onset)
    except OmsError as err:
        return error_record(CaseError(case.id, case.line, clip(err.message), err.code, case.source))
    rows = result_rows(rank(kb, query, top=top)) if contributions else lean_rows(kb, posterior(kb, query), top)
    record: dict[str, Any] = {"id": case.id, "line": case.line, "results": rows}
    warnings = case.warnings + query_warnings(kb, query)
    if warnings:
        record["warnings"] = list(warnings)
    if case.source is not None:
        record["source"] = case.source
    return record


def score_all(
    kb: CompiledKnowledgeBase, items: Iterable[Case | CaseError], top: int | None = None, contributions: bool = True
) -> Iterator[dict[str, Any]]:
    """A record for every case and every unreadable line, lazily, so memory stays flat on any input size."""
    for item in items:
        yield error_record(item) if isinstance(item, CaseError) else score_case(kb, item, top, contributions)
