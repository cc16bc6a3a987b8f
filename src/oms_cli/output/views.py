"""What a command hands to the output layer: its result and how the user asked to see it."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from oms_cli.core.cards import Card, Comparison
    from oms_cli.core.evaluate import Evaluation
    from oms_cli.core.reasoning import Analysis
    from oms_cli.kb.checks import ValidationReport
    from oms_cli.kb.compiled import CompiledKnowledgeBase


class SuggestView(NamedTuple):
    """A ranked differential: `top` limits the rows shown, `explain` adds the ledgers."""

    kb: CompiledKnowledgeBase
    analysis: Analysis
    top: int | None = None
    explain: bool = False
    warnings: tuple[str, ...] = ()
    details: bool = False


class InterviewSummary(NamedTuple):
    """How an interview went: the answers and the command that reproduces its differential."""

    present: tuple[str, ...]
    absent: tuple[str, ...]
    unknown: tuple[str, ...]
    skipped: tuple[str, ...]
    stop_reason: str
    command: str


class InterviewView(NamedTuple):
    """The differential an interview ended with."""

    kb: CompiledKnowledgeBase
    analysis: Analysis
    summary: InterviewSummary


class CardView(NamedTuple):
    """A reference card."""

    kb: CompiledKnowledgeBase
    card: Card


class ComparisonView(NamedTuple):
    """Conditions side by side."""

    kb: CompiledKnowledgeBase
    comparison: Comparison


class ConditionsView(NamedTuple):
    """The conditions of a knowledge base."""

    kb: CompiledKnowledgeBase


class FindingsView(NamedTuple):
    """The finding vocabulary of a knowledge base."""

    kb: CompiledKnowledgeBase


class EvaluationView(NamedTuple):
    """An evaluation report on cases read from `file`."""

    kb: CompiledKnowledgeBase
    evaluation: Evaluation
    file: str


class ValidationView(NamedTuple):
    """What `kb validate` found in one file."""

    report: ValidationReport


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
