"""The JSON contract: one envelope for every command, one error object, one result-record builder.

Every document starts with `schema_version` and `command`, then the command's data. The README's "JSON
contract" section documents each field; bump SCHEMA_VERSION and say what changed there whenever a field changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, assert_never

from oms_cli import __version__
from oms_cli.output import views as v

if TYPE_CHECKING:
    from oms_cli.core.engine import ScoredCondition
    from oms_cli.core.reasoning import Analysis, Ledger, NextFinding
    from oms_cli.errors import OmsError
    from oms_cli.kb.compiled import Cited, CompiledKnowledgeBase, Reference

SCHEMA_VERSION = "3"


def envelope(command: str, data: dict[str, Any]) -> dict[str, Any]:
    """A document of the contract: schema_version and command first, then the command's data."""
    return {"schema_version": SCHEMA_VERSION, "command": command, **data}


def error_object(err: OmsError) -> dict[str, Any]:
    """The error object every command writes in JSON mode (and every failed batch record carries)."""
    from oms_cli.errors import KnowledgeBaseError

    body: dict[str, Any] = {"code": err.code, "message": err.message, "exit_code": int(err.exit_code)}
    if isinstance(err, KnowledgeBaseError):
        body["file"] = err.file
        body["problems"] = [{"path": p.path, "message": p.message} for p in err.problems]
    suggestions = getattr(err, "suggestions", None)
    if suggestions is not None:
        body["suggestions"] = suggestions
    return body


def error_document(command: str, body: dict[str, Any]) -> dict[str, Any]:
    """An error in JSON mode: the envelope with an `error` object."""
    return envelope(command, {"error": body})


def result_rows(results: Sequence[ScoredCondition], contributions: bool = True) -> list[dict[str, Any]]:
    """Ranked conditions as JSON objects: the `results` of suggest and of every batch record."""
    rows = []
    for r in results:
        row: dict[str, Any] = {
            "rank": r.rank,
            "id": r.id,
            "name": r.name,
            "probability": r.probability,
            "cant_miss": r.cant_miss,
            "log_prior": r.log_prior,
            "log_age": r.log_age,
            "log_onset": r.log_onset,
        }
        if contributions:
            row["contributions"] = [
                {
                    "finding": c.finding,
                    "state": c.state,
                    "log_lr": c.log_lr,
                    "p_condition": c.p_condition,
                    "p_others": c.p_others,
                    "listed": c.listed,
                }
                for c in r.contributions
            ]
        rows.append(row)
    return rows


def ledger_document(ledger: Ledger) -> dict[str, Any]:
    """One explanation ledger: the terms add up to log_joint; exp(log_joint - log_evidence) = posterior."""
    terms = []
    for t in ledger.terms:
        term: dict[str, Any] = {
            "kind": t.kind,
            "label": t.label,
            "probability": t.probability,
            "log_value": t.log_value,
        }
        if t.kind == "finding":
            term.update(state=t.state, p_others=t.p_others, log_lr=t.log_lr)
        term["refs"] = list(t.refs)
        if t.estimate is not None:
            term["estimate"] = t.estimate
        if t.note is not None:
            term["note"] = t.note
        terms.append(term)
    return {
        "terms": terms,
        "log_joint": ledger.log_joint,
        "log_evidence": ledger.log_evidence,
        "log_posterior": ledger.log_posterior,
        "posterior": ledger.posterior,
    }


def _next(kb: CompiledKnowledgeBase, n: NextFinding) -> dict[str, Any]:
    out: dict[str, Any] = {
        "finding": n.finding,
        "label": kb.finding(n.finding).label,
        "p_present": n.p_present,
        "info_gain_bits": n.info_gain_bits,
        "if_present": [{"id": cid, "probability": p} for cid, p in n.if_present],
        "if_absent": [{"id": cid, "probability": p} for cid, p in n.if_absent],
    }
    burden = kb.finding(n.finding).burden
    if burden is not None:
        out["burden"] = burden
    return out


