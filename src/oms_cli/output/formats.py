"""The output formats, one enum for every command; each command offers the subset that fits its result."""

from __future__ import annotations

from enum import StrEnum


class Format(StrEnum):
    """How a command writes its result on stdout."""

    table = "table"  # Rich tables and text, for people
    json = "json"  # the versioned JSON contract (JSON Lines for batch)
    markdown = "markdown"  # for notes
    csv = "csv"  # one row per ranked condition (or listed item)
    tsv = "tsv"
    parquet = "parquet"  # batch only, to a file (-o)

    def __str__(self) -> str:
        return self.value
