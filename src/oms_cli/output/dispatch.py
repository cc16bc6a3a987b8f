"""The one place a result meets its format: each format is a module with a `render` for every view it supports."""

from __future__ import annotations

from typing import assert_never

from oms_cli.output import streams
from oms_cli.output.formats import Format
from oms_cli.output.views import View


def emit(fmt: Format, view: View) -> None:
    """Write a command's result on stdout in the format the user chose (the command offers only formats that fit)."""
    # Each format module is imported only when used: the table views never load json, Markdown never loads Rich.
    if fmt is Format.table:
        from oms_cli.output import table

        table.render(view)
    elif fmt is Format.json:
        from oms_cli.output import jsondoc

        streams.write_json(jsondoc.render(view))
    elif fmt is Format.markdown:
        from oms_cli.output import markdown

        streams.write_text(markdown.render(view))
    elif fmt is Format.csv or fmt is Format.tsv:
        from oms_cli.output import delimited

        streams.write_text(delimited.render(view, fmt))
    elif fmt is Format.parquet:
        raise ValueError("Parquet is written by batch only (output/parquet.py)")
    else:
        assert_never(fmt)
