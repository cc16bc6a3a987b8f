"""What a command hands to the output layer: its result and how the user asked to see it.

Plain slotted classes rather than NamedTuples: a view is built once per run, and a class statement costs a tenth
of a NamedTuple's at start-up.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from oms_cli.core.cards import Card, Comparison
    from oms_cli.core.evaluate import Evaluation
    from oms_cli.core.reasoning import Analysis
    from oms_cli.kb.checks import ValidationReport
    from oms_cli.kb.compiled import CompiledKnowledgeBase


class SuggestView:
    """A ranked differential: `top` limits the rows shown, `explain` adds the ledgers, `details` the reasons."""

    __slots__ = ("analysis", "details", "explain", "kb", "top", "warnings")

    def __init__(
        self,
        kb: CompiledKnowledgeBase,
        analysis: Analysis,
        top: int | None = None,
        explain: bool = False,
        warnings: tuple[str, ...] = (),
        details: bool = False,
    ) -> None:
        self.kb, self.analysis, self.top, self.explain, self.warnings, self.details = (
            kb, analysis, top, explain, warnings, details,
        )  # fmt: skip


class InterviewSummary:
    """How an interview went: the answers and the command that reproduces its differential."""

    __slots__ = ("absent", "command", "present", "skipped", "stop_reason", "unknown")

    def __init__(
        self,
        present: tuple[str, ...],
        absent: tuple[str, ...],
        unknown: tuple[str, ...],
        skipped: tuple[str, ...],
        stop_reason: str,
        command: str,
    ) -> None:
        self.present, self.absent, self.unknown, self.skipped = present, absent, unknown, skipped
        self.stop_reason, self.command = stop_reason, command


class InterviewView:
    """The differential an interview ended with."""

    __slots__ = ("analysis", "kb", "summary")

    def __init__(self, kb: CompiledKnowledgeBase, analysis: Analysis, summary: InterviewSummary) -> None:
        self.kb, self.analysis, self.summary = kb, analysis, summary


class CardView:
    """A reference card."""

    __slots__ = ("card", "kb")

    def __init__(self, kb: CompiledKnowledgeBase, card: Card) -> None:
        self.kb, self.card = kb, card


class ComparisonView:
    """Conditions side by side."""

    __slots__ = ("comparison", "kb")

    def __init__(self, kb: CompiledKnowledgeBase, comparison: Comparison) -> None:
        self.kb, self.comparison = kb, comparison


class ConditionsView:
    """The conditions of a knowledge base."""

    __slots__ = ("kb",)

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        self.kb = kb


class FindingsView:
    """The finding vocabulary of a knowledge base."""

    __slots__ = ("kb",)

    def __init__(self, kb: CompiledKnowledgeBase) -> None:
        self.kb = kb


class EvaluationView:
    """An evaluation report on cases read from `file`."""

    __slots__ = ("evaluation", "file", "kb")

    def __init__(self, kb: CompiledKnowledgeBase, evaluation: Evaluation, file: str) -> None:
        self.kb, self.evaluation, self.file = kb, evaluation, file


class ValidationView:
    """What `kb validate` found in one file."""

    __slots__ = ("report",)

    def __init__(self, report: ValidationReport) -> None:
        self.report = report


View = (
    SuggestView
    | InterviewView
    | CardView
    | ComparisonView
    | ConditionsView
    | FindingsView
    | EvaluationView
    | ValidationView
)