def _analysis(
    analysis: Analysis, kb: CompiledKnowledgeBase, top: int | None, warnings: Sequence[str]
) -> dict[str, Any]:
    ranking = analysis.ranking
    shown = ranking.results if top is None else ranking.results[: max(top, 0)]
    q, known = ranking.query, ranking.known
    results = result_rows(shown)
    if analysis.ledgers:
        for row, r in zip(results, shown, strict=True):
            row["ledger"] = ledger_document(analysis.ledgers[r.id])
    return {
        "oms_dx_version": __version__,
        "kb_version": kb.kb_version,
        "closed_world": False,
        "input": {
            "present": list(q.present),
            "absent": list(q.absent),
            "implied_present": list(known.implied_present),
            "implied_absent": list(known.implied_absent),
            "age_years": q.age_years,
            "age_group": ranking.age_group,
            "onset": known.onset,
            "onset_implied_by": known.onset_implied_by,
        },
        "results": results,
        "other_probability": ranking.other_probability,
        "cant_miss_threshold": analysis.cant_miss_threshold,
        "cant_miss": [
            {
                "id": a.id,
                "name": a.name,
                "rank": a.rank,
                "probability": a.probability,
                "reason": a.reason,
                "excluding_test": a.excluding_test,
            }
            for a in analysis.cant_miss
        ],
        "next_findings": [_next(kb, n) for n in analysis.next_findings],
        "next_tests": [_next(kb, n) for n in analysis.next_tests],
        "criteria": [
            {
                "condition": c.condition,
                "id": c.id,
                "name": c.name,
                "required": c.required,
                "met": c.met,
                "unknown": c.unknown,
                "status": c.status,
                "items": [
                    {"id": i.id, "text": i.text, "status": i.status, "decided_by": list(i.decided_by)} for i in c.items
                ],
            }
            for c in analysis.criteria
        ],
        "warnings": list(warnings),
    }


def evidence_dict(ev: Cited) -> dict[str, Any]:
    """A number with its provenance."""
    out: dict[str, Any] = {"value": ev.value, "refs": list(ev.refs)}
    if ev.estimate is not None:
        out["estimate"] = ev.estimate
    if ev.note is not None:
        out["note"] = ev.note
    return out


def by_age_dict(by_age: dict[str, Cited]) -> dict[str, Any]:
    """A number that may differ by age: one evidence object, or one each for children and adults."""
    if by_age["child"] == by_age["adult"]:
        return evidence_dict(by_age["child"])
    return {"child": evidence_dict(by_age["child"]), "adult": evidence_dict(by_age["adult"])}


def _record(rec: tuple[Any, ...], *, keep_none: tuple[str, ...] = (), fields: tuple[str, ...] = ()) -> dict[str, Any]:
    """A knowledge-base record as a JSON object: fields by name, tuples as lists, empty optional fields dropped."""
    out: dict[str, Any] = {}
    for name, value in zip(fields or rec._fields, rec, strict=True):  # type: ignore[attr-defined]
        if value is None and name not in keep_none:
            continue
        if isinstance(value, tuple) and value and hasattr(value[0], "_fields"):
            out[name] = [_record(v) for v in value]
        else:
            out[name] = list(value) if isinstance(value, tuple) else value
    return out


def reference_dict(ref: Reference, number: int | None = None) -> dict[str, Any]:
    """A full reference, numbered when it belongs to a card."""
    out = _record(ref)
    return {"number": number, **out} if number is not None else out


def _card(view: v.CardView) -> dict[str, Any]:
    from oms_cli.core.cards import finding_groups

    kb, card = view.kb, view.card
    c, text, sections = card.condition, card.text, card.sections
    body: dict[str, Any] = {"id": c.id, "name": c.name, "aliases": list(c.aliases), "last_reviewed": text.last_reviewed}
    if "synopsis" in sections:
        body["synopsis"] = text.synopsis
        body["synopsis_refs"] = list(text.synopsis_refs)
    if "codes" in sections:
        body["codes"] = [_record(code) for code in text.codes]
    if "cant-miss" in sections:
        cm: dict[str, Any] = {"flag": c.cant_miss, "reason": c.cant_miss_reason}
        if c.excluding_test is not None:
            cm["excluding_test"] = c.excluding_test
        body["cant_miss"] = cm
    for section, field in (
        ("look-for", "look_for"),
        ("pearls", "diagnostic_pearls"),
        ("pitfalls", "differential_pitfalls"),
        ("management", "management_pearls"),
        ("therapy", "therapy"),
    ):
        if section in sections:
            body[field] = [_record(st) for st in getattr(text, field)]
    if "findings" in sections:
        body["findings"] = {k: by_age_dict(v) for k, v in c.findings.items()}
        body["groups"] = {k: by_age_dict(v) for k, v in c.groups.items()}
        body["composites"] = {k: by_age_dict(v) for k, v in c.composites.items()}
        body["finding_groups"] = dict(finding_groups(kb, c))
    if "criteria" in sections:
        body["criteria"] = [_record(cr) for cr in c.criteria]
    if "tests" in sections:
        body["best_tests"] = [_record(t) for t in text.best_tests]
    if "profile" in sections:
        body["prior"] = by_age_dict(c.prior)
        body["age_profile"] = {k: evidence_dict(v) for k, v in c.age.items()}
        body["onset_profile"] = {k: evidence_dict(v) for k, v in c.onset.items()}
    return {
        "kb_version": kb.kb_version,
        "sections": list(sections),
        "condition": body,
        "references": [reference_dict(r, n) for n, r in enumerate(card.references, 1)],
    }


