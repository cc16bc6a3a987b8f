"""The one runtime form of a knowledge base: plain records (numbers, card text, references) and term resolution.

It is derived by code from a validated file (`compile_kb`), never written by hand, and it is plain data —
NamedTuples, dicts, strings and floats — so that it can be cached and rebuilt without importing pydantic.
NamedTuples rather than dataclasses: they are several times cheaper to define, and start-up is paid on every call.
"""

import math
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from oms_cli.errors import InputError, KnowledgeBaseError, Problem, UnknownConditionError, UnknownFindingError
from oms_cli.kb.terms import ADULT_AGE_YEARS, AGE_GROUPS, HPO_TOKEN, ONSETS, normalise

if TYPE_CHECKING:
    from oms_cli.kb import schema
    from oms_cli.kb.hpo import HpoMapper

# Bumped whenever the records below change shape, so that old cache entries are rebuilt rather than misread.
COMPILED_FORMAT = "8"
_RESOLVED_MEMO = 4096


_K = TypeVar("_K")
_V = TypeVar("_V")


def derived(build: Callable[[_K], _V]) -> Callable[[_K], _V]:
    """`build(obj)`, computed once per live object and dropped with it: for the tables that the engine, the
    vectorised scorer and the record writer derive from a knowledge base (which is immutable once compiled)."""
    import weakref

    made: weakref.WeakKeyDictionary[Any, _V] = weakref.WeakKeyDictionary()

    def get(obj: _K) -> _V:
        found = made.get(obj)
        if found is None:
            found = made[obj] = build(obj)
        return found

    return get


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
    """The sources of every number, as (refs, estimate, note), decoded and checked on first use."""

    def __init__(self, load: Callable[[], list[tuple[tuple[str, ...], str | None, str | None]]]) -> None:
        self._load = load
        self._entries: list[tuple[tuple[str, ...], str | None, str | None]] | None = None

    def entry(self, index: int) -> tuple[tuple[str, ...], str | None, str | None]:
        if self._entries is None:
            self._entries = self._load()
        return self._entries[index]


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
        core["source_count"] = len(sources)  # checked against every number's index when read back
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
    from oms_cli.kb.terms import closest

    return closest(key, terms)


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


# ----------------------------------------------------------------------------- reading the compiled form back
#
# `from_data` reads what `cache_parts()` wrote, but it may be handed anything: a cache entry written by another
# build of oms-dx, or edited. So it checks, while it builds, everything the engine and the output take for granted
# of a validated knowledge base: types, lengths, probabilities in (0, 1) (NaN fails every comparison), ids that
# resolve, nesting without cycles, age bands that cover 0-120 years, priors that leave a share for other causes.
# What it cannot see is a number changed for another number in range; the cache's digests guard that (SECURITY.md).
# The checks ride on the loops that build the records: this is on every command's start-up path.

_AGES = frozenset(AGE_GROUPS)
_ONSETS = frozenset(ONSETS)
_KINDS = frozenset(("history", "eye", "motor", "systemic", "behaviour", "test"))
_STATES = frozenset(("present", "absent"))
_MAX_YEARS = 120


class NotCompiledForm(ValueError):
    """Data that is not the compiled form of a valid knowledge base (a damaged or foreign cache entry)."""


def _bad(what: str) -> NotCompiledForm:
    return NotCompiledForm(f"not a compiled knowledge base: {what}")


def _s(x: Any) -> str:
    if x.__class__ is not str:
        raise _bad("a text is not a string")
    return x


def _os(x: Any) -> str | None:
    if x is not None and x.__class__ is not str:
        raise _bad("a text is not a string")
    return x


def _ss(xs: Any) -> tuple[str, ...]:
    if xs.__class__ is not list:
        raise _bad("a list is not a list")
    for x in xs:
        if x.__class__ is not str:
            raise _bad("a list holds something other than text")
    return tuple(xs)


def _ids(xs: Any, known: frozenset[str]) -> tuple[str, ...]:
    out = _ss(xs)
    if not known.issuperset(out):
        raise _bad("an unknown id")
    return out


def _list(xs: Any) -> list[Any]:
    if xs.__class__ is not list:
        raise _bad("a list is not a list")
    return xs


def _unique(ids: Iterable[str]) -> frozenset[str]:
    seen = tuple(ids)
    out = frozenset(seen)
    if len(out) != len(seen):
        raise _bad("a duplicate id")
    return out


_BOOK: _Provenance | None = None  # the sources of the knowledge base `from_data` is reading
_COUNT = 0  # how many sources it has


