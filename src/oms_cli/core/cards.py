"""Reference cards and comparisons as plain data: which sections, what each shows, citation order, discriminators.

A card is built once here as a list of sections made of neutral blocks (paragraphs, bullets, grids, numbered
lists) whose spans carry a role rather than a style; every output format renders the same blocks its own way.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from oms_cli.core.wording import bar, pct
from oms_cli.errors import InputError
from oms_cli.kb.compiled import CardText, Cited, CompiledKnowledgeBase, Condition, Criteria, Reference, Statement
from oms_cli.kb.terms import normalise

THERAPY_NOTE = "Reference information from the literature, not treatment orders."


class Section(NamedTuple):
    """A card section: the id users type, its title, and the condition field behind it where it is a list."""

    id: str
    title: str
    statements: str | None = None  # the Condition field of cited statements shown as bullets


# Card order follows a clinical reference: what it is, how to recognise it, how to prove it, what to do.
SECTIONS: tuple[Section, ...] = (
    Section("synopsis", "Synopsis"),
    Section("codes", "Codes"),
    Section("cant-miss", "Can't miss"),
    Section("look-for", "What to look for", "look_for"),
    Section("findings", "Findings at presentation"),
    Section("criteria", "Diagnostic criteria"),
    Section("pearls", "Diagnostic pearls", "diagnostic_pearls"),
    Section("pitfalls", "Differential and pitfalls", "differential_pitfalls"),
    Section("tests", "Best tests"),
    Section("management", "Management pearls", "management_pearls"),
    Section("therapy", "Therapy", "therapy"),
    Section("profile", "Prior, age and onset profile"),
    Section("references", "References"),
)
SECTION_IDS: tuple[str, ...] = tuple(s.id for s in SECTIONS)
_BY_ID = {s.id: s for s in SECTIONS}
_SECTION_ALIASES = {
    "diagnostic-pearls": "pearls",
    "differential-pitfalls": "pitfalls",
    "differential": "pitfalls",
    "best-tests": "tests",
    "management-pearls": "management",
    "treatment": "therapy",
    "cantmiss": "cant-miss",
    "red-flags": "cant-miss",
    "chart": "findings",
    "priors": "profile",
    "prior": "profile",
    "age": "profile",
    "onset": "profile",
    "refs": "references",
}
KINDS: tuple[str, ...] = ("eye", "motor", "behaviour", "systemic", "history", "test")
KIND_TITLES = {"test": "work-up (positive result)"}


def resolve_sections(names: Iterable[str]) -> tuple[str, ...]:
    """Canonical card sections for user-given names (any case, aliases allowed), in card order."""
    wanted: set[str] = set()
    for name in names:
        key = normalise(name)
        key = _SECTION_ALIASES.get(key, key)
        if key not in _BY_ID:
            close = difflib.get_close_matches(key, [*SECTION_IDS, *_SECTION_ALIASES], n=1, cutoff=0.6)
            hint = f"; did you mean {_SECTION_ALIASES.get(close[0], close[0])!r}?" if close else ""
            raise InputError(f"unknown section {name!r}{hint} (sections: {', '.join(SECTION_IDS)})")
        wanted.add(key)
    if not wanted:
        return SECTION_IDS
    return tuple(s for s in SECTION_IDS if s in wanted)


# ----------------------------------------------------------------------------- blocks


class Span(NamedTuple):
    """A run of text and its role, which each format draws its own way: "" plain, "strong", "alert" (the can't-miss
    flag), "note" (an aside: source, comparison, caveat), "dim" (secondary detail), "em" (a caution about the whole
    section), "rule" (how criteria combine), "estimate" (an expert estimate), "cite" (reference numbers), "code" (an
    identifier), "bar" (a probability bar)."""

    text: str
    role: str = ""


Line = tuple[Span, ...]


class Para(NamedTuple):
    """One paragraph (a line of spans); `indent` paragraphs belong to the block above them."""

    spans: Line
    indent: bool = False


class Bullets(NamedTuple):
    """A bulleted list."""

    items: tuple[Line, ...]


class Numbered(NamedTuple):
    """A numbered list; `indent` lists sit under the paragraph before them."""

    items: tuple[Line, ...]
    indent: bool = False


class Grid(NamedTuple):
    """A table. Rows may belong to a group (the finding kind), which formats show as heading rows or a column.

    `layout` has a letter per column: l (wraps), n (never wraps), r (right-aligned, never wraps).
    """

    header: tuple[str, ...]
    rows: tuple[tuple[Line, ...], ...]
    layout: str = ""
    groups: tuple[str, ...] = ()  # one per row, or empty
    group_header: str = ""  # the column name when a format shows groups as a column


Block = Para | Bullets | Numbered | Grid


class CardSection(NamedTuple):
    """A section of a card: its id, title and blocks."""

    id: str
    title: str
    blocks: tuple[Block, ...]


class Card(NamedTuple):
    """A reference card limited to the chosen sections; references are numbered in order of first citation."""

    condition: Condition
    text: CardText
    sections: tuple[str, ...]
    body: tuple[CardSection, ...]
    references: tuple[Reference, ...]
    estimates: tuple[tuple[str, str], ...]  # (finding label, rationale) of the findings chart, numbered from 1


def _section_refs(c: Condition, text: CardText, section: str) -> Iterator[str]:
    if section == "synopsis":
        yield from text.synopsis_refs
    elif section == "codes":
        for code in text.codes:
            yield from code.refs
    elif _BY_ID[section].statements:
        for st in getattr(text, _BY_ID[section].statements or ""):
            yield from st.refs
    elif section == "tests":
        for test in text.best_tests:
            yield from test.refs
    elif section == "criteria":
        for crit in c.criteria:
            yield from crit.refs
    elif section == "findings":
        for by_age in sorted(c.findings.values(), key=lambda e: -_headline(e)):
            for ev in by_age.values():
                yield from ev.refs
        for by_age in [*c.groups.values(), *c.composites.values()]:
            for ev in by_age.values():
                yield from ev.refs
    elif section == "profile":
        for ev in [*c.prior.values(), *c.age.values(), *c.onset.values()]:
            yield from ev.refs


def cited_references(kb: CompiledKnowledgeBase, refs: Iterable[str]) -> tuple[Reference, ...]:
    """The references behind these ids, once each, in order of first citation."""
    found = [kb.reference(r) for r in dict.fromkeys(refs)]
    return tuple(r for r in found if r is not None)


def _headline(by_age: dict[str, Cited]) -> float:
    """The larger of a frequency's child and adult values: how a chart orders findings."""
    return max(ev.value for ev in by_age.values())


