"""`oms-dx show`: the cited reference card of a condition."""

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


def complete_sections(incomplete: str) -> list[str]:
    """Shell completion of card section names."""
    from oms_cli.core.cards import SECTION_IDS

    head, _, last = incomplete.rpartition(",")
    return [f"{head}," * bool(head) + s for s in SECTION_IDS if s.startswith(last.strip().lower())]


def show(
    condition: Annotated[
        str,
        typer.Argument(
            help="Condition id, name or alias (e.g. oms, 'dancing eye syndrome').",
            autocompletion=complete_conditions,
            metavar="CONDITION",
        ),
    ],
    section: Annotated[
        list[str] | None,
        typer.Option(
            "--section",
            "-s",
            help="Print only this section (repeatable; comma lists allowed): synopsis, codes, cant-miss, look-for, "
            "findings, criteria, pearls, pitfalls, tests, management, therapy, profile, references.",
            metavar="SECTION",
            autocompletion=complete_sections,
        ),
    ] = None,
    format: DocumentFormatOpt = Format.table,
    kb: KbOpt = None,
    output: OutputOpt = None,
) -> None:
    """Print the reference card of a condition, every statement with its source.

    Example: oms-dx show oms --section pitfalls --section tests
    """
    from oms_cli.core.cards import build_card, resolve_sections
    from oms_cli.core.inputs import split_terms
    from oms_cli.errors import InputError
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import CardView

    try:
        sections = resolve_sections(split_terms(section))
    except InputError as err:  # a section name is part of the command line: a usage error, like a bad option
        raise typer.BadParameter(err.message, param_hint="'--section' / '-s'") from None
    knowledge = load_kb(kb)
    card = build_card(knowledge, knowledge.resolve_condition(condition), sections)
    emit(format, CardView(knowledge, card))


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, show)
