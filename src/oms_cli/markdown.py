"""Markdown output for pasting into notes: suggest results, reference cards and comparisons, all cited."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from oms_cli.cards import STATEMENT_FIELDS, Comparison, card_references, finding_groups
from oms_cli.render import DISCLAIMER, _bar, _pct
from oms_cli.render_card import (
    SECTION_TITLES,
    THERAPY_NOTE,
    comparison_references,
    criteria_rule,
    format_reference,
    profile_rows,
    separation_text,
)
from oms_cli.safe import printable

if TYPE_CHECKING:
    from oms_cli.knowledge import CompiledKnowledgeBase
    from oms_cli.reasoning import Analysis

_SPECIAL = re.compile(r"([\\`*_\[\]<>|#])")


def md(text: str) -> str:
    """Knowledge-base or user text made inert in Markdown: control characters shown, markup escaped."""
    return _SPECIAL.sub(r"\\\1", printable(text)).replace("\n", " ")


def _cite(numbers: dict[str, int], refs: list[str]) -> str:
    nums = sorted({numbers[r] for r in refs if r in numbers})
    return f" [{', '.join(map(str, nums))}]" if nums else ""


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def card_markdown(kb: CompiledKnowledgeBase, condition_id: str, sections: tuple[str, ...]) -> str:
    """The reference card of one condition as Markdown."""
    c = kb.condition_model(condition_id)
    refs = card_references(kb, condition_id, sections)
    numbers = {r.id: n for n, r in enumerate(refs, 1)}
    out = [f"# {md(c.name)} (`{c.id}`)", ""]
    if c.aliases:
        out += [f"*Also called:* {md(', '.join(c.aliases))}", ""]
    for section in sections:
        if section == "references":
            continue
        out += [f"## {SECTION_TITLES[section]}", ""]
        if section == "synopsis":
            out.append(md(c.synopsis) + _cite(numbers, list(c.synopsis_refs)))
        elif section == "codes":
            out += [_row(["System", "Code", "Label", "Note"]), _row(["---"] * 4)]
            out += [
                _row([md(k.system), f"`{k.code}`", md(k.label), md(k.note or "") + _cite(numbers, list(k.refs))])
                for k in c.codes
            ]
        elif section == "cant-miss":
            out.append(f"**{'Yes' if c.cant_miss.flag else 'No'}.** {md(c.cant_miss.reason)}")
            if c.cant_miss.excluding_test:
                out += ["", f"**Test that settles it:** {md(c.cant_miss.excluding_test)}"]
        elif section in STATEMENT_FIELDS:
            if section == "therapy":
                out += [f"*{THERAPY_NOTE}*", ""]
            for st in getattr(c, STATEMENT_FIELDS[section]):
                vs = f" *(vs {md(', '.join(st.versus))})*" if st.versus else ""
                out.append(f"- {md(st.text)}{vs}{_cite(numbers, list(st.refs))}")
        elif section == "findings":
            out += [_row(["Kind", "Finding", "Frequency", "", "Source"]), _row(["---"] * 5)]
            estimates: list[str] = []
            for kind, ids in finding_groups(kb, condition_id):
                for fid in ids:
                    ev = c.findings[fid]
                    label = md(kb.finding(fid).label)
                    if ev.estimate is not None:
                        estimates.append(f"{label}: {md(ev.estimate)}")
                        source = f"estimate {len(estimates)}{_cite(numbers, list(ev.refs))}"
                    else:
                        source = _cite(numbers, list(ev.refs)).strip()
                    out.append(_row([kind, label, f"`{_bar(ev.value, 20)}`", _pct(ev.value), source]))
            out += ["", f"*Findings not listed count with the leak probability {kb.leak:g}.*"]
            if estimates:
                out += ["", "Expert estimates (no source gives a figure):", ""]
                out += [f"{i}. {e}" for i, e in enumerate(estimates, 1)]
        elif section == "criteria":
            if not c.criteria:
                out.append("*No formal criteria set is recorded for this condition.*")
            for crit in c.criteria:
                out += [f"**{md(crit.name)}**{_cite(numbers, list(crit.refs))}", "", f"*{md(crit.source)}*", ""]
                for i, item in enumerate(crit.items, 1):
                    note = f" — *{md(item.note)}*" if item.note else ""
                    out.append(f"{i}. {md(item.text)}{note}")
                out += ["", criteria_rule(crit)]
                if crit.note:
                    out += ["", f"*{md(crit.note)}*"]
                out.append("")
        elif section == "tests":
            for t in c.best_tests:
                perf = f" {md(t.performance)}" if t.performance else ""
                out.append(f"- **{md(t.test)}** — {md(t.why)}{perf}{_cite(numbers, list(t.refs))}")
        elif section == "profile":
            out += [_row(["Item", "Value", "Source"]), _row(["---"] * 3)]
            for name, ev, repeat in profile_rows(c):
                src = f"expert estimate: {md(ev.estimate)}" if ev.estimate is not None else md(ev.note or "")
                src = "as above" if repeat else (src + _cite(numbers, list(ev.refs))).strip()
                out.append(_row([name, f"{ev.value:.3g}", src]))
        out.append("")
    if "references" in sections and refs:
        out += ["## References", ""]
        out += [f"{n}. {md(format_reference(r))}" for n, r in enumerate(refs, 1)]
        out.append("")
    out.append(f"*Last reviewed {c.last_reviewed}. {DISCLAIMER}*")
    return "\n".join(out) + "\n"


def comparison_markdown(kb: CompiledKnowledgeBase, cmp: Comparison) -> str:
    """A comparison of conditions as Markdown; highlighted findings are in bold."""
    ids = [c.id for c in cmp.conditions]
    out = ["# Comparison: " + " vs ".join(f"{md(c.name)} (`{c.id}`)" for c in cmp.conditions), ""]
    out += ["## Prior, age and onset profiles", "", _row(["", *ids]), _row(["---"] * (len(ids) + 1))]
    out.append(_row(["prior, children", *[f"{c.prior_child:.3f}" for c in cmp.conditions]]))
    out.append(_row(["prior, adults", *[f"{c.prior_adult:.3f}" for c in cmp.conditions]]))
    for band, *_ in kb.bands:
        out.append(_row([f"age {band} y", *[f"{c.age[band]:.2f}" for c in cmp.conditions]]))
    for onset in cmp.conditions[0].onset:
        out.append(_row([f"onset {onset}", *[f"{c.onset[onset]:.2f}" for c in cmp.conditions]]))
    out += ["", "## Findings at presentation, most discriminating first", ""]
    out += [_row(["Finding", *ids, "Largest likelihood ratio"]), _row(["---"] * (len(ids) + 2))]
    for f in cmp.findings:
        hot = f.finding in cmp.highlighted
        label = md(kb.finding(f.finding).label)
        cells = [_pct(p) if listed else f"({_pct(p)})" for p, listed in zip(f.probabilities, f.listed, strict=True)]
        sep = separation_text(f)
        if hot:
            label, cells, sep = f"**{label}**", [f"**{x}**" for x in cells], f"**{sep}**"
        out.append(_row([label, *cells, sep]))
    out += [
        "",
        f"*Bold: the {len(cmp.highlighted)} findings with the largest likelihood ratio either way. "
        f"(n%) = not listed for that condition; the leak probability {kb.leak:g} is used.*",
        "",
    ]
    if cmp.pitfalls:
        refs = comparison_references(kb, cmp)
        numbers = {r.id: n for n, r in enumerate(refs, 1)}
        out += ["## Pitfalls between these conditions", ""]
        out += [f"- `{cid}`: {md(st.text)}{_cite(numbers, list(st.refs))}" for cid, st in cmp.pitfalls]
        out += ["", "## References", ""]
        out += [f"{n}. {md(format_reference(r))}" for n, r in enumerate(refs, 1)]
        out.append("")
    out.append(f"*{DISCLAIMER}*")
    return "\n".join(out) + "\n"


def suggest_markdown(
    analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None = None, explain: bool = False
) -> str:
    """A suggest result as Markdown: differential, can't-miss list, next findings, criteria, optional ledgers."""
    from oms_cli.reasoning import build_ledger
    from oms_cli.render import CANT_MISS_MARK, effect_text, query_summary, shown

    ranking = shown(analysis.ranking, top)
    out = [f"# Differential — {md(query_summary(ranking, kb))}", ""]
    out += [_row(["#", "Condition", "Probability", "Why", CANT_MISS_MARK]), _row(["---:", "---", "---", "---", ":-:"])]
    for r in ranking.results:
        pos = sorted((c for c in r.contributions if c.log_lr > 0.05), key=lambda c: -c.log_lr)[:2]
        neg = sorted((c for c in r.contributions if c.log_lr < -0.05), key=lambda c: c.log_lr)[:2]
        why = "; ".join(x for x in (", ".join(md(effect_text(kb, c)) for c in group) for group in (pos, neg)) if x)
        out.append(
            _row([str(r.rank), f"{md(r.name)} (`{r.id}`)", f"`{_bar(r.probability)}` {_pct(r.probability)}", why,
                  CANT_MISS_MARK if r.cant_miss else ""])
        )  # fmt: skip
    out.append("")
    if analysis.cant_miss:
        out += [f"## Can't miss (probability ≥ {_pct(analysis.cant_miss_threshold)})", ""]
        for a in analysis.cant_miss:
            test = f" **Exclude with:** {md(a.excluding_test)}" if a.excluding_test else ""
            out.append(f"- **{md(a.name)}** (`{a.id}`) {_pct(a.probability)}.{test} *{md(a.reason)}*")
        out.append("")
    if analysis.next_findings:
        out += ["## Check next (largest expected information gain)", ""]
        for n in analysis.next_findings[:3]:
            out.append(
                f"- **{md(kb.finding(n.finding).label)}**: {n.info_gain_bits:.2f} bits, now {_pct(n.p_present)} "
                f"likely present. If present: `{n.if_present[0][0]}` {_pct(n.if_present[0][1])}; "
                f"if absent: `{n.if_absent[0][0]}` {_pct(n.if_absent[0][1])}."
            )
        out.append("")
    marks = {"met": "✓", "unmet": "✗", "unknown": "?"}
    for c in analysis.criteria:
        out += [f"## Criteria — {md(c.name)}: {c.status} ({c.met} of {len(c.items)} met, {c.required} required)", ""]
        out += [f"- {marks[i.status]} {md(i.text)}" for i in c.items]
        out.append("")
    if explain:
        for r in ranking.results:
            ledger = build_ledger(kb, analysis.ranking, r)
            out += [f"## Ledger — `{r.id}`: posterior {_pct(r.probability)}", ""]
            out += [_row(["Term", "P", "P others", "ln", "Source"]), _row(["---", "---:", "---:", "---:", "---"])]
            for t in ledger.terms:
                label = t.label
                if t.kind == "finding":
                    label = ("no " if t.state == "absent" else "") + kb.finding(t.label).label.lower()
                source = f"*expert estimate:* {md(t.estimate)}" if t.estimate else md(t.note or "")
                if t.refs:
                    source += " [" + ", ".join(md(ref) for ref in t.refs) + "]"
                p_others = f"{t.p_others:.3g}" if t.p_others is not None else ""
                out.append(_row([md(label), f"{t.probability:.3g}", p_others, f"{t.log_value:+.3f}", source]))
            out.append(_row(["**log posterior**", f"{r.probability:.3g}", "", f"{ledger.log_posterior:+.3f}",
                             "sum of the terms minus the log evidence"]))  # fmt: skip
            out.append("")
    out.append(
        f"*{CANT_MISS_MARK} = can't-miss condition. ×/÷ = likelihood ratio against the other conditions. "
        f"Closed world: probabilities cover only these {len(kb.conditions)} conditions. {DISCLAIMER}*"
    )
    return "\n".join(out) + "\n"
