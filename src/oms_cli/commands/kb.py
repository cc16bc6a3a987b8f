"""`oms-dx kb validate` and `oms-dx kb schema`: check and describe knowledge-base files."""

from pathlib import Path
from typing import Annotated

import typer

from oms_cli.commands._shared import HUMAN_OR_JSON, OutputOpt, format_option, register
from oms_cli.output.formats import Format


def validate(
    path: Annotated[
        Path | None, typer.Argument(help="Knowledge-base file to check (default: the shipped one).", metavar="[FILE]")
    ] = None,
    format: Annotated[Format, format_option(HUMAN_OR_JSON, "table for people, json for scripts.")] = Format.table,
    output: OutputOpt = None,
) -> None:
    """Check a knowledge-base file: JSON, schema, links between ids and references, ICD-10-CM codes, HPO ids.

    Every problem is listed with its JSON path; the exit code is 4 when there is any.
    Example: oms-dx kb validate my-conditions.json
    """
    from oms_cli.errors import ExitCode
    from oms_cli.kb.checks import validate_file
    from oms_cli.kb.store import default_kb_path
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import ValidationView

    report = validate_file(path if path is not None else default_kb_path())
    emit(format, ValidationView(report))
    if not report.valid:
        raise typer.Exit(int(ExitCode.KNOWLEDGE_BASE))


def schema(output: OutputOpt = None) -> None:
    """Print the JSON Schema of knowledge-base files, generated from the models oms-dx validates with.

    Example: oms-dx kb schema > oms-dx-kb.schema.json
    """
    from oms_cli.kb.checks import schema_document
    from oms_cli.output import streams

    # A JSON Schema document as it stands (no envelope), so that it can be saved and used by any validator.
    streams.write_json(schema_document())


def add_to(app: typer.Typer) -> None:
    """Register the kb group and its commands."""
    group = typer.Typer(
        name="kb", help="Check and describe knowledge-base files.", no_args_is_help=True, rich_markup_mode=None
    )
    register(group, validate)
    register(group, schema)
    app.add_typer(group)