def age_text(by_age: dict[str, Cited]) -> str:
    """A frequency as a percentage, or "children 45% · adults 12%" when the two differ."""
    child, adult = by_age["child"], by_age["adult"]
    if child.value == adult.value:
        return pct(child.value)
    return f"children {pct(child.value)} · adults {pct(adult.value)}"


def finding_groups(kb: CompiledKnowledgeBase, c: Condition) -> list[tuple[str, list[str]]]:
    """The condition's listed findings grouped by kind (eye, motor, …, test), most frequent first in each group."""
    groups: list[tuple[str, list[str]]] = []
    for kind in KINDS:
        ids = [fid for fid in c.findings if kb.finding(fid).kind == kind]
        ids.sort(key=lambda fid: (-_headline(c.findings[fid]), fid))
        if ids:
            groups.append((kind, ids))
    return groups


def criteria_rule(crit: Criteria) -> str:
    """The rule of a criterion set in words."""
    n = len(crit.items)
    if crit.required == n:
        return f"Met only when all {n} items are present."
    return f"Met when at least {crit.required} of {n} items are present."


class _Cites:
    def __init__(self, refs: tuple[Reference, ...]) -> None:
        self.numbers = {r.id: n for n, r in enumerate(refs, 1)}

    def __call__(self, refs: Iterable[str]) -> Span:
        nums = sorted({self.numbers[r] for r in refs if r in self.numbers})
        return Span(f" [{', '.join(map(str, nums))}]" if nums else "", "cite")


