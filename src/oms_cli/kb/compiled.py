"""The one runtime form of a knowledge base: plain records (numbers, card text, references) and term resolution.

It is derived by code from a validated file (`compile_kb`), never written by hand, and it is plain data —
NamedTuples, dicts, strings and floats — so that it can be cached and rebuilt without importing pydantic.
NamedTuples rather than dataclasses: they are several times cheaper to define, and start-up is paid on every call.
"""

import difflib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_cli.errors import InputError, UnknownConditionError, UnknownFindingError
from oms_cli.kb.terms import HPO_TOKEN, normalise

if TYPE_CHECKING:
    from oms_cli.kb import schema
    from oms_cli.kb.hpo import HpoMapper

# Bumped whenever the records below change shape, so that old cache entries are rebuilt rather than misread.
COMPILED_FORMAT = "7"
_RESOLVED_MEMO = 4096


class Cited:
    """A number of the knowledge base with its sources, or the rationale when it is an expert estimate.

    Read from the cache, only the number is decoded at start-up; the sources come from the second part of the
    cache entry the first time any of them is asked for (ranking needs numbers; ledgers and cards need sources).
    """

    __slots__ = ("_book", "_estimate", "_index", "_note", "_refs", "value")

    def __init__(
        self, value: float, refs: tuple[str, ...] = (), estimate: str | None = None, note: str | None = None
    ) -> None:
        self.value = value
        self._refs, self._estimate, self._note = refs, estimate, note
        self._book: _Provenance | None = None
        self._index = -1

    @classmethod
    def later(cls, value: float, book: "_Provenance", index: int) -> "Cited":
        """A number whose sources are entry `index` of `book`, read when first needed."""
        cited = cls.__new__(cls)
        cited.value, cited._book, cited._index = value, book, index
        return cited

    def _resolve(self) -> None:
        if self._book is not None:
            self._refs, self._estimate, self._note = self._book.entry(self._index)
            self._book = None

    @property
    def refs(self) -> tuple[str, ...]:
        """Reference ids behind the number."""
        self._resolve()
        return self._refs

    @property
    def estimate(self) -> str | None:
        """The reasoning, when the number is an expert estimate."""
        self._resolve()
        return self._estimate

    @property
    def note(self) -> str | None:
        """How the number was read or derived from the sources."""
        self._resolve()
        return self._note

    def replace(self, **changes: Any) -> "Cited":
        """A copy with some fields changed."""
        fields = {"value": self.value, "refs": self.refs, "estimate": self.estimate, "note": self.note}
        return Cited(**{**fields, **changes})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Cited):
            return NotImplemented
        return (self.value, self.refs, self.estimate, self.note) == (
            other.value,
            other.refs,
            other.estimate,
            other.note,
        )

    def __hash__(self) -> int:
        return hash(self.value)

    def __repr__(self) -> str:
        return f"Cited(value={self.value!r}, refs={self.refs!r}, estimate={self.estimate!r}, note={self.note!r})"


class _Provenance:
    """The sources of every number, as (refs, estimate, note), decoded on first use."""

    def __init__(self, load: Callable[[], list[Any]]) -> None:
        self._load = load
        self._entries: list[Any] | None = None

    def entry(self, index: int) -> tuple[tuple[str, ...], str | None, str | None]:
        if self._entries is None:
            self._entries = self._load()
        refs, estimate, note = self._entries[index]
        return tuple(refs), estimate, note


ByAge = dict[str, Cited]  # keyed by age group, "child" and "adult" (the same record twice when the file gives one)


class Finding(NamedTuple):
    """A vocabulary entry: what it means, how it is named, where it nests, and how common it is in general."""

    id: str
    label: str
    kind: str  # history, eye, motor, systemic, behaviour, or test (a work-up result)
    definition: str
    synonyms: tuple[str, ...]
    hpo: str | None
    within: str | None  # the broader finding this one is a kind of
    implies_onset: str | None  # the onset tempo entering this finding implies
    burden: str | None  # tests: what it costs the patient
    background: ByAge  # frequency among all presenting patients; used where a condition does not list it