def _cited(d: Any) -> Cited:
    # About 2,500 calls on every start-up: checked and built inline, a number whose sources are entry `index` of
    # the book, read when first needed.
    if d.__class__ is list:
        value, index = d  # ValueError unless a pair
        if value.__class__ is float and 0.0 < value < 1.0 and index.__class__ is int and 0 <= index < _COUNT:
            cited = _new_cited(Cited)
            cited.value, cited._book, cited._index = value, _BOOK, index
            return cited
    raise _bad("a number is not [probability in (0, 1), source index]")


_new_cited = Cited.__new__


def _by_age(d: Any) -> ByAge:
    if d.__class__ is not dict or len(d) != 2:  # two keys, and both found below: exactly child and adult
        raise _bad("a number by age group without exactly child and adult")
    return {"child": _cited(d["child"]), "adult": _cited(d["adult"])}


def _profile(d: Any, keys: frozenset[str]) -> dict[str, Cited]:
    if d.__class__ is not dict or d.keys() != keys:
        raise _bad("a profile without exactly the expected keys")
    return {k: _cited(v) for k, v in d.items()}


def _by_id(d: Any, known: frozenset[str]) -> dict[str, ByAge]:
    if d.__class__ is not dict or not d.keys() <= known:
        raise _bad("frequencies of unknown ids")
    return {k: _by_age(v) for k, v in d.items()}


def _statements(items: Any) -> tuple[Statement, ...]:
    return tuple(Statement(_s(s["text"]), _ss(s["refs"]), _ss(s["versus"])) for s in _list(items))


def _years(x: Any) -> float:
    if x.__class__ is not float and x.__class__ is not int:
        raise _bad("an age is not a number")
    return float(x)


def _bands(items: Any) -> tuple[AgeBand, ...]:
    bands = tuple(
        AgeBand(_s(b["id"]), _years(b["min_years"]), _years(b["max_years"]), b["group"]) for b in _list(items)
    )
    _unique(b.id for b in bands)
    edge = 0.0  # the bands must tile [0, 120] years: every age falls in exactly one
    for b in sorted(bands, key=lambda b: b.min_years):
        if b.min_years != edge or not b.min_years < b.max_years or b.group not in _AGES:
            raise _bad("age bands that do not tile 0-120 years")
        if (b.group == "child") != (b.max_years <= ADULT_AGE_YEARS):
            raise _bad("an age band in the wrong age group")
        edge = b.max_years
    if edge != _MAX_YEARS:
        raise _bad("age bands that do not tile 0-120 years")
    return bands


def _findings(items: Any) -> tuple[Finding, ...]:
    findings = tuple(
        Finding(
            _s(f["id"]), _s(f["label"]), f["kind"], _s(f["definition"]), _ss(f["synonyms"]), _os(f["hpo"]),
            _os(f["within"]), _os(f["implies_onset"]), _os(f["burden"]), _by_age(f["background"]),
        )
        for f in _list(items)
    )  # fmt: skip
    for f in findings:
        if f.kind not in _KINDS or (f.implies_onset is not None and f.implies_onset not in _ONSETS):
            raise _bad("an unknown finding kind or onset")
    return findings


def _nesting(findings: tuple[Finding, ...], groups: tuple[Group, ...], fids: frozenset[str]) -> None:
    """Every finding hangs from at most one broader finding or group, and every chain of them ends."""
    parent = {f.id: f.within for f in findings if f.within is not None}
    if not fids.issuperset(parent.values()):
        raise _bad("a finding within an unknown finding")
    for g in groups:
        for m in g.members:
            if m in parent:
                raise _bad("a finding in two places")
            parent[m] = g.id
    for node in parent:
        up, steps = parent.get(node), 0
        while up is not None:
            steps += 1
            if steps > len(parent):
                raise _bad("circular nesting")
            up = parent.get(up)


def _condition(
    d: Any, bands: frozenset[str], fids: frozenset[str], gids: frozenset[str], xids: frozenset[str]
) -> Condition:
    if d["cant_miss"].__class__ is not bool:
        raise _bad("a can't-miss flag is not true or false")
    return Condition(
        id=_s(d["id"]),
        name=_s(d["name"]),
        aliases=_ss(d["aliases"]),
        cant_miss=d["cant_miss"],
        cant_miss_reason=_s(d["cant_miss_reason"]),
        excluding_test=_os(d["excluding_test"]),
        prior=_by_age(d["prior"]),
        age=_profile(d["age"], bands),
        onset=_profile(d["onset"], _ONSETS),
        findings=_by_id(d["findings"], fids),
        groups=_by_id(d["groups"], gids),
        composites=_by_id(d["composites"], xids),
        criteria=tuple(_criteria(cr, fids) for cr in _list(d["criteria"])),
    )