def _statement(st: Statement, cite: _Cites) -> Line:
    versus = (Span(f" (vs {', '.join(st.versus)})", "note"),) if st.versus else ()
    return (Span(st.text), *versus, cite(st.refs))


def _source(ev: Cited, cite: _Cites) -> Line:
    if ev.estimate is not None:
        head: Line = (Span("expert estimate: ", "estimate"), Span(ev.estimate))
    elif ev.note:
        head = (Span(ev.note, "dim"),)
    else:
        head = ()
    return (*head, cite(ev.refs))


def _frequency_cells(
    by_age: dict[str, Cited], label: str, cite: _Cites, estimates: list[tuple[str, str]]
) -> tuple[Line, Line, Line]:
    """The bar, the percentage (children and adults when they differ) and the source of one frequency."""
    child, adult = by_age["child"], by_age["adult"]
    evs = [child] if child == adult else [child, adult]
    refs = [r for ev in evs for r in ev.refs]
    why = [ev.estimate for ev in evs if ev.estimate is not None]
    if why:
        text = (
            why[0]
            if len(evs) == 1
            else " ".join(
                f"{who}: {ev.estimate}" for who, ev in zip(("Children", "Adults"), evs, strict=True) if ev.estimate
            )
        )
        estimates.append((label, text))
        source: Line = (Span(f"estimate {len(estimates)}", "estimate"), cite(refs))
    else:
        source = (cite(refs)._replace(text=cite(refs).text.strip()),)
    return (Span(bar(_headline(by_age), 20), "bar"),), (Span(age_text(by_age)),), source


def profile_rows(c: Condition) -> list[tuple[str, Cited, bool]]:
    """Prior, age and onset rows as (label, evidence, same provenance as the row before)."""
    items = [("prior, children", c.prior["child"]), ("prior, adults", c.prior["adult"])]
    items += [(f"age {band} y", ev) for band, ev in c.age.items()]
    items += [(f"onset {onset}", ev) for onset, ev in c.onset.items()]
    rows: list[tuple[str, Cited, bool]] = []
    previous: tuple[object, ...] | None = None
    for label, ev in items:
        key = (ev.estimate, ev.note, ev.refs)
        rows.append((label, ev, key == previous))
        previous = key
    return rows


