"""Loading, validating and compiling knowledge-base files, and resolving user terms to its ids."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from oms_cli.errors import KnowledgeBaseError, Problem, UnknownConditionError, UnknownFindingError

if TYPE_CHECKING:
    from oms_cli.models import Condition, Evidence, KnowledgeBase

_HPO_TOKEN = re.compile(r"^HP[:_](\d{7})$", re.IGNORECASE)


def default_kb_path() -> Path:
    """The shipped knowledge base: inside the installed package, else the source tree's data/."""
    packaged = Path(__file__).parent / "data" / "conditions.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[2] / "data" / "conditions.json"


def normalise(term: str) -> str:
    """Canonical form of a user term: lower case, spaces and underscores as single hyphens."""
    return re.sub(r"-{2,}", "-", re.sub(r"[\s_]+", "-", term.strip().lower())).strip("-")


def json_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location written as a JSON path, e.g. conditions[0].findings.ataxia."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a knowledge base")


def read_bytes(path: Path) -> bytes:
    """The bytes of a knowledge-base file; raise KnowledgeBaseError when it cannot be read."""
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KnowledgeBaseError(str(path), [Problem("", f"cannot read file ({exc.strerror or exc})")]) from None


def read_json(path: Path) -> Any:
    """Read a JSON file strictly (UTF-8, no NaN or Infinity); raise KnowledgeBaseError otherwise."""
    return parse_json(read_bytes(path), str(path))