def _comparison(view: v.ComparisonView) -> dict[str, Any]:
    import math

    kb, cmp = view.kb, view.comparison
    ids = [c.id for c in cmp.conditions]
    return {
        "kb_version": kb.kb_version,
        "conditions": [
            {
                "id": c.id,
                "name": c.name,
                "cant_miss": c.cant_miss,
                "prior": {k: v.value for k, v in c.prior.items()},
                "age_profile": {k: v.value for k, v in c.age.items()},
                "onset_profile": {k: v.value for k, v in c.onset.items()},
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
        "pitfalls": [{"condition": cid, **_record(st)} for cid, st in cmp.pitfalls],
        "references": [reference_dict(r) for r in cmp.references],
    }


def _evaluation(view: v.EvaluationView) -> dict[str, Any]:
    ev = view.evaluation
    return {
        "oms_dx_version": __version__,
        "kb_version": view.kb.kb_version,
        "file": view.file,
        "n": ev.n,
        "top1": ev.top1,
        "top3": ev.top3,
        "mrr": ev.mrr,
        "brier": ev.brier,
        "log_loss": ev.log_loss,
        "ece": ev.ece,
        "cant_miss_recall": ev.cant_miss_recall,
        "cant_miss_cases": ev.cant_miss_cases,
        "with_workup": ev.with_workup,
        "per_condition": [s._asdict() for s in ev.per_condition],
        "confusion": ev.confusion,
        "calibration": [b._asdict() for b in ev.calibration],
        "skipped": ev.n_skipped,
        "errors": ev.n_errors,
        "skipped_cases": [s._asdict() for s in ev.skipped],
    }


def render(view: v.View) -> dict[str, Any]:
    """The JSON document of a command's result."""
    if isinstance(view, v.SuggestView):
        return envelope("suggest", _analysis(view.analysis, view.kb, view.top, view.warnings))
    if isinstance(view, v.InterviewView):
        s = view.summary
        doc = _analysis(view.analysis, view.kb, None, view.analysis.ranking.warnings)
        doc["interview"] = {
            "present": list(s.present),
            "absent": list(s.absent),
            "unknown": list(s.unknown),
            "skipped": list(s.skipped),
            "stop_reason": s.stop_reason,
            "command": s.command,
        }
        return envelope("interview", doc)
    if isinstance(view, v.CardView):
        return envelope("show", _card(view))
    if isinstance(view, v.ComparisonView):
        return envelope("compare", _comparison(view))
    if isinstance(view, v.ConditionsView):
        kb = view.kb
        conditions = [
            {
                "id": c.id,
                "name": c.name,
                "aliases": list(c.aliases),
                "cant_miss": c.cant_miss,
                "prior": {k: v.value for k, v in c.prior.items()},
            }
            for c in kb.conditions
        ]
        return envelope("conditions", {"kb_version": kb.kb_version, "conditions": conditions})
    if isinstance(view, v.FindingsView):
        kb = view.kb
        findings = [
            {**_record(f[:-1], fields=f._fields[:-1]), "background": by_age_dict(f.background)} for f in kb.findings
        ]
        groups = [
            {**_record(g[:-1], fields=g._fields[:-1]), "dependence": evidence_dict(g.dependence)} for g in kb.groups
        ]
        return envelope("findings", {"kb_version": kb.kb_version, "findings": findings, "groups": groups})
    if isinstance(view, v.EvaluationView):
        return envelope("evaluate", _evaluation(view))
    if isinstance(view, v.ValidationView):
        report = view.report
        return envelope(
            "kb validate",
            {
                "file": report.file,
                "valid": report.valid,
                "checks": [{"name": c.name, "status": c.status, "detail": c.detail} for c in report.checks],
                "counts": report.counts,
                "problems": [{"path": p.path, "message": p.message} for p in report.problems],
            },
        )
    assert_never(view)