class Group(NamedTuple):
    """Findings that overlap without nesting; at least one member present is the group's event."""

    id: str
    label: str
    definition: str
    members: tuple[str, ...]
    dependence: Cited


class Composite(NamedTuple):
    """An examination scored as a whole once every sign is known (the HINTS examination)."""

    id: str
    label: str
    definition: str
    positive: str
    negative: str
    signs: tuple[tuple[str, str], ...]  # (finding id, the state that makes the composite positive)
    applies_when: tuple[str, ...]


class Other(NamedTuple):
    """Presentations with a cause outside the knowledge base: its age and onset profile (findings: background)."""

    label: str
    description: str
    age: dict[str, Cited]
    onset: dict[str, Cited]
    composites: dict[str, ByAge]


class Population(NamedTuple):
    """Who the priors and background rates describe, for one age group."""

    description: str
    refs: tuple[str, ...]


class AgeBand(NamedTuple):
    """An age band in years, [min_years, max_years), of the child or adult group."""

    id: str
    min_years: float
    max_years: float
    group: str


class Code(NamedTuple):
    """A code of a coding system for a condition, with its sources."""

    system: str
    code: str
    label: str
    note: str | None
    refs: tuple[str, ...]


class Statement(NamedTuple):
    """One cited statement of a reference card; `versus` names the conditions it contrasts."""

    text: str
    refs: tuple[str, ...]
    versus: tuple[str, ...]


class BestTest(NamedTuple):
    """A test worth ordering: what, why, how good it is, and the sources."""

    test: str
    why: str
    performance: str | None
    refs: tuple[str, ...]


class CriterionItem(NamedTuple):
    """One item of a criterion set and the finding ids that satisfy it."""

    id: str
    text: str
    findings: tuple[str, ...]
    note: str | None


class Criteria(NamedTuple):
    """A published criterion set: at least `required` of its items must be met."""

    id: str
    name: str
    source: str
    refs: tuple[str, ...]
    required: int
    items: tuple[CriterionItem, ...]
    note: str | None


class Reference(NamedTuple):
    """A full bibliographic reference."""

    id: str
    authors: str
    year: int
    title: str
    journal: str
    pmid: str | None
    doi: str | None
    url: str | None


class CardText(NamedTuple):
    """The text of a condition's reference card (loaded on first use: ranking never needs it)."""

    codes: tuple[Code, ...]
    synopsis: str
    synopsis_refs: tuple[str, ...]
    look_for: tuple[Statement, ...]
    diagnostic_pearls: tuple[Statement, ...]
    differential_pitfalls: tuple[Statement, ...]
    best_tests: tuple[BestTest, ...]
    management_pearls: tuple[Statement, ...]
    therapy: tuple[Statement, ...]
    last_reviewed: str


class Condition(NamedTuple):
    """A condition: the numbers the engine needs, each with its sources, its can't-miss text and criteria."""

    id: str
    name: str
    aliases: tuple[str, ...]
    cant_miss: bool
    cant_miss_reason: str
    excluding_test: str | None
    prior: ByAge  # share of all presentations in each population
    age: dict[str, Cited]  # keyed by age band id
    onset: dict[str, Cited]  # keyed by onset tempo
    findings: dict[str, ByAge]  # keyed by finding id
    groups: dict[str, ByAge]  # frequency of at least one member, keyed by group id
    composites: dict[str, ByAge]  # frequency of a positive composite examination, keyed by composite id
    criteria: tuple[Criteria, ...]