def _blocks(
    kb: CompiledKnowledgeBase,
    c: Condition,
    text: CardText,
    section: str,
    cite: _Cites,
    estimates: list[tuple[str, str]],
) -> tuple[Block, ...]:
    """What one section of a card shows, as blocks: the one place that decides each section's content."""
    field = _BY_ID[section].statements
    if section == "synopsis":
        return (Para((Span(text.synopsis), cite(text.synopsis_refs))),)
    if section == "codes":
        rows = tuple(
            ((Span(x.system),), (Span(x.code, "code"),), (Span(x.label),), (Span(x.note or "", "dim"), cite(x.refs)))
            for x in text.codes
        )
        return (Grid(("System", "Code", "Label", "Note"), rows, "llll"),)
    if section == "cant-miss":
        out: list[Block] = [
            Para(
                (
                    Span("yes — " if c.cant_miss else "no — ", "alert" if c.cant_miss else "strong"),
                    Span(c.cant_miss_reason),
                )
            )
        ]
        if c.excluding_test:
            out.append(Para((Span("Test that settles it: ", "strong"), Span(c.excluding_test))))
        return tuple(out)
    if field is not None:
        items = getattr(text, field)
        head: list[Block] = [Para((Span(THERAPY_NOTE, "em"),))] if section == "therapy" else []
        if not items:
            return (*head, Para((Span("(none recorded)", "dim"),)))
        return (*head, Bullets(tuple(_statement(st, cite) for st in items)))
    if section == "findings":
        rows_f: list[tuple[Line, ...]] = []
        groups: list[str] = []
        for kind, ids in finding_groups(kb, c):
            for fid in ids:
                by_age = c.findings[fid]
                label = kb.finding(fid).label
                rows_f.append(((Span(label),), *_frequency_cells(by_age, label, cite, estimates)))
                groups.append(KIND_TITLES.get(kind, kind))
        for gid, by_age in c.groups.items():
            label = f"at least one of: {kb.group(gid).label}"
            rows_f.append(((Span(label),), *_frequency_cells(by_age, label, cite, estimates)))
            groups.append("groups of overlapping findings")
        for xid, by_age in c.composites.items():
            comp = kb.composite(xid)
            label = f"{comp.label}: {comp.positive}"
            rows_f.append(((Span(label),), *_frequency_cells(by_age, label, cite, estimates)))
            groups.append("examinations read as a whole")
        out_f: list[Block] = [
            Grid(("Finding", "Frequency", "", "Source"), tuple(rows_f), "lnrl", tuple(groups), "Kind"),
            Para(
                (
                    Span(
                        "Findings not listed take their background rate among presenting patients "
                        "(oms-dx findings lists them).",
                        "note",
                    ),
                )
            ),
        ]
        if estimates:
            out_f.append(Para((Span("Expert estimates (no source gives a figure):", "estimate"),)))
            out_f.append(
                Numbered(tuple((Span(f"{label}: ", "dim"), Span(why, "dim")) for label, why in estimates), True)
            )
        return tuple(out_f)
    if section == "criteria":
        if not c.criteria:
            return (Para((Span("No formal criteria set is recorded for this condition.", "note"),)),)
        out_c: list[Block] = []
        for crit in c.criteria:
            out_c.append(Para((Span(crit.name, "strong"), cite(crit.refs))))
            out_c.append(Para((Span(crit.source, "note"),)))
            out_c.append(
                Numbered(
                    tuple(
                        (Span(item.text), *((Span(" — "), Span(item.note, "note")) if item.note else ()))
                        for item in crit.items
                    ),
                    True,
                )
            )
            out_c.append(Para((Span(criteria_rule(crit), "rule"),), indent=True))
            if crit.note:
                out_c.append(Para((Span(crit.note, "note"),), indent=True))
        return tuple(out_c)
    if section == "tests":
        return (
            Bullets(
                tuple(
                    (
                        Span(t.test, "strong"),
                        Span(f" — {t.why}"),
                        *((Span(f" {t.performance}", "dim"),) if t.performance else ()),
                        cite(t.refs),
                    )
                    for t in text.best_tests
                )
            ),
        )
    if section == "profile":
        rows_p = []
        for label, ev, repeat in profile_rows(c):
            shown_bar = (Span(bar(ev.value), "bar"),) if not label.startswith("prior") else (Span(""),)
            source_p = (Span("as above", "dim"),) if repeat else _source(ev, cite)
            rows_p.append(((Span(label),), (Span(f"{ev.value:.3g}"),), shown_bar, source_p))
        return (Grid(("Item", "Value", "", "Source"), tuple(rows_p), "llll"),)
    if section == "references":
        return ()
    raise AssertionError(f"card section {section!r} has no content rule")


def build_card(kb: CompiledKnowledgeBase, condition_id: str, sections: tuple[str, ...]) -> Card:
    """The reference card of one condition, limited to the chosen sections."""
    c = kb.condition(condition_id)
    text = kb.card_text(condition_id)
    # The references are those the chosen sections cite, so that notes made of a few sections still carry their
    # sources; asking for the references alone gives every reference of the card.
    citing = sections if sections != ("references",) else tuple(s.id for s in SECTIONS)
    refs = cited_references(kb, (r for s in citing for r in _section_refs(c, text, s)))
    cite = _Cites(refs)
    estimates: list[tuple[str, str]] = []
    body = tuple(
        CardSection(s, _BY_ID[s].title, _blocks(kb, c, text, s, cite, estimates)) for s in sections if s != "references"
    )
    return Card(c, text, sections, body, refs, tuple(estimates))