def _criteria(cr: Any, fids: frozenset[str]) -> Criteria:
    items = tuple(
        CriterionItem(_s(i["id"]), _s(i["text"]), _ids(i["findings"], fids), _os(i["note"])) for i in _list(cr["items"])
    )
    required = cr["required"]
    if required.__class__ is not int or not 1 <= required <= len(items):
        raise _bad("criteria that cannot be met")
    return Criteria(_s(cr["id"]), _s(cr["name"]), _s(cr["source"]), _ss(cr["refs"]), required, items, _os(cr["note"]))


def _terms(d: Any, known: frozenset[str]) -> dict[str, str]:
    if d.__class__ is not dict:
        raise _bad("a term table is not a table")
    for k in d:
        if k.__class__ is not str:
            raise _bad("a term is not text")
    if not known.issuperset(d.values()):
        raise _bad("a term names an unknown id")
    return d


def _card_text(d: Any) -> CardText:
    return CardText(
        codes=tuple(
            Code(_s(x["system"]), _s(x["code"]), _s(x["label"]), _os(x["note"]), _ss(x["refs"]))
            for x in _list(d["codes"])
        ),
        synopsis=_s(d["synopsis"]),
        synopsis_refs=_ss(d["synopsis_refs"]),
        look_for=_statements(d["look_for"]),
        diagnostic_pearls=_statements(d["diagnostic_pearls"]),
        differential_pitfalls=_statements(d["differential_pitfalls"]),
        best_tests=tuple(
            BestTest(_s(t["test"]), _s(t["why"]), _os(t["performance"]), _ss(t["refs"])) for t in _list(d["best_tests"])
        ),
        management_pearls=_statements(d["management_pearls"]),
        therapy=_statements(d["therapy"]),
        last_reviewed=_s(d["last_reviewed"]),
    )


def _reference(r: Any) -> Reference:
    if r["year"].__class__ is not int:
        raise _bad("a year is not a whole number")
    return Reference(
        _s(r["id"]), _s(r["authors"]), r["year"], _s(r["title"]), _s(r["journal"]), _os(r["pmid"]), _os(r["doi"]),
        _os(r["url"]),
    )  # fmt: skip


_Source = tuple[tuple[str, ...], str | None, str | None]
_Details = tuple[list[_Source], dict[str, CardText], tuple[Reference, ...]]


def _second_part(part: Any, count: int, condition_ids: frozenset[str]) -> _Details:
    """The second part of `cache_parts()` as records (sources, card text, references), checked as it is built."""
    if part.__class__ is not dict:
        raise _bad("the second part is not a table")
    sources: list[_Source] = []
    add = sources.append
    for e in _list(part["sources"]):  # one per number, some 2,500: checked inline
        if e.__class__ is not list or len(e) != 3:
            raise _bad("a source is not [refs, estimate, note]")
        refs, estimate, note = e
        if (
            refs.__class__ is not list
            or (estimate is not None and estimate.__class__ is not str)
            or (note is not None and note.__class__ is not str)
        ):
            raise _bad("a source is not [refs, estimate, note]")
        for ref in refs:
            if ref.__class__ is not str:
                raise _bad("a reference id is not text")
        add((tuple(refs), estimate, note))
    if len(sources) != count:
        raise _bad("sources do not match the numbers")
    texts = part["texts"]
    if texts.__class__ is not dict or texts.keys() != condition_ids:
        raise _bad("card text for other conditions")
    references = tuple(_reference(r) for r in _list(part["references"]))
    _unique(r.id for r in references)
    return sources, {cid: _card_text(d) for cid, d in texts.items()}, references


def _unpickle(data: dict[str, Any], details: dict[str, Any], source: str) -> CompiledKnowledgeBase:
    return from_data(data, source, lambda: details)


