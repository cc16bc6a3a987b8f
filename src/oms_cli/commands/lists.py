"""`oms-dx conditions` and `oms-dx findings`: what the knowledge base can rank, and the words it understands."""

from typing import Annotated

import typer

from oms_cli.commands._shared import KbOpt, OutputOpt, format_option, load_kb, register
from oms_cli.output.formats import Format

FORMATS = (Format.table, Format.json, Format.csv, Format.tsv)
FormatOpt = Annotated[Format, format_option(FORMATS, "table for people, json for scripts, csv/tsv for spreadsheets.")]


def conditions(format: FormatOpt = Format.table, kb: KbOpt = None, output: OutputOpt = None) -> None:
    """List the conditions of the knowledge base.

    Example: oms-dx conditions --format json
    """
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import ConditionsView

    emit(format, ConditionsView(load_kb(kb)))


def findings(format: FormatOpt = Format.table, kb: KbOpt = None, output: OutputOpt = None) -> None:
    """List the finding vocabulary with synonyms and HPO ids.

    Example: oms-dx findings
    """
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import FindingsView

    emit(format, FindingsView(load_kb(kb)))


def add_to(app: typer.Typer) -> None:
    """Register these commands."""
    register(app, conditions)
    register(app, findings)