# ----------------------------------------------------------------------------- comparison


class FindingComparison(NamedTuple):
    """One finding across the compared conditions and the likelihood ratio that separates them most."""

    finding: str
    probabilities: tuple[float, ...]
    listed: tuple[bool, ...]
    log_lr: float
    state: str
    favours: str
    against: str

    @property
    def discrimination(self) -> float:
        """Size of the largest likelihood ratio either way, in natural-log units."""
        return abs(self.log_lr)


class Comparison(NamedTuple):
    """Conditions side by side: findings ordered by how well they separate them, and shared pitfalls."""

    conditions: tuple[Condition, ...]
    findings: tuple[FindingComparison, ...]
    highlighted: tuple[str, ...]
    pitfalls: tuple[tuple[str, Statement], ...]
    references: tuple[Reference, ...]  # cited by the pitfalls, in order of first citation


def _best_pair(ids: list[str], values: list[float]) -> tuple[float, str, str]:
    hi = max(range(len(values)), key=lambda i: (values[i], -i))
    lo = min((i for i in range(len(values)) if i != hi), key=lambda i: (values[i], i))
    return math.log(values[hi] / values[lo]), ids[hi], ids[lo]


def compare(
    kb: CompiledKnowledgeBase, condition_ids: list[str], highlight: int = 5, age_group: str | None = None
) -> Comparison:
    """Compare two or more conditions (for children, adults, or both averaged); the `highlight` most discriminating
    findings are marked."""
    ids = list(dict.fromkeys(kb.resolve_condition(t) for t in condition_ids))
    if len(ids) < 2:
        raise InputError("compare needs at least two different conditions")
    from oms_cli.core.engine import tables  # here, not at the top: a card (`show`) needs none of the engine

    conds = tuple(kb.condition(cid) for cid in ids)
    t = tables(kb)
    rows_index = [t.index[cid] for cid in ids]
    listed_anywhere = [f for f in kb.finding_ids if any(f in c.findings for c in conds)]
    rows: list[FindingComparison] = []
    for fid in listed_anywhere:
        # Frequencies at an unknown age: the mean of the child and adult values where they differ.
        given = t.marginal(age_group, fid)
        probs = [given[i] for i in rows_index]
        present = _best_pair(ids, probs)
        absent = _best_pair(ids, [1.0 - p for p in probs])
        # Prefer the "present" reading on ties (up to rounding): it is how findings are usually reported.
        use_present = present[0] >= absent[0] - 1e-9
        log_lr, favours, against = present if use_present else absent
        rows.append(
            FindingComparison(
                finding=fid,
                probabilities=tuple(probs),
                listed=tuple(fid in c.findings for c in conds),
                log_lr=log_lr,
                state="present" if use_present else "absent",
                favours=favours,
                against=against,
            )
        )
    rows.sort(key=lambda r: (-r.discrimination, r.finding))
    top = tuple(r.finding for r in rows[: max(highlight, 0)] if r.discrimination > 0)
    pitfalls = tuple(
        (c.id, st)
        for c in conds
        for st in kb.card_text(c.id).differential_pitfalls
        if any(other in st.versus for other in ids if other != c.id)
    )
    refs = cited_references(kb, (r for _cid, st in pitfalls for r in st.refs))
    return Comparison(conditions=conds, findings=tuple(rows), highlighted=top, pitfalls=pitfalls, references=refs)


def separation_text(f: FindingComparison, names: dict[str, str] | None = None) -> str:
    """How a finding best separates the compared conditions: which state, which condition, by what factor."""
    tag = names or {}
    if f.discrimination < 1e-9:
        return "no difference"
    lr = math.exp(f.log_lr)
    factor = f"{lr:.0f}" if lr >= 10 else f"{lr:.1f}"
    return f"if {f.state}: {tag.get(f.favours, f.favours)} ×{factor} over {tag.get(f.against, f.against)}"
