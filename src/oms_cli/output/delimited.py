"""CSV and TSV output of list-like results (the differential, the conditions, the vocabulary), for spreadsheets."""

from __future__ import annotations

from typing import Any

from oms_cli.output.formats import Format
from oms_cli.output.records import delimited_bytes
from oms_cli.output.views import ConditionsView, FindingsView, SuggestView, View


def render(view: View, fmt: Format) -> str:
    """The rows of a list-like result as CSV or TSV text, with a header row."""
    rows: list[list[Any]]
    if isinstance(view, SuggestView):
        shown = view.analysis.ranking.results
        shown = shown if view.top is None else shown[: max(view.top, 0)]
        rows = [["rank", "condition", "name", "probability", "cant_miss"]]
        rows += [[r.rank, r.id, r.name, f"{r.probability:.6g}", str(r.cant_miss).lower()] for r in shown]
        rows.append(
            [
                "",
                "other",
                "another cause not in this knowledge base",
                f"{view.analysis.ranking.other_probability:.6g}",
                "false",
            ]
        )
    elif isinstance(view, ConditionsView):
        rows = [["id", "name", "cant_miss", "prior_child", "prior_adult"]]  # shares of presentations
        rows += [
            [c.id, c.name, str(c.cant_miss).lower(), f"{c.prior['child'].value:g}", f"{c.prior['adult'].value:g}"]
            for c in view.kb.conditions
        ]
    elif isinstance(view, FindingsView):
        rows = [["id", "label", "kind", "within", "hpo", "synonyms", "background_child", "background_adult"]]
        rows += [
            [f.id, f.label, f.kind, f.within or "", f.hpo or "", "; ".join(f.synonyms),
             f"{f.background['child'].value:g}", f"{f.background['adult'].value:g}"]
            for f in view.kb.findings
        ]  # fmt: skip
    else:
        raise ValueError(f"{type(view).__name__} has no {fmt} form")
    return delimited_bytes(rows, fmt).decode("utf-8")
