"""Loading, validating and compiling knowledge-base files, and resolving user terms to its ids."""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli.errors import KnowledgeBaseError, Problem, UnknownConditionError, UnknownFindingError

if TYPE_CHECKING:
    from oms_cli.models import Condition, Evidence, Finding, KnowledgeBase

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


def read_json(path: Path) -> Any:
    """Read a JSON file strictly (UTF-8, no NaN or Infinity); raise KnowledgeBaseError otherwise."""
    where = str(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise KnowledgeBaseError(where, [Problem("", f"cannot read file ({exc.strerror or exc})")]) from None
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


@dataclass(frozen=True)
class CompiledCondition:
    """A condition reduced to the numbers the engine needs, plus its validated model."""

    id: str
    name: str
    cant_miss: bool
    prior_child: float
    prior_adult: float
    age: dict[str, float]
    onset: dict[str, float]
    findings: dict[str, float]
    model: Condition


@dataclass(frozen=True)
class CompiledKnowledgeBase:
    """A validated knowledge base with lookup tables for terms, ready for the engine."""

    source: str
    model: KnowledgeBase
    conditions: tuple[CompiledCondition, ...]
    leak: float
    bands: tuple[tuple[str, float, float, str], ...]
    finding_terms: dict[str, str]
    condition_terms: dict[str, str]

    @property
    def kb_version(self) -> str:
        return self.model.kb_version

    @property
    def finding_ids(self) -> tuple[str, ...]:
        return tuple(f.id for f in self.model.findings)

    def finding(self, finding_id: str) -> Finding:
        """The vocabulary entry of a canonical finding id."""
        return next(f for f in self.model.findings if f.id == finding_id)

    def condition(self, condition_id: str) -> CompiledCondition:
        """The compiled condition of a canonical condition id."""
        return next(c for c in self.conditions if c.id == condition_id)

    def resolve_finding(self, term: str) -> str:
        """Map an id, synonym or HPO id (any case, spaces or underscores) to the canonical finding id."""
        hpo = _HPO_TOKEN.match(term.strip())
        key = f"HP:{hpo.group(1)}" if hpo else normalise(term)
        if key in self.finding_terms:
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


def compile_kb(kb: KnowledgeBase, source: str) -> CompiledKnowledgeBase:
    """Reduce a validated knowledge base to plain numbers and term tables."""
    finding_terms: dict[str, str] = {}
    for f in kb.findings:
        for t in [f.id, f.label, *f.synonyms]:
            finding_terms.setdefault(normalise(t), f.id)
        if f.hpo:
            finding_terms[f.hpo] = f.id
    condition_terms: dict[str, str] = {}
    for c in kb.conditions:
        for t in [c.id, c.name, *c.aliases]:
            condition_terms.setdefault(normalise(t), c.id)
    conditions = tuple(
        CompiledCondition(
            id=c.id,
            name=c.name,
            cant_miss=c.cant_miss.flag,
            prior_child=c.prior.child.value,
            prior_adult=c.prior.adult.value,
            age={b: e.value for b, e in c.age_profile.items()},
            onset={o: e.value for o, e in c.onset_profile.items()},
            findings={f: e.value for f, e in c.findings.items()},
            model=c,
        )
        for c in kb.conditions
    )
    bands = tuple((b.id, b.min_years, b.max_years, b.group) for b in kb.age_bands)
    return CompiledKnowledgeBase(
        source=source,
        model=kb,
        conditions=conditions,
        leak=kb.leak_probability.value,
        bands=bands,
        finding_terms=finding_terms,
        condition_terms=condition_terms,
    )


def load_knowledge_base(path: str | Path | None = None) -> CompiledKnowledgeBase:
    """Load, validate and compile a knowledge base (the shipped one when no path is given)."""
    file = Path(path) if path is not None else default_kb_path()
    data = read_json(file)
    kb = validate(data, str(file))
    return compile_kb(kb, str(file))