def from_data(
    data: Any,
    source: str,
    details: Callable[[], Any],
    rebuild: Callable[[], dict[str, Any]] | None = None,
) -> CompiledKnowledgeBase:
    """Rebuild the compiled form from the first part of `cache_parts()`, with a function that returns the second
    part when first needed.

    Raises NotCompiledForm (or the LookupError, TypeError or AttributeError of a missing key or a wrong type)
    on anything that is not the compiled form of a valid knowledge base. The second part is checked when it is
    decoded; if `details()` raises or returns a wrong one, `rebuild()` supplies it (from the file itself), and
    when that does not fit the first part either, a KnowledgeBaseError says so.
    """
    global _BOOK, _COUNT
    if data.__class__ is not dict or data["compiled_format"] != COMPILED_FORMAT:
        raise _bad("another compiled format")
    count = data["source_count"]
    if count.__class__ is not int or count < 0:
        raise _bad("a source count is not a count")
    second: list[_Details] = []
    built: list[CompiledKnowledgeBase] = []

    def part() -> _Details:
        if not second:
            ids = frozenset(built[0].condition_ids)
            try:
                second.append(_second_part(details(), count, ids))
            except Exception:  # anything a damaged entry makes the reading raise: read the file instead
                if rebuild is None:
                    raise
                second.append(_rebuilt_part(rebuild(), count, ids, source))
        return second[0]

    _BOOK, _COUNT = _Provenance(lambda: part()[0]), count
    try:
        built.append(_build(data, source, lambda: part()[1:]))
    finally:
        _BOOK, _COUNT = None, 0
    return built[0]


def _rebuilt_part(part: dict[str, Any], count: int, ids: frozenset[str], source: str) -> _Details:
    try:
        return _second_part(part, count, ids)
    except (NotCompiledForm, LookupError, TypeError, AttributeError):
        # The first part passed its checks but does not belong with the file's own second part: only an edited
        # cache entry does that. The store has already replaced it; the next run reads it afresh.
        raise KnowledgeBaseError(
            source, [Problem("", "its cached compiled form did not match the file; it has been rebuilt, run again")]
        ) from None


def _build(
    data: dict[str, Any], source: str, details: Callable[[], tuple[dict[str, CardText], tuple[Reference, ...]]]
) -> CompiledKnowledgeBase:
    bands = _bands(data["bands"])
    band_ids = frozenset(b.id for b in bands)
    populations = data["populations"]
    if populations.__class__ is not dict or populations.keys() != _AGES:
        raise _bad("populations other than child and adult")
    findings = _findings(data["findings"])
    fids = _unique(f.id for f in findings)
    groups = tuple(
        Group(_s(g["id"]), _s(g["label"]), _s(g["definition"]), _ids(g["members"], fids), _cited(g["dependence"]))
        for g in _list(data["groups"])
    )
    gids = _unique(g.id for g in groups)
    if gids & fids or any(len(g.members) < 2 for g in groups):
        raise _bad("a malformed finding group")
    _nesting(findings, groups, fids)
    composites = tuple(_composite(x, fids) for x in _list(data["composites"]))
    xids = _unique(x.id for x in composites)
    conditions = tuple(_condition(c, band_ids, fids, gids, xids) for c in _list(data["conditions"]))
    cids = _unique(c.id for c in conditions)
    if len(conditions) < 2 or not all(math.fsum(c.prior[g].value for c in conditions) < 1.0 for g in _AGES):
        raise _bad("priors that leave no share for other causes")
    other = data["other"]
    return CompiledKnowledgeBase(
        source=source,
        content_key=_s(data["content_key"]),
        kb_version=_s(data["kb_version"]),
        populations={k: Population(_s(p["description"]), _ss(p["refs"])) for k, p in populations.items()},
        bands=bands,
        findings=findings,
        groups=groups,
        composites=composites,
        conditions=conditions,
        details=details,
        other=Other(
            _s(other["label"]),
            _s(other["description"]),
            _profile(other["age"], band_ids),
            _profile(other["onset"], _ONSETS),
            _by_id(other["composites"], xids),
        ),
        terms=(_terms(data["finding_terms"], fids), _terms(data["condition_terms"], cids)),
    )


def _composite(x: Any, fids: frozenset[str]) -> Composite:
    signs = []
    for sign in _list(x["signs"]):
        if sign.__class__ is not list or len(sign) != 2 or sign[0] not in fids or sign[1] not in _STATES:
            raise _bad("a malformed sign of a composite examination")
        signs.append((sign[0], sign[1]))
    if len(signs) < 2:
        raise _bad("a composite examination of fewer than two signs")
    return Composite(
        _s(x["id"]), _s(x["label"]), _s(x["definition"]), _s(x["positive"]), _s(x["negative"]), tuple(signs),
        _ids(x["applies_when"], fids),
    )  # fmt: skip


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
