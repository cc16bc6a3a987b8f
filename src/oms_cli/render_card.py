"""Reference cards (`show`) and comparisons (`compare`) as JSON documents and Rich output."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from oms_cli.cards import STATEMENT_FIELDS, Comparison, FindingComparison, card_references, finding_groups
from oms_cli.render import DISCLAIMER, OUTPUT_SCHEMA_VERSION, _bar, _pct, _t
from oms_cli.safe import printable

if TYPE_CHECKING:
    from rich.console import Console
    from rich.text import Text

    from oms_cli.knowledge import CompiledKnowledgeBase
    from oms_cli.models import Condition, Criteria, Evidence, Reference, Statement

THERAPY_NOTE = "Reference information from the literature, not treatment orders."
SECTION_TITLES = {
    "synopsis": "Synopsis",
    "codes": "Codes",
    "cant-miss": "Can't miss",
    "look-for": "What to look for",
    "findings": "Findings at presentation",
    "criteria": "Diagnostic criteria",
    "pearls": "Diagnostic pearls",
    "pitfalls": "Differential and pitfalls",
    "tests": "Best tests",
    "management": "Management pearls",
    "therapy": "Therapy",
    "profile": "Prior, age and onset profile",
    "references": "References",
}


# ----------------------------------------------------------------------------- JSON


def evidence_dict(ev: Evidence) -> dict[str, Any]:
    """An evidence value with its provenance, as it appears in JSON output."""
    out: dict[str, Any] = {"value": ev.value, "refs": list(ev.refs)}
    if ev.estimate is not None:
        out["estimate"] = ev.estimate
    if ev.note is not None:
        out["note"] = ev.note
    return out


def reference_dict(ref: Reference, number: int | None = None) -> dict[str, Any]:
    """A full reference as it appears in JSON output, numbered when it belongs to a card."""
    out = ref.model_dump(exclude_none=True)
    if number is not None:
        out = {"number": number, **out}
    return out


def card_document(kb: CompiledKnowledgeBase, condition_id: str, sections: tuple[str, ...]) -> dict[str, Any]:
    """The versioned JSON object printed by `show --format json` (only the chosen sections)."""
    c = kb.condition_model(condition_id)
    body: dict[str, Any] = {"id": c.id, "name": c.name, "aliases": list(c.aliases), "last_reviewed": c.last_reviewed}
    if "synopsis" in sections:
        body["synopsis"] = c.synopsis
        body["synopsis_refs"] = list(c.synopsis_refs)
    if "codes" in sections:
        body["codes"] = [code.model_dump(exclude_none=True) for code in c.codes]
    if "cant-miss" in sections:
        body["cant_miss"] = c.cant_miss.model_dump(exclude_none=True)
    for section, field in STATEMENT_FIELDS.items():
        if section in sections:
            body[field] = [st.model_dump() for st in getattr(c, field)]
    if "findings" in sections:
        body["findings"] = {k: evidence_dict(v) for k, v in c.findings.items()}
        body["finding_groups"] = dict(finding_groups(kb, condition_id))
    if "criteria" in sections:
        body["criteria"] = [cr.model_dump(exclude_none=True) for cr in c.criteria]
    if "tests" in sections:
        body["best_tests"] = [t.model_dump(exclude_none=True) for t in c.best_tests]
    if "profile" in sections:
        body["prior"] = {"child": evidence_dict(c.prior.child), "adult": evidence_dict(c.prior.adult)}
        body["age_profile"] = {k: evidence_dict(v) for k, v in c.age_profile.items()}
        body["onset_profile"] = {k: evidence_dict(v) for k, v in c.onset_profile.items()}
    refs = card_references(kb, condition_id, sections)
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "kb_version": kb.kb_version,
        "sections": list(sections),
        "condition": body,
        "references": [reference_dict(r, n) for n, r in enumerate(refs, 1)],
    }


def comparison_document(kb: CompiledKnowledgeBase, cmp: Comparison) -> dict[str, Any]:
    """The versioned JSON object printed by `compare --format json`."""
    ids = [c.id for c in cmp.conditions]
    refs = comparison_references(kb, cmp)
    return {
        "schema_version": OUTPUT_SCHEMA_VERSION,
        "kb_version": kb.kb_version,
        "leak_probability": kb.leak,
        "conditions": [
            {
                "id": c.id,
                "name": c.name,
                "cant_miss": c.cant_miss,
                "prior": {"child": c.prior_child, "adult": c.prior_adult},
                "age_profile": dict(c.age),
                "onset_profile": dict(c.onset),
            }
            for c in cmp.conditions
        ],
        "findings": [
            {
                "finding": f.finding,
                "label": kb.finding(f.finding).label,
                "kind": kb.finding(f.finding).kind,
                "probabilities": dict(zip(ids, f.probabilities, strict=True)),
                "listed": dict(zip(ids, f.listed, strict=True)),
                "best_separation": {
                    "state": f.state,
                    "favours": f.favours,
                    "against": f.against,
                    "likelihood_ratio": math.exp(f.log_lr),
                    "log_lr": f.log_lr,
                },
                "highlighted": f.finding in cmp.highlighted,
            }
            for f in cmp.findings
        ],
        "pitfalls": [{"condition": cid, **st.model_dump()} for cid, st in cmp.pitfalls],
        "references": [reference_dict(r) for r in refs],
    }


def comparison_references(kb: CompiledKnowledgeBase, cmp: Comparison) -> list[Reference]:
    """References cited by the pitfalls shown in a comparison, in order of first citation."""
    order: dict[str, None] = {}
    for _cid, st in cmp.pitfalls:
        for ref in st.refs:
            order.setdefault(ref, None)
    by_id = {r.id: r for r in kb.model.references}
    return [by_id[r] for r in order if r in by_id]


# ----------------------------------------------------------------------------- Rich


def _cite(numbers: dict[str, int], refs: list[str]) -> str:
    nums = sorted({numbers[r] for r in refs if r in numbers})
    return f" [{', '.join(map(str, nums))}]" if nums else ""


def _heading(console: Console, title: str) -> None:
    console.print()
    console.print(_t(title, style="bold underline"))


def _bullet(console: Console, text: str, cite: str, extra: str = "") -> None:
    line = _t("• ")
    line.append(printable(text))
    if extra:
        line.append(printable(extra), style="dim")
    line.append(cite, style="cyan")
    console.print(line)


def _versus(st: Statement) -> str:
    return f" (vs {', '.join(st.versus)})" if st.versus else ""


def _source_text(numbers: dict[str, int], ev: Evidence) -> Text:
    from rich.text import Text

    text = Text()
    if ev.estimate is not None:
        text.append("expert estimate: ", style="yellow")
        text.append(printable(ev.estimate))
    elif ev.note:
        text.append(printable(ev.note), style="dim")
    text.append(_cite(numbers, list(ev.refs)), style="cyan")
    return text


def profile_rows(c: Condition) -> list[tuple[str, Evidence, bool]]:
    """Prior, age and onset rows as (label, evidence, same provenance as the row before)."""
    items = [("prior, children", c.prior.child), ("prior, adults", c.prior.adult)]
    items += [(f"age {band} y", ev) for band, ev in c.age_profile.items()]
    items += [(f"onset {onset}", ev) for onset, ev in c.onset_profile.items()]
    rows: list[tuple[str, Evidence, bool]] = []
    previous: tuple[object, ...] | None = None
    for label, ev in items:
        key = (ev.estimate, ev.note, tuple(ev.refs))
        rows.append((label, ev, key == previous))
        previous = key
    return rows


def _render_profile(console: Console, c: Condition, numbers: dict[str, int]) -> None:
    from rich.table import Table

    prof = Table(box=None, pad_edge=False, header_style="bold")
    for col in ("Item", "Value", "", "Source"):
        prof.add_column(col)
    for label, ev, repeat in profile_rows(c):
        source = _t("as above", style="dim") if repeat else _source_text(numbers, ev)
        bar = _t(_bar(ev.value)) if not label.startswith("prior") else _t("")
        prof.add_row(_t(label), _t(f"{ev.value:.3g}"), bar, source)
    console.print(prof)


def criteria_rule(crit: Criteria) -> str:
    """The rule of a criterion set in words."""
    n = len(crit.items)
    if crit.required == n:
        return f"Met only when all {n} items are present."
    return f"Met when at least {crit.required} of {n} items are present."


def _render_criteria(console: Console, numbers: dict[str, int], crit: Criteria) -> None:
    head = _t(crit.name, style="bold")
    head.append(_cite(numbers, list(crit.refs)), style="cyan")
    console.print(head)
    console.print(_t(crit.source, style="dim"))
    for i, item in enumerate(crit.items, 1):
        line = _t(f"  {i}. ")
        line.append(printable(item.text))
        if item.note:
            line.append(printable(f" — {item.note}"), style="dim")
        console.print(line)
    console.print(_t(f"  {criteria_rule(crit)}", style="italic"))
    if crit.note:
        console.print(_t(f"  {crit.note}", style="dim"))


def _render_findings_chart(
    console: Console, kb: CompiledKnowledgeBase, c: Condition, numbers: dict[str, int], condition_id: str
) -> None:
    from rich.table import Table

    table = Table(box=None, pad_edge=False, show_header=True, header_style="bold")
    table.add_column("Finding")
    table.add_column("Frequency", no_wrap=True)
    table.add_column("", justify="right", no_wrap=True)
    table.add_column("Source", no_wrap=True)
    estimates: list[tuple[str, str]] = []
    for kind, ids in finding_groups(kb, condition_id):
        table.add_row(_t(kind.capitalize(), style="bold magenta"), _t(""), _t(""), _t(""))
        for fid in ids:
            ev = c.findings[fid]
            label = kb.finding(fid).label
            if ev.estimate is not None:
                estimates.append((label, ev.estimate))
                source = _t(f"estimate {len(estimates)}", style="yellow")
                source.append(_cite(numbers, list(ev.refs)), style="cyan")
            else:
                source = _t(_cite(numbers, list(ev.refs)).strip(), style="cyan")
            table.add_row(_t(f"  {label}"), _t(_bar(ev.value, 20)), _t(_pct(ev.value)), source)
    console.print(table)
    console.print(_t(f"Findings not listed count with the leak probability {kb.leak:g}.", style="dim"))
    if estimates:
        console.print(_t("Expert estimates (no source gives a figure):", style="yellow"))
        for i, (label, why) in enumerate(estimates, 1):
            line = _t(f"  {i}. {label}: ", style="dim")
            line.append(printable(why), style="dim")
            console.print(line)


def render_card(console: Console, kb: CompiledKnowledgeBase, condition_id: str, sections: tuple[str, ...]) -> None:
    """Print the reference card of one condition, limited to the chosen sections."""
    from rich.table import Table

    c = kb.condition_model(condition_id)
    refs = card_references(kb, condition_id, sections)
    numbers = {r.id: n for n, r in enumerate(refs, 1)}
    head = _t(c.name, style="bold")
    head.append(printable(f"  ({c.id})"), style="dim")
    console.print(head)
    if c.aliases:
        console.print(_t("Also called: " + ", ".join(c.aliases), style="dim"))

    for section in sections:
        if section == "references":
            continue
        _heading(console, SECTION_TITLES[section])
        if section == "synopsis":
            line = _t(c.synopsis)
            line.append(_cite(numbers, list(c.synopsis_refs)), style="cyan")
            console.print(line)
        elif section == "codes":
            codes = Table(box=None, pad_edge=False, header_style="bold")
            for col in ("System", "Code", "Label", "Note"):
                codes.add_column(col)
            for code in c.codes:
                note = _t(code.note or "", style="dim")
                note.append(_cite(numbers, list(code.refs)), style="cyan")
                codes.add_row(_t(code.system), _t(code.code, style="bold"), _t(code.label), note)
            console.print(codes)
        elif section == "cant-miss":
            marker = _t("yes — " if c.cant_miss.flag else "no — ", style="bold red" if c.cant_miss.flag else "bold")
            marker.append(printable(c.cant_miss.reason))
            console.print(marker)
            if c.cant_miss.excluding_test:
                t = _t("Test that settles it: ", style="bold")
                t.append(printable(c.cant_miss.excluding_test))
                console.print(t)
        elif section in STATEMENT_FIELDS:
            if section == "therapy":
                console.print(_t(THERAPY_NOTE, style="italic dim"))
            for st in getattr(c, STATEMENT_FIELDS[section]):
                _bullet(console, st.text, _cite(numbers, list(st.refs)), _versus(st))
            if not getattr(c, STATEMENT_FIELDS[section]):
                console.print(_t("(none recorded)", style="dim"))
        elif section == "findings":
            _render_findings_chart(console, kb, c, numbers, condition_id)
        elif section == "criteria":
            if not c.criteria:
                console.print(_t("No formal criteria set is recorded for this condition.", style="dim"))
            for crit in c.criteria:
                _render_criteria(console, numbers, crit)
        elif section == "tests":
            for test in c.best_tests:
                line = _t("• ")
                line.append(printable(test.test), style="bold")
                line.append(printable(f" — {test.why}"))
                if test.performance:
                    line.append(printable(f" {test.performance}"), style="dim")
                line.append(_cite(numbers, list(test.refs)), style="cyan")
                console.print(line)
        elif section == "profile":
            _render_profile(console, c, numbers)

    if "references" in sections and refs:
        _heading(console, SECTION_TITLES["references"])
        for n, ref in enumerate(refs, 1):
            line = _t(f"[{n}] ", style="cyan")
            line.append(printable(format_reference(ref)))
            console.print(line)
    console.print()
    console.print(_t(f"Last reviewed {c.last_reviewed}. {DISCLAIMER}", style="dim"))


def format_reference(ref: Reference) -> str:
    """One reference as a single line: authors (year). Title. Journal. Identifiers."""
    ids = "; ".join(
        x for x in (f"PMID {ref.pmid}" if ref.pmid else "", f"doi:{ref.doi}" if ref.doi else "", ref.url or "") if x
    )
    return f"{ref.authors} ({ref.year}). {ref.title}. {ref.journal}. {ids}"


def separation_text(f: FindingComparison, names: dict[str, str] | None = None) -> str:
    """How a finding best separates the compared conditions, e.g. "if present: oms x118 over seizure"."""
    tag = names or {}
    if f.discrimination < 1e-9:
        return "no difference"
    lr = math.exp(f.log_lr)
    factor = f"{lr:.0f}" if lr >= 10 else f"{lr:.1f}"
    return f"if {f.state}: {tag.get(f.favours, f.favours)} ×{factor} over {tag.get(f.against, f.against)}"


def render_comparison(console: Console, kb: CompiledKnowledgeBase, cmp: Comparison) -> None:
    """Print conditions side by side with the most discriminating findings highlighted."""
    from rich.table import Table

    # Letters keep the columns narrow; ids such as acute-cerebellar-ataxia would not fit 80 columns.
    tags = {c.id: chr(ord("A") + i) for i, c in enumerate(cmp.conditions)}
    console.print(_t("Comparing", style="bold"))
    for c in cmp.conditions:
        line = _t(f"  {tags[c.id]} = ", style="bold")
        line.append(printable(f"{c.id} ({c.name})"))
        console.print(line)

    prof = Table(title=_t("Prior, age and onset profiles"), title_justify="left", header_style="bold")
    prof.add_column("")
    for c in cmp.conditions:
        prof.add_column(tags[c.id], justify="right")
    prof.add_row(_t("prior, children"), *[_t(f"{c.prior_child:.3f}") for c in cmp.conditions])
    prof.add_row(_t("prior, adults"), *[_t(f"{c.prior_adult:.3f}") for c in cmp.conditions])
    for band, *_ in kb.bands:
        prof.add_row(_t(f"age {band} y"), *[_t(f"{c.age[band]:.2f} {_bar(c.age[band], 6)}") for c in cmp.conditions])
    for onset in cmp.conditions[0].onset:
        prof.add_row(
            _t(f"onset {onset}"), *[_t(f"{c.onset[onset]:.2f} {_bar(c.onset[onset], 6)}") for c in cmp.conditions]
        )
    console.print(prof)

    table = Table(
        title=_t("Findings at presentation, most discriminating first"), title_justify="left", header_style="bold"
    )
    table.add_column("", no_wrap=True)
    table.add_column("Finding")
    for c in cmp.conditions:
        table.add_column(tags[c.id], justify="right", no_wrap=True)
    table.add_column("Largest likelihood ratio")
    for f in cmp.findings:
        hot = f.finding in cmp.highlighted
        style = "bold yellow" if hot else ""
        cells = [
            _t(_pct(p) if listed else f"({_pct(p)})", style=style if listed else "dim")
            for p, listed in zip(f.probabilities, f.listed, strict=True)
        ]
        table.add_row(
            _t("◆" if hot else "", style="bold yellow"),
            _t(kb.finding(f.finding).label, style=style),
            *cells,
            _t(separation_text(f, tags), style=style),
        )
    console.print(table)
    console.print(
        _t(
            f"◆ = the {len(cmp.highlighted)} findings with the largest likelihood ratio either way. "
            f"(n%) = not listed for that condition; the leak probability {kb.leak:g} is used.",
            style="dim",
        )
    )
    if cmp.pitfalls:
        refs = comparison_references(kb, cmp)
        numbers = {r.id: n for n, r in enumerate(refs, 1)}
        _heading(console, "Pitfalls between these conditions")
        for cid, st in cmp.pitfalls:
            _bullet(console, f"{cid}: {st.text}", _cite(numbers, list(st.refs)))
        _heading(console, "References")
        for n, ref in enumerate(refs, 1):
            line = _t(f"[{n}] ", style="cyan")
            line.append(printable(format_reference(ref)))
            console.print(line)
    console.print()
    console.print(_t(DISCLAIMER, style="dim"))