class CompiledKnowledgeBase:
    """A validated knowledge base as plain records, with lookups and term resolution."""

    def __init__(
        self,
        *,
        source: str,
        content_key: str,
        kb_version: str,
        populations: dict[str, Population],
        bands: tuple[AgeBand, ...],
        findings: tuple[Finding, ...],
        groups: tuple[Group, ...],
        composites: tuple[Composite, ...],
        conditions: tuple[Condition, ...],
        other: Other,
        details: Callable[[], tuple[dict[str, CardText], tuple[Reference, ...]]],
        terms: tuple[dict[str, str], dict[str, str]] | None = None,
    ) -> None:
        self.source = source
        self.content_key = content_key
        self.kb_version = kb_version
        self.populations = populations
        self.bands = bands
        self.findings = findings
        self.groups = groups
        self.composites = composites
        self.conditions = conditions
        self.other = other
        self._load_details = details
        self._details: tuple[dict[str, CardText], tuple[Reference, ...]] | None = None
        self.finding_ids = tuple(f.id for f in findings)
        self.condition_ids = tuple(c.id for c in conditions)
        self._findings_by_id = {f.id: f for f in findings}
        self._groups_by_id = {g.id: g for g in groups}
        self._composites_by_id = {x.id: x for x in composites}
        self._conditions_by_id = {c.id: c for c in conditions}
        # Term tables map every normalised id, label, synonym, alias and code to a canonical id; they are derived
        # once when compiling and travel with the cache, since normalising every term costs start-up time.
        self.finding_terms, self.condition_terms = terms if terms is not None else term_tables(findings, conditions)
        self._resolved: dict[str, str] = {}
        self._hpo: HpoMapper | None = None

    def finding(self, finding_id: str) -> Finding:
        """The vocabulary entry of a canonical finding id."""
        return self._findings_by_id[finding_id]

    def group(self, group_id: str) -> Group:
        """The finding group of a group id."""
        return self._groups_by_id[group_id]

    def composite(self, composite_id: str) -> Composite:
        """The composite examination of an id."""
        return self._composites_by_id[composite_id]

    def condition(self, condition_id: str) -> Condition:
        """The condition of a canonical condition id."""
        return self._conditions_by_id[condition_id]

    def _loaded(self) -> tuple[dict[str, CardText], tuple[Reference, ...]]:
        if self._details is None:
            self._details = self._load_details()
            self._references_by_id = {r.id: r for r in self._details[1]}
        return self._details

    @property
    def references(self) -> tuple[Reference, ...]:
        """Every reference of the knowledge base (loaded on first use)."""
        return self._loaded()[1]

    def reference(self, ref_id: str) -> Reference | None:
        """The full reference of a reference id, or None when there is none."""
        self._loaded()
        return self._references_by_id.get(ref_id)

    def card_text(self, condition_id: str) -> CardText:
        """The reference-card text of a condition (loaded on first use)."""
        return self._loaded()[0][condition_id]

    def resolve_finding(self, term: str) -> str:
        """Map an id, synonym or HPO id (any case, spaces or underscores) to the canonical finding id.

        An HPO id below the vocabulary's counts as its nearest vocabulary ancestor (as an observed finding); when
        it has several, UnknownFindingError names them. `resolve_findings` maps absent terms and several ancestors.
        """
        known = self._resolved.get(term)
        if known is not None:
            return known
        hpo = HPO_TOKEN.match(term.strip())
        key = f"HP:{hpo.group(1)}" if hpo else normalise(term)
        found = self.finding_terms.get(key)
        if found is not None:
            # Batch runs repeat the same spellings; a bounded memo saves normalising them each time.
            if len(self._resolved) < _RESOLVED_MEMO:
                self._resolved[term] = found
            return found
        if hpo:
            mapper = self.hpo_mapper()
            mapped = mapper.present(key)
            if len(mapped) == 1:
                return mapped[0]
            raise UnknownFindingError(term, list(mapped), _unmapped(mapper, mapped))
        raise UnknownFindingError(term, _close(key, self.finding_terms))

    def resolve_findings(self, term: str, absent: bool = False) -> tuple[str, ...]:
        """The canonical finding ids a term stands for, as a present or an absent finding.

        A name, synonym or vocabulary HPO id stands for its one finding either way. Another HPO id stands, when
        present, for its nearest vocabulary ancestors; when absent, for the findings whose HPO id it is or lies
        above (an absent narrower term says nothing about the broader finding, and is refused).
        """
        known = self._resolved.get(term)
        if known is not None:
            return (known,)
        hpo = HPO_TOKEN.match(term.strip())
        if hpo is None or f"HP:{hpo.group(1)}" in self.finding_terms:
            return (self.resolve_finding(term),)
        key = f"HP:{hpo.group(1)}"
        mapper = self.hpo_mapper()
        found = mapper.absent(key) if absent else mapper.present(key)
        if found:
            return found
        broader = mapper.present(key) if absent else ()
        if not broader:
            raise UnknownFindingError(term, [], _unmapped(mapper, ()))
        names = " or ".join(repr(f) for f in broader)
        raise InputError(
            f"{term} is narrower than {names}: its absence says nothing about {names} "
            f"(HPO {mapper.table.release}); give {names} as absent if it is"
        )

    def hpo_mapper(self) -> "HpoMapper":
        """The mapping of HPO ids onto this vocabulary (reads the descendant table on first use)."""
        if self._hpo is None:
            from oms_cli.kb.hpo import HpoMapper, load_table

            self._hpo = HpoMapper({f.hpo: f.id for f in self.findings if f.hpo}, load_table())
        return self._hpo

    def resolve_condition(self, term: str) -> str:
        """Map a condition id, name, alias or code (any case) to the canonical condition id."""
        key = normalise(term)
        found = self.condition_terms.get(key)
        if found is not None:
            return found
        raise UnknownConditionError(term, _close(key, self.condition_terms))

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled for batch workers that start as fresh interpreters: the records travel, the memos do not.
        return (_unpickle, (*self.cache_parts(), self.source))

    def cache_parts(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """The compiled form as plain dicts, lists, strings and numbers, keyed by field name, in two parts: what
        ranking needs (every number as [value, index of its sources]) and the rest (the sources, card text and
        references), which is decoded only when asked for."""
        sources: list[Any] = []
        core = _plain(self._core(), sources)
        texts, references = self._loaded()
        return core, {"sources": sources, "texts": _plain(texts), "references": _plain(references)}

    def _core(self) -> dict[str, Any]:
        return {
            "compiled_format": COMPILED_FORMAT,
            "content_key": self.content_key,
            "kb_version": self.kb_version,
            "populations": self.populations,
            "bands": self.bands,
            "findings": self.findings,
            "groups": self.groups,
            "composites": self.composites,
            "conditions": self.conditions,
            "other": self.other,
            "finding_terms": self.finding_terms,
            "condition_terms": self.condition_terms,
        }


def _unmapped(mapper: "HpoMapper", several: tuple[str, ...]) -> str:
    release = mapper.table.release
    if several:
        return f"below several findings in HPO {release}; enter the one meant"
    return f"neither an HPO id of the vocabulary nor below one in HPO {release}"


def _close(key: str, terms: dict[str, str]) -> list[str]:
    matches = difflib.get_close_matches(key, list(terms), n=3, cutoff=0.6)
    return list(dict.fromkeys(terms[m] for m in matches))


def _plain(obj: Any, sources: list[Any] | None = None) -> Any:
    """Records as dicts by field name, tuples as lists: the shape marshal stores and `from_data` reads. With a
    `sources` list, a number becomes [value, index] and its sources are appended there."""
    if isinstance(obj, Cited):
        if sources is None:
            return {"value": obj.value, "refs": list(obj.refs), "estimate": obj.estimate, "note": obj.note}
        sources.append([list(obj.refs), obj.estimate, obj.note])
        return [obj.value, len(sources) - 1]
    if isinstance(obj, tuple) and hasattr(obj, "_fields"):
        return {k: _plain(v, sources) for k, v in zip(obj._fields, obj, strict=True)}
    if isinstance(obj, (tuple, list)):
        return [_plain(v, sources) for v in obj]
    if isinstance(obj, dict):
        return {k: _plain(v, sources) for k, v in obj.items()}
    return obj


_BOOK: _Provenance | None = None  # the sources of the knowledge base `from_data` is reading


def _cited(d: list[Any]) -> Cited:
    assert _BOOK is not None
    return Cited.later(d[0], _BOOK, d[1])


def _by_age(d: dict[str, Any]) -> ByAge:
    return {k: _cited(v) for k, v in d.items()}


def _statements(items: list[dict[str, Any]]) -> tuple[Statement, ...]:
    return tuple(Statement(s["text"], tuple(s["refs"]), tuple(s["versus"])) for s in items)


def _condition(d: dict[str, Any]) -> Condition:
    return Condition(
        id=d["id"],
        name=d["name"],
        aliases=tuple(d["aliases"]),
        cant_miss=bool(d["cant_miss"]),
        cant_miss_reason=d["cant_miss_reason"],
        excluding_test=d["excluding_test"],
        prior=_by_age(d["prior"]),
        age={k: _cited(v) for k, v in d["age"].items()},
        onset={k: _cited(v) for k, v in d["onset"].items()},
        findings={k: _by_age(v) for k, v in d["findings"].items()},
        groups={k: _by_age(v) for k, v in d["groups"].items()},
        composites={k: _by_age(v) for k, v in d["composites"].items()},
        criteria=tuple(
            Criteria(
                cr["id"],
                cr["name"],
                cr["source"],
                tuple(cr["refs"]),
                int(cr["required"]),
                tuple(CriterionItem(i["id"], i["text"], tuple(i["findings"]), i["note"]) for i in cr["items"]),
                cr["note"],
            )
            for cr in d["criteria"]
        ),
    )


def _card_text(d: dict[str, Any]) -> CardText:
    return CardText(
        codes=tuple(Code(x["system"], x["code"], x["label"], x["note"], tuple(x["refs"])) for x in d["codes"]),
        synopsis=d["synopsis"],
        synopsis_refs=tuple(d["synopsis_refs"]),
        look_for=_statements(d["look_for"]),
        diagnostic_pearls=_statements(d["diagnostic_pearls"]),
        differential_pitfalls=_statements(d["differential_pitfalls"]),
        best_tests=tuple(BestTest(t["test"], t["why"], t["performance"], tuple(t["refs"])) for t in d["best_tests"]),
        management_pearls=_statements(d["management_pearls"]),
        therapy=_statements(d["therapy"]),
        last_reviewed=d["last_reviewed"],
    )


def details_from_data(data: dict[str, Any]) -> tuple[dict[str, CardText], tuple[Reference, ...]]:
    """Card text and references from the second part of `cache_parts()`."""
    texts = {cid: _card_text(d) for cid, d in data["texts"].items()}
    return texts, tuple(Reference(**r) for r in data["references"])


def _unpickle(data: dict[str, Any], details: dict[str, Any], source: str) -> CompiledKnowledgeBase:
    return from_data(data, source, lambda: details)


def from_data(data: dict[str, Any], source: str, details: Callable[[], dict[str, Any]]) -> CompiledKnowledgeBase:
    """Rebuild the compiled form from the first part of `cache_parts()`, with a function that returns the second
    part when first needed; raises (KeyError, TypeError, ValueError, IndexError) on any mismatch."""
    global _BOOK
    if data["compiled_format"] != COMPILED_FORMAT:
        raise ValueError("compiled format changed")
    second: list[dict[str, Any]] = []

    def part() -> dict[str, Any]:
        if not second:
            second.append(details())
        return second[0]

    _BOOK = _Provenance(lambda: part()["sources"])
    try:
        return _build(data, source, lambda: details_from_data(part()))
    finally:
        _BOOK = None


def _build(
    data: dict[str, Any], source: str, details: Callable[[], tuple[dict[str, CardText], tuple[Reference, ...]]]
) -> CompiledKnowledgeBase:
    return CompiledKnowledgeBase(
        source=source,
        content_key=data["content_key"],
        kb_version=data["kb_version"],
        populations={k: Population(p["description"], tuple(p["refs"])) for k, p in data["populations"].items()},
        bands=tuple(AgeBand(b["id"], float(b["min_years"]), float(b["max_years"]), b["group"]) for b in data["bands"]),
        findings=tuple(
            Finding(
                f["id"],
                f["label"],
                f["kind"],
                f["definition"],
                tuple(f["synonyms"]),
                f["hpo"],
                f["within"],
                f["implies_onset"],
                f["burden"],
                _by_age(f["background"]),
            )
            for f in data["findings"]
        ),
        groups=tuple(
            Group(g["id"], g["label"], g["definition"], tuple(g["members"]), _cited(g["dependence"]))
            for g in data["groups"]
        ),
        composites=tuple(
            Composite(
                x["id"],
                x["label"],
                x["definition"],
                x["positive"],
                x["negative"],
                tuple((f, state) for f, state in x["signs"]),
                tuple(x["applies_when"]),
            )
            for x in data["composites"]
        ),
        conditions=tuple(_condition(c) for c in data["conditions"]),
        details=details,
        other=Other(
            data["other"]["label"],
            data["other"]["description"],
            {k: _cited(v) for k, v in data["other"]["age"].items()},
            {k: _cited(v) for k, v in data["other"]["onset"].items()},
            {k: _by_age(v) for k, v in data["other"]["composites"].items()},
        ),
        terms=(data["finding_terms"], data["condition_terms"]),
    )


def term_tables(
    findings: Iterable[Finding], conditions: Iterable[Condition], curies: dict[str, list[str]] | None = None
) -> tuple[dict[str, str], dict[str, str]]:
    """Every way of naming a finding or a condition, normalised, mapped to its canonical id."""
    finding_terms: dict[str, str] = {}
    for f in findings:
        for t in (f.id, f.label, *f.synonyms):
            finding_terms.setdefault(normalise(t), f.id)
        if f.hpo:
            finding_terms[f.hpo] = f.id
    condition_terms: dict[str, str] = {}
    for c in conditions:
        for t in (c.id, c.name, *c.aliases, *(curies or {}).get(c.id, ())):
            condition_terms.setdefault(normalise(t), c.id)
    return finding_terms, condition_terms


# Code systems whose codes name one disorder, so they can identify a condition (phenopacket diagnoses,
# `show ORPHA:1183`), as CURIE prefixes. ICD-10-CM codes are not among them: the knowledge base lists
# shared symptom codes (R27.0 ataxia, G25.3 myoclonus) that would point at several conditions.
CURIE_PREFIXES = {"ORPHA": ("ORPHA", "Orphanet"), "SNOMED CT": ("SNOMEDCT",)}


def _c(ev: "schema.Evidence") -> Cited:
    return Cited(ev.value, tuple(ev.refs), ev.estimate, ev.note)


def _a(ev: "schema.Evidence | schema.ByAge") -> ByAge:
    child = getattr(ev, "child", None)  # a ByAge; the schema module (pydantic) is not imported at run time here
    if child is None:
        one = _c(ev)  # type: ignore[arg-type]
        return {"child": one, "adult": one}
    return {"child": _c(child), "adult": _c(ev.adult)}  # type: ignore[union-attr]


def _st(items: Iterable["schema.Statement"]) -> tuple[Statement, ...]:
    return tuple(Statement(s.text, tuple(s.refs), tuple(s.versus)) for s in items)


def compile_kb(kb: "schema.KnowledgeBase", source: str, key: str = "") -> CompiledKnowledgeBase:
    """Reduce a validated knowledge base to plain records and term tables."""
    conditions = tuple(
        Condition(
            id=c.id,
            name=c.name,
            aliases=tuple(c.aliases),
            cant_miss=c.cant_miss.flag,
            cant_miss_reason=c.cant_miss.reason,
            excluding_test=c.cant_miss.excluding_test,
            prior={"child": _c(c.prior.child), "adult": _c(c.prior.adult)},
            age={b: _c(e) for b, e in c.age_profile.items()},
            onset={o: _c(e) for o, e in c.onset_profile.items()},
            findings={f: _a(e) for f, e in c.findings.items()},
            groups={g: _a(e) for g, e in c.groups.items()},
            composites={x: _a(e) for x, e in c.composites.items()},
            criteria=tuple(
                Criteria(
                    cr.id,
                    cr.name,
                    cr.source,
                    tuple(cr.refs),
                    cr.required,
                    tuple(CriterionItem(i.id, i.text, tuple(i.findings), i.note) for i in cr.items),
                    cr.note,
                )
                for cr in c.criteria
            ),
        )
        for c in kb.conditions
    )
    texts = {
        c.id: CardText(
            codes=tuple(Code(x.system, x.code, x.label, x.note, tuple(x.refs)) for x in c.codes),
            synopsis=c.synopsis,
            synopsis_refs=tuple(c.synopsis_refs),
            look_for=_st(c.look_for),
            diagnostic_pearls=_st(c.diagnostic_pearls),
            differential_pitfalls=_st(c.differential_pitfalls),
            best_tests=tuple(BestTest(t.test, t.why, t.performance, tuple(t.refs)) for t in c.best_tests),
            management_pearls=_st(c.management_pearls),
            therapy=_st(c.therapy),
            last_reviewed=c.last_reviewed,
        )
        for c in kb.conditions
    }
    references = tuple(
        Reference(r.id, r.authors, r.year, r.title, r.journal, r.pmid, r.doi, r.url) for r in kb.references
    )
    findings = tuple(
        Finding(
            f.id, f.label, f.kind, f.definition, tuple(f.synonyms), f.hpo, f.within, f.implies_onset, f.burden,
            _a(f.background),
        )
        for f in kb.findings
    )  # fmt: skip
    curies = {
        c.id: [f"{prefix}:{code.code}" for code in c.codes for prefix in CURIE_PREFIXES.get(code.system, ())]
        for c in kb.conditions
    }
    return CompiledKnowledgeBase(
        source=source,
        content_key=key,
        kb_version=kb.kb_version,
        populations={
            "child": Population(kb.populations.child.description, tuple(kb.populations.child.refs)),
            "adult": Population(kb.populations.adult.description, tuple(kb.populations.adult.refs)),
        },
        bands=tuple(AgeBand(b.id, b.min_years, b.max_years, b.group) for b in kb.age_bands),
        findings=findings,
        groups=tuple(Group(g.id, g.label, g.definition, tuple(g.members), _c(g.dependence)) for g in kb.finding_groups),
        composites=tuple(
            Composite(
                x.id,
                x.label,
                x.definition,
                x.positive,
                x.negative,
                tuple((sign.finding, sign.positive_when) for sign in x.signs),
                tuple(x.applies_when),
            )
            for x in kb.composites
        ),
        conditions=conditions,
        other=Other(
            kb.other.label,
            kb.other.description,
            {b: _c(e) for b, e in kb.other.age_profile.items()},
            {o: _c(e) for o, e in kb.other.onset_profile.items()},
            {x: _a(e) for x, e in kb.other.composites.items()},
        ),
        details=lambda: (texts, references),
        terms=term_tables(findings, conditions, curies),
    )