def parse_json(raw: bytes, where: str) -> Any:
    """Parse knowledge-base bytes strictly (UTF-8, no NaN or Infinity); raise KnowledgeBaseError otherwise."""
    import json

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(where, [Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(
            where, [Problem("", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
        ) from None
    except ValueError as exc:
        raise KnowledgeBaseError(where, [Problem("", str(exc))]) from None


def evidence_items(kb: KnowledgeBase) -> Iterator[tuple[str, Evidence]]:
    """Every number of the knowledge base with its JSON path."""
    yield "leak_probability", kb.leak_probability
    for i, c in enumerate(kb.conditions):
        base = f"conditions[{i}]"
        yield f"{base}.prior.child", c.prior.child
        yield f"{base}.prior.adult", c.prior.adult
        for band, ev in c.age_profile.items():
            yield f"{base}.age_profile.{band}", ev
        for onset, ev in c.onset_profile.items():
            yield f"{base}.onset_profile.{onset}", ev
        for fid, ev in c.findings.items():
            yield f"{base}.findings.{fid}", ev


CARD_SECTIONS = ("look_for", "diagnostic_pearls", "differential_pitfalls", "management_pearls", "therapy")


def citations(kb: KnowledgeBase) -> Iterator[tuple[str, str]]:
    """Every citation in the knowledge base as (JSON path of the reference, reference id)."""
    for path, ev in evidence_items(kb):
        for j, ref in enumerate(ev.refs):
            yield f"{path}.refs[{j}]", ref
    for i, c in enumerate(kb.conditions):
        base = f"conditions[{i}]"
        for j, ref in enumerate(c.synopsis_refs):
            yield f"{base}.synopsis_refs[{j}]", ref
        for j, code in enumerate(c.codes):
            for k, ref in enumerate(code.refs):
                yield f"{base}.codes[{j}].refs[{k}]", ref
        for section in CARD_SECTIONS:
            for j, st in enumerate(getattr(c, section)):
                for k, ref in enumerate(st.refs):
                    yield f"{base}.{section}[{j}].refs[{k}]", ref
        for j, test in enumerate(c.best_tests):
            for k, ref in enumerate(test.refs):
                yield f"{base}.best_tests[{j}].refs[{k}]", ref
        for j, crit in enumerate(c.criteria):
            for k, ref in enumerate(crit.refs):
                yield f"{base}.criteria[{j}].refs[{k}]", ref


def _check_card(kb: KnowledgeBase, i: int, c: Condition, finding_ids: set[str]) -> list[Problem]:
    base = f"conditions[{i}]"
    condition_ids = {other.id for other in kb.conditions}
    problems: list[Problem] = []
    for section in CARD_SECTIONS:
        for j, st in enumerate(getattr(c, section)):
            problems += [
                Problem(f"{base}.{section}[{j}].versus[{k}]", f"unknown condition id {cid!r}")
                for k, cid in enumerate(st.versus)
                if cid not in condition_ids
            ]
    problems += _duplicates((f"{base}.criteria[{j}].id", cr.id) for j, cr in enumerate(c.criteria))
    for j, crit in enumerate(c.criteria):
        path = f"{base}.criteria[{j}]"
        problems += _duplicates((f"{path}.items[{k}].id", item.id) for k, item in enumerate(crit.items))
        for k, item in enumerate(crit.items):
            problems += [
                Problem(f"{path}.items[{k}].findings[{m}]", f"unknown finding id {fid!r}")
                for m, fid in enumerate(item.findings)
                if fid not in finding_ids
            ]
    return problems


def _duplicates(items: Iterable[tuple[str, str]]) -> Iterator[Problem]:
    seen: dict[str, str] = {}
    for path, key in items:
        if key in seen:
            yield Problem(path, f"duplicate {key!r} (first at {seen[key]})")
        else:
            seen[key] = path


def cross_check(kb: KnowledgeBase) -> list[Problem]:
    """Problems that the per-field schema cannot see: ids, references and vocabulary links."""
    problems: list[Problem] = []
    problems += _duplicates((f"findings[{i}].id", f.id) for i, f in enumerate(kb.findings))
    problems += _duplicates((f"conditions[{i}].id", c.id) for i, c in enumerate(kb.conditions))
    problems += _duplicates((f"references[{i}].id", r.id) for i, r in enumerate(kb.references))
    problems += _duplicates((f"age_bands[{i}].id", b.id) for i, b in enumerate(kb.age_bands))

    terms: list[tuple[str, str]] = []
    for i, f in enumerate(kb.findings):
        own = {normalise(f.id)} | {normalise(s) for s in f.synonyms}
        terms += [(f"findings[{i}]", t) for t in sorted(own)]
        if f.hpo:
            terms.append((f"findings[{i}].hpo", f.hpo))
    problems += [Problem(p.path, "term " + p.message + " names two findings") for p in _duplicates(terms)]

    names: list[tuple[str, str]] = []
    for i, c in enumerate(kb.conditions):
        own = {normalise(c.id), normalise(c.name)} | {normalise(a) for a in c.aliases}
        names += [(f"conditions[{i}]", t) for t in sorted(own)]
    problems += [Problem(p.path, "name " + p.message + " names two conditions") for p in _duplicates(names)]

    for i, b in enumerate(kb.age_bands):
        if b.min_years >= b.max_years:
            problems.append(Problem(f"age_bands[{i}]", "min_years must be below max_years"))

    ref_ids = {r.id for r in kb.references}
    problems += [
        Problem(path, f"reference {ref!r} is not in 'references'") for path, ref in citations(kb) if ref not in ref_ids
    ]
    finding_ids = {f.id for f in kb.findings}
    band_ids = [b.id for b in kb.age_bands]
    for i, c in enumerate(kb.conditions):
        for fid in c.findings:
            if fid not in finding_ids:
                problems.append(Problem(f"conditions[{i}].findings.{fid}", f"unknown finding id {fid!r}"))
        missing = [b for b in band_ids if b not in c.age_profile]
        extra = [b for b in c.age_profile if b not in band_ids]
        if missing:
            problems.append(Problem(f"conditions[{i}].age_profile", f"missing age band(s): {', '.join(missing)}"))
        problems += [Problem(f"conditions[{i}].age_profile.{band}", f"unknown age band {band!r}") for band in extra]
        problems += _check_card(kb, i, c, finding_ids)
    return problems


def validate(data: Any, file: str) -> KnowledgeBase:
    """Validate parsed JSON against the models and the cross-checks; raise with every problem found."""
    from pydantic import ValidationError

    from oms_cli.models import KnowledgeBase

    try:
        kb = KnowledgeBase.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(json_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
        raise KnowledgeBaseError(file, problems) from None
    problems = cross_check(kb)
    if problems:
        raise KnowledgeBaseError(file, problems)
    return kb


# The compiled form below is what every ranking command runs on. It is derived by code from a validated
# model, never written by hand, and it is plain data (NamedTuples, dicts, floats) so that it can be cached
# as JSON and rebuilt without importing pydantic. NamedTuples rather than dataclasses: they are several
# times cheaper to define, and start-up is paid on every call.


class Cited(NamedTuple):
    """A number of the knowledge base with its sources, or the rationale when it is an expert estimate."""

    value: float
    refs: tuple[str, ...]
    estimate: str | None
    note: str | None


class CompiledFinding(NamedTuple):
    """A vocabulary entry: what the CLI shows and resolves for one finding."""

    id: str
    label: str
    kind: str
    definition: str
    synonyms: tuple[str, ...]
    hpo: str | None


class CompiledItem(NamedTuple):
    """One item of a criterion set and the finding ids that satisfy it."""

    id: str
    text: str
    findings: tuple[str, ...]


class CompiledCriteria(NamedTuple):
    """A published criterion set: at least `required` of its items must be met."""

    id: str
    name: str
    required: int
    items: tuple[CompiledItem, ...]


class CompiledCondition(NamedTuple):
    """A condition reduced to the numbers the engine needs and the text the ranking commands show."""

    id: str
    name: str
    aliases: tuple[str, ...]
    cant_miss: bool
    cant_miss_reason: str
    excluding_test: str | None
    prior_child: float
    prior_adult: float
    age: dict[str, float]
    onset: dict[str, float]
    findings: dict[str, float]
    # Sources of every number, keyed like the file: prior.child, age_profile.<band>, findings.<id>, ...
    cites: dict[str, Cited]
    criteria: tuple[CompiledCriteria, ...]


COMPILED_FORMAT = "3"
_RESOLVED_MEMO = 4096


class CompiledKnowledgeBase:
    """A validated knowledge base as plain numbers and term tables, ready for the engine.

    The full pydantic model (needed for reference cards) is loaded on first use of `model`, so that the
    ranking commands never import pydantic when the compiled form comes from the cache.
    """

    def __init__(
        self,
        *,
        source: str,
        content_key: str,
        kb_version: str,
        leak: Cited,
        bands: tuple[tuple[str, float, float, str], ...],
        findings: tuple[CompiledFinding, ...],
        conditions: tuple[CompiledCondition, ...],
        model: KnowledgeBase | None = None,
        terms: tuple[dict[str, str], dict[str, str]] | None = None,
    ) -> None:
        self.source = source
        self.content_key = content_key
        self.kb_version = kb_version
        self.leak_cited = leak
        self.leak = leak.value
        self.bands = bands
        self.findings = findings
        self.conditions = conditions
        self._model = model
        self._resolved: dict[str, str] = {}
        self.finding_ids = tuple(f.id for f in findings)
        self._findings_by_id = {f.id: f for f in findings}
        self._conditions_by_id = {c.id: c for c in conditions}
        # Term tables map every normalised id, label, synonym, alias and HPO id to a canonical id; they are
        # derived here once and travel with the cache, since normalising every term costs start-up time.
        self.finding_terms, self.condition_terms = terms if terms is not None else _term_tables(findings, conditions)
        # P(present | condition) for every vocabulary finding, condition by condition (the leak where unlisted).
        self.present_given: dict[str, tuple[float, ...]] = {
            fid: tuple(c.findings.get(fid, self.leak) for c in conditions) for fid in self.finding_ids
        }
        # The same in logs, for present and for absent findings: ranking a case is then additions only.
        self.log_present = {f: tuple(math.log(p) for p in ps) for f, ps in self.present_given.items()}
        self.log_absent = {f: tuple(math.log(1.0 - p) for p in ps) for f, ps in self.present_given.items()}
        self.condition_heads = [(c.id, c.name, c.cant_miss) for c in conditions]
        self.id_order = sorted(range(len(conditions)), key=lambda i: conditions[i].id)
        self.listed_findings = frozenset(f for c in conditions for f in c.findings)
        # Prior, age and onset terms per (age group, age band, onset), filled by the engine on first use.
        self.band_of: dict[float, str] = {}
        self.base_terms: dict[tuple[str | None, str | None, str | None], Any] = {}

    @property
    def model(self) -> KnowledgeBase:
        """The validated pydantic model, read from the source file on first use."""
        if self._model is None:
            raw = read_bytes(Path(self.source))
            if content_key(raw) != self.content_key:
                raise KnowledgeBaseError(self.source, [Problem("", "the file changed while oms-dx was reading it")])
            self._model = validate(parse_json(raw, self.source), self.source)
        return self._model

    def condition_model(self, condition_id: str) -> Condition:
        """The validated model of a condition (its reference card); loads the full model on first use."""
        return next(c for c in self.model.conditions if c.id == condition_id)

    def finding(self, finding_id: str) -> CompiledFinding:
        """The vocabulary entry of a canonical finding id."""
        return self._findings_by_id[finding_id]

    def condition(self, condition_id: str) -> CompiledCondition:
        """The compiled condition of a canonical condition id."""
        return self._conditions_by_id[condition_id]

    def resolve_finding(self, term: str) -> str:
        """Map an id, synonym or HPO id (any case, spaces or underscores) to the canonical finding id."""
        known = self._resolved.get(term)
        if known is not None:
            return known
        hpo = _HPO_TOKEN.match(term.strip())
        key = f"HP:{hpo.group(1)}" if hpo else normalise(term)
        if key in self.finding_terms:
            # Batch runs repeat the same spellings; a bounded memo saves normalising them each time.
            if len(self._resolved) < _RESOLVED_MEMO:
                self._resolved[term] = self.finding_terms[key]
            return self.finding_terms[key]
        matches = difflib.get_close_matches(key, list(self.finding_terms), n=3, cutoff=0.6)
        suggestions = list(dict.fromkeys(self.finding_terms[m] for m in matches))
        raise UnknownFindingError(term, suggestions)

    def resolve_condition(self, term: str) -> str:
        """Map a condition id, name or alias (any case) to the canonical condition id."""
        key = normalise(term)
        if key in self.condition_terms:
            return self.condition_terms[key]
        matches = difflib.get_close_matches(key, list(self.condition_terms), n=3, cutoff=0.6)
        suggestions = list(dict.fromkeys(self.condition_terms[m] for m in matches))
        raise UnknownConditionError(term, suggestions)

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickled for batch workers that start as fresh interpreters: the compiled tables travel, the memos and
        # the lazily loaded pydantic model do not.
        return (_from_data, (self.to_data(), self.source))

    def to_data(self) -> dict[str, Any]:
        """The compiled form as JSON-ready data (the cache format)."""
        return {
            "compiled_format": COMPILED_FORMAT,
            "content_key": self.content_key,
            "kb_version": self.kb_version,
            "leak": self.leak_cited,
            "bands": self.bands,
            "findings": self.findings,
            "conditions": self.conditions,
            "finding_terms": self.finding_terms,
            "condition_terms": self.condition_terms,
        }

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str) -> CompiledKnowledgeBase:
        """Rebuild the compiled form from `to_data()` output that went through JSON."""
        if data["compiled_format"] != COMPILED_FORMAT:
            raise ValueError("compiled format changed")

        def cited(x: list[Any]) -> Cited:
            value, refs, estimate, note = x
            return Cited(float(value), tuple(refs), estimate, note)

        def condition(x: list[Any]) -> CompiledCondition:
            (cid, name, aliases, cm, reason, test, child, adult, age, onset, fnd, cites, criteria) = x
            return CompiledCondition(
                cid,
                name,
                tuple(aliases),
                bool(cm),
                reason,
                test,
                float(child),
                float(adult),
                {k: float(v) for k, v in age.items()},
                {k: float(v) for k, v in onset.items()},
                {k: float(v) for k, v in fnd.items()},
                {k: cited(v) for k, v in cites.items()},
                tuple(
                    CompiledCriteria(
                        crit_id,
                        crit_name,
                        int(required),
                        tuple(CompiledItem(i, text, tuple(f)) for i, text, f in items),
                    )
                    for crit_id, crit_name, required, items in criteria
                ),
            )

        return cls(
            source=source,
            content_key=data["content_key"],
            kb_version=data["kb_version"],
            leak=cited(data["leak"]),
            bands=tuple((b, float(lo), float(hi), g) for b, lo, hi, g in data["bands"]),
            findings=tuple(
                CompiledFinding(fid, label, kind, definition, tuple(syn), hpo)
                for fid, label, kind, definition, syn, hpo in data["findings"]
            ),
            conditions=tuple(condition(c) for c in data["conditions"]),
            terms=(dict(data["finding_terms"]), dict(data["condition_terms"])),
        )


def _from_data(data: dict[str, Any], source: str) -> CompiledKnowledgeBase:
    return CompiledKnowledgeBase.from_data(data, source)


def _term_tables(
    findings: Iterable[CompiledFinding],
    conditions: Iterable[CompiledCondition],
    curies: dict[str, list[str]] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
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


def content_key(raw: bytes) -> str:
    """A checksum of a file's bytes that keys the cache of its compiled form.

    CRC-32 and Adler-32 with the length (64 bits of checksum): zlib is already loaded by the CLI, whereas
    hashlib's OpenSSL binding costs about 5 ms of start-up. This detects edits, which is all a cache key
    has to do; the cache never holds anything that was not validated (see SECURITY.md).
    """
    import zlib

    return f"{len(raw):x}-{zlib.crc32(raw):08x}-{zlib.adler32(raw):08x}"


def _cited(ev: Evidence) -> Cited:
    return Cited(ev.value, tuple(ev.refs), ev.estimate, ev.note)


def compile_kb(kb: KnowledgeBase, source: str, key: str = "") -> CompiledKnowledgeBase:
    """Reduce a validated knowledge base to plain numbers, text and term tables."""
    conditions = []
    for c in kb.conditions:
        cites = {"prior.child": _cited(c.prior.child), "prior.adult": _cited(c.prior.adult)}
        cites.update({f"age_profile.{b}": _cited(e) for b, e in c.age_profile.items()})
        cites.update({f"onset_profile.{o}": _cited(e) for o, e in c.onset_profile.items()})
        cites.update({f"findings.{f}": _cited(e) for f, e in c.findings.items()})
        conditions.append(
            CompiledCondition(
                id=c.id,
                name=c.name,
                aliases=tuple(c.aliases),
                cant_miss=c.cant_miss.flag,
                cant_miss_reason=c.cant_miss.reason,
                excluding_test=c.cant_miss.excluding_test,
                prior_child=c.prior.child.value,
                prior_adult=c.prior.adult.value,
                age={b: e.value for b, e in c.age_profile.items()},
                onset={o: e.value for o, e in c.onset_profile.items()},
                findings={f: e.value for f, e in c.findings.items()},
                cites=cites,
                criteria=tuple(
                    CompiledCriteria(
                        cr.id,
                        cr.name,
                        cr.required,
                        tuple(CompiledItem(i.id, i.text, tuple(i.findings)) for i in cr.items),
                    )
                    for cr in c.criteria
                ),
            )
        )
    compiled_findings = tuple(
        CompiledFinding(f.id, f.label, f.kind, f.definition, tuple(f.synonyms), f.hpo) for f in kb.findings
    )
    return CompiledKnowledgeBase(
        source=source,
        content_key=key,
        kb_version=kb.kb_version,
        leak=_cited(kb.leak_probability),
        bands=tuple((b.id, b.min_years, b.max_years, b.group) for b in kb.age_bands),
        findings=compiled_findings,
        conditions=tuple(conditions),
        model=kb,
        terms=_term_tables(compiled_findings, conditions, _condition_curies(kb)),
    )


# Code systems whose codes name one disorder, so they can identify a condition (phenopacket diagnoses,
# `show ORPHA:1183`), as CURIE prefixes. ICD-10-CM codes are not among them: the knowledge base lists
# shared symptom codes (R27.0 ataxia, G25.3 myoclonus) that would point at several conditions.
CURIE_PREFIXES = {"ORPHA": ("ORPHA", "Orphanet"), "SNOMED CT": ("SNOMEDCT",)}


def _condition_curies(kb: KnowledgeBase) -> dict[str, list[str]]:
    return {
        c.id: [f"{prefix}:{code.code}" for code in c.codes for prefix in CURIE_PREFIXES.get(code.system, ())]
        for c in kb.conditions
    }


def load_knowledge_base(path: str | Path | None = None, *, cache_dir: Path | None = None) -> CompiledKnowledgeBase:
    """Load, validate and compile a knowledge base (the shipped one when no path is given).

    With a `cache_dir`, the compiled form is kept there keyed by the file's checksum and the oms-dx version,
    and later loads of the same bytes skip validation. An unreadable or stale cache entry is ignored.
    """
    file = Path(path) if path is not None else default_kb_path()
    raw = read_bytes(file)
    key = content_key(raw)
    if cache_dir is not None:
        from oms_cli import cache

        data = cache.read(cache_dir, key)
        if data is not None:
            try:
                return CompiledKnowledgeBase.from_data(data, str(file))
            except Exception:
                pass
    compiled = compile_kb(validate(parse_json(raw, str(file)), str(file)), str(file), key)
    if cache_dir is not None:
        cache.write(cache_dir, key, compiled.to_data())
    return compiled
