"""`oms-dx suggest`: rank the differential for the entered findings, age and onset."""

from pathlib import Path
from typing import Annotated

import typer

from oms_cli.commands._shared import (
    KbOpt,
    OutputOpt,
    complete_findings,
    complete_onsets,
    finite,
    format_option,
    load_kb,
    register,
)
from oms_cli.output.formats import Format

FORMATS = (Format.table, Format.json, Format.markdown, Format.csv, Format.tsv)


def suggest(
    finding: Annotated[
        list[str] | None,
        typer.Option(
            "--finding",
            "-f",
            help="A finding that is present (repeatable; comma lists allowed; ids, synonyms or HPO ids).",
            autocompletion=complete_findings,
        ),
    ] = None,
    absent: Annotated[
        list[str] | None,
        typer.Option(
            "--absent",
            "-x",
            help="A finding that was looked for and is absent (repeatable).",
            autocompletion=complete_findings,
        ),
    ] = None,
    age: Annotated[
        str | None, typer.Option("--age", help="Age in years (2.5) or with a unit (18m, 2y, 6w, 10d).")
    ] = None,
    onset: Annotated[
        str | None,
        typer.Option(
            "--onset",
            metavar="TEMPO",
            autocompletion=complete_onsets,
            help="Onset tempo: acute (<1 week), subacute (1-6 weeks), chronic (>6 weeks), episodic.",
        ),
    ] = None,
    phenopacket: Annotated[
        Path | None,
        typer.Option(
            "--phenopacket",
            help="Read findings, exclusions, age and course from a GA4GH Phenopacket v2 JSON file "
            "(options given as well are added; --age and --onset override).",
            metavar="FILE",
        ),
    ] = None,
    top: Annotated[int | None, typer.Option("--top", min=1, help="Show only the N most probable conditions.")] = None,
    explain: Annotated[
        bool, typer.Option("--explain", help="Add a ledger of every term behind each shown condition's probability.")
    ] = False,
    details: Annotated[
        bool,
        typer.Option(
            "--details", help="Add why each can't-miss condition matters and every criterion item (table format)."
        ),
    ] = False,
    cant_miss_threshold: Annotated[
        float,
        typer.Option(
            "--cant-miss-threshold",
            callback=finite,
            min=0.0,
            max=1.0,
            help="List can't-miss conditions at or above this probability (default 0.01).",
        ),
    ] = 0.01,
    format: Annotated[
        Format,
        format_option(FORMATS, "table for people, json for scripts, markdown for notes, csv/tsv for spreadsheets."),
    ] = Format.table,
    kb: KbOpt = None,
    output: OutputOpt = None,
) -> None:
    """Rank OMS and its mimics for the entered findings, age and onset.

    Also shows the can't-miss panel, the findings worth checking next and any formal criteria the findings bear on.
    Example: oms-dx suggest --finding opsoclonus --age 3
    """
    from oms_cli.core.engine import normalise_query
    from oms_cli.core.inputs import parse_age, parse_onset, split_terms
    from oms_cli.core.reasoning import analyse
    from oms_cli.output import streams
    from oms_cli.output.dispatch import emit
    from oms_cli.output.views import SuggestView

    age_years = parse_age(age) if age is not None else None
    onset_id = parse_onset(onset) if onset is not None else None
    knowledge = load_kb(kb)
    present, missing = split_terms(finding), split_terms(absent)
    notes: list[str] = []
    if phenopacket is not None:
        from oms_cli.core.inputs import read_input_file
        from oms_cli.core.phenopacket import case_from_phenopacket

        case = case_from_phenopacket(knowledge, read_input_file(phenopacket), source=str(phenopacket))
        present, missing = [*case.present, *present], [*case.absent, *missing]
        age_years = age_years if age_years is not None else case.age_years
        onset_id = onset_id if onset_id is not None else case.onset
        notes += case.warnings
    query = normalise_query(knowledge, present, missing, age_years, onset_id)
    analysis = analyse(knowledge, query, cant_miss_threshold=cant_miss_threshold, explain=explain)
    notes += analysis.ranking.warnings
    for warning in notes:
        streams.warn(warning)
    emit(format, SuggestView(knowledge, analysis, top, explain, tuple(notes), details))


def add_to(app: typer.Typer) -> None:
    """Register this command."""
    register(app, suggest)
