"""`oms-dx compare`: conditions side by side, with the findings that tell them apart."""

from typing import Annotated

import typer

from oms_cli.commands._shared import (
    DocumentFormatOpt,
    KbOpt,
    OutputOpt,
    complete_conditions,
    load_kb,
    register,
)
from oms_cli.output.formats import Format


def compare(
    condition: Annotated[
        list[str],
        typer.Argument(
            help="Two or more condition ids, names or aliases.",
            autocompletion=complete_conditions,
            metavar="CONDITION...",
        ),
    ],
    highlight: Annotated[
        int, typer.Option("--highlight", min=0, help="How many of the most discriminating findings to highlight.")
    ] = 5,
    format: DocumentFormatOpt = Format.table,
    kb: KbOpt = None,
    output: OutputOpt = None,
) -> None:
    """Put conditions side by side and highlight the findings that tell them apart.

    Example: oms-dx compare oms acute-cerebellar-ataxia
    """
    from oms_cli.core.cards import compare as compare_conditions
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import ComparisonView

    knowledge = load_kb(kb)
    emit(format, ComparisonView(knowledge, compare_conditions(knowledge, condition, highlight=highlight)))


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, compare)
