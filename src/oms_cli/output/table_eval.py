"""The `table` format of an evaluation report: headline metrics, per-condition table, confusion, calibration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from oms_cli.output.table import t as _t

if TYPE_CHECKING:
    from rich.console import Console

    from oms_cli.core.evaluate import Evaluation
    from oms_cli.kb.compiled import CompiledKnowledgeBase

SKIPPED_SHOWN = 20


def _f(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}f}"


def _frac(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


def print_evaluation(console: Console, ev: Evaluation, kb: CompiledKnowledgeBase, file: str) -> None:
    """The evaluation report: headline metrics, per-condition table, confusion matrix, calibration."""
    from rich.table import Table

    stage = "after the work-up" if ev.with_workup else "at presentation"
    console.print(_t(f"Evaluation of {file} {stage} (knowledge base {kb.kb_version})", style="bold"))
    console.print(
        _t(
            f"{ev.n} cases scored: top-1 {_frac(ev.top1)}, top-3 {_frac(ev.top3)}, MRR {_f(ev.mrr)}, "
            f"Brier {_f(ev.brier)}, log loss {_f(ev.log_loss)}, ECE {_f(ev.ece)}, "
            f"can't-miss recall {_frac(ev.cant_miss_recall)} of {ev.cant_miss_cases}"
        )
    )
    if ev.n_skipped:
        console.print(
            _t(f"{ev.n_skipped} case(s) skipped, {ev.n_errors} of them unreadable or unscorable.", style="dim")
        )

    table = Table(title=_t("By final diagnosis"), title_justify="left")
    table.add_column("Condition", no_wrap=True)
    for col in ("n", "Top-1", "Top-3", "MRR", "Mean P", "1st", "PPV"):
        table.add_column(col, justify="right")
    for s in ev.per_condition:
        table.add_row(
            _t(s.id), _t(str(s.n)), _t(_frac(s.top1)), _t(_frac(s.top3)), _t(_f(s.mrr, 2)),
            _t(_frac(s.mean_probability)), _t(str(s.predicted_first)), _t(_frac(s.precision)),
        )  # fmt: skip
    console.print(table)
    console.print(_t("Mean P: mean probability of the true diagnosis. 1st: cases ranked first. PPV: share correct.",
                     style="dim"))  # fmt: skip

    # The full matrix is in the JSON; on 80 columns a 17 x 17 grid would cut the ids, so the table lists where
    # the diagnoses went instead: correct first, then each confusion, largest first.
    ids = [c.id for c in kb.conditions]
    confused = sorted(
        ((n, truth, first) for truth in ids for first, n in ev.confusion[truth].items() if n and first != truth),
        key=lambda x: (-x[0], x[1], x[2]),
    )
    matrix = Table(title=_t("Confusion: final diagnosis → condition ranked first"), title_justify="left")
    for col, justify in (("Diagnosis", "left"), ("Ranked first instead", "left"), ("Cases", "right")):
        matrix.add_column(col, justify=justify, no_wrap=True)  # type: ignore[arg-type]
    for n, truth, first in confused:
        matrix.add_row(_t(truth), _t(first), _t(str(n)))
    if confused:
        console.print(matrix)
    else:
        console.print(_t("Confusion: every case's diagnosis was ranked first.", style="dim"))

    cal = Table(title=_t("Calibration (every case × condition probability)"), title_justify="left")
    for col in ("Predicted", "Pairs", "Mean predicted", "Observed"):
        cal.add_column(col, justify="right")
    for b in ev.calibration:
        cal.add_row(_t(f"{b.lo:.1f}–{b.hi:.1f}"), _t(str(b.n)), _t(_f(b.mean_predicted)), _t(_f(b.observed)))
    console.print(cal)
    for skipped in ev.skipped[:SKIPPED_SHOWN]:
        who = skipped.id if skipped.id is not None else "no id"
        console.print(_t(f"skipped line {skipped.line} ({who}): {skipped.reason}", style="dim"))
    if ev.n_skipped > SKIPPED_SHOWN:
        console.print(_t(f"... and {ev.n_skipped - SKIPPED_SHOWN} more skipped (see --format json)", style="dim"))
