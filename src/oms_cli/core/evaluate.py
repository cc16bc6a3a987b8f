"""Evaluation of the ranking on cases with a known diagnosis: accuracy, proper scores, calibration."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import NamedTuple

from oms_cli.core.engine import OTHER, normalise_query, rank
from oms_cli.core.inputs import Case, CaseError, clip
from oms_cli.core.reasoning import DEFAULT_CANT_MISS_THRESHOLD
from oms_cli.errors import OmsError
from oms_cli.kb.compiled import CompiledKnowledgeBase

CALIBRATION_BINS = 10
# Probabilities are floored here for log loss, so one confident miss costs ~34.5 nats instead of infinity.
LOG_LOSS_FLOOR = 1e-15


class ConditionStats(NamedTuple):
    """How the cases whose final diagnosis is one condition fared, and how often it was wrongly ranked first."""

    id: str
    n: int
    top1: float | None
    top3: float | None
    mrr: float | None
    mean_probability: float | None
    predicted_first: int
    precision: float | None


class CalibrationBin(NamedTuple):
    """Every (case, condition) probability falling in [lo, hi): how often that condition was the diagnosis."""

    lo: float
    hi: float
    n: int
    mean_predicted: float | None
    observed: float | None


class Skipped(NamedTuple):
    """A case left out of the metrics, and why."""

    id: str | int | None
    line: int
    reason: str
    error: bool


class Evaluation(NamedTuple):
    """Metrics over the evaluable cases; fractions are in 0-1, scores per case (lower is better)."""

    n: int
    top1: float | None
    top3: float | None
    mrr: float | None
    brier: float | None
    log_loss: float | None
    ece: float | None
    per_condition: tuple[ConditionStats, ...]
    confusion: dict[str, dict[str, int]]
    calibration: tuple[CalibrationBin, ...]
    cant_miss_recall: float | None  # of the cases whose diagnosis is a can't-miss condition, the share in the panel
    cant_miss_cases: int
    with_workup: bool  # stage 2: work-up results counted
    skipped: tuple[Skipped, ...]  # the first MAX_SKIPPED_LISTED of them
    n_skipped: int
    n_errors: int  # lines that could not be read or scored (as opposed to cases with no diagnosis)


MAX_SKIPPED_LISTED = 1000


class _Tally:
    """Running sums for one group of cases, so that memory does not grow with the number of cases."""

    def __init__(self) -> None:
        self.n = 0
        self.top1 = 0
        self.top3 = 0
        self.rr = 0.0
        self.p = 0.0

    def add(self, position: int, p_true: float) -> None:
        self.n += 1
        self.top1 += position == 1
        self.top3 += position <= 3
        self.rr += 1.0 / position
        self.p += p_true

    def mean(self, total: float) -> float | None:
        return total / self.n if self.n else None


def evaluate(
    kb: CompiledKnowledgeBase,
    items: Iterable[Case | CaseError],
    with_workup: bool = False,
    cant_miss_threshold: float = DEFAULT_CANT_MISS_THRESHOLD,
) -> Evaluation:
    """Score every case with a diagnosis and summarise. Streams: memory grows with conditions, not cases.

    `with_workup` adds each case's work-up results to its findings (stage 2); otherwise they are ignored (stage 1).
    Probabilities for scores and calibration include other causes, whose share counts against every case.
    """
    ids = [c.id for c in kb.conditions]
    cant_miss_ids = {c.id for c in kb.conditions if c.cant_miss}
    cant_miss_cases = cant_miss_caught = 0
    confusion = {t: dict.fromkeys(ids, 0) for t in ids}
    overall = _Tally()
    by_condition = {t: _Tally() for t in ids}
    brier = 0.0
    log_loss = 0.0
    bin_n = [0] * CALIBRATION_BINS
    bin_p = [0.0] * CALIBRATION_BINS
    bin_hit = [0] * CALIBRATION_BINS
    skipped: list[Skipped] = []

    def skip(entry: Skipped) -> None:
        if len(skipped) < MAX_SKIPPED_LISTED:
            skipped.append(entry)

    n_skipped = n_errors = 0
    for item in items:
        if isinstance(item, CaseError):
            n_skipped += 1
            n_errors += 1
            skip(Skipped(item.id, item.line, item.error, True))
            continue
        if item.diagnosis is None:
            n_skipped += 1
            skip(Skipped(item.id, item.line, "no diagnosis given", False))
            continue
        diagnosis = item.diagnosis
        if with_workup:
            item = item.with_workup()
        try:
            truth = kb.resolve_condition(diagnosis)
            query = normalise_query(kb, item.present, item.absent, item.age_years, item.onset)
        except OmsError as err:
            n_skipped += 1
            n_errors += 1
            skip(Skipped(item.id, item.line, clip(err.message), True))
            continue
        ranking = rank(kb, query, contributions=False)
        results = ranking.results
        probs = {r.id: r.probability for r in results}
        if truth in cant_miss_ids:
            cant_miss_cases += 1
            cant_miss_caught += probs[truth] >= cant_miss_threshold
        probs[OTHER] = ranking.other_probability
        position = next(r.rank for r in results if r.id == truth)
        overall.add(position, probs[truth])
        by_condition[truth].add(position, probs[truth])
        confusion[truth][results[0].id] += 1
        brier += math.fsum((p - (1.0 if cid == truth else 0.0)) ** 2 for cid, p in probs.items())
        log_loss += -math.log(max(probs[truth], LOG_LOSS_FLOOR))
        for cid, p in probs.items():
            b = min(int(p * CALIBRATION_BINS), CALIBRATION_BINS - 1)
            bin_n[b] += 1
            bin_p[b] += p
            bin_hit[b] += cid == truth

    per_condition = []
    for cid in ids:
        t = by_condition[cid]
        first = sum(confusion[row][cid] for row in ids)
        per_condition.append(
            ConditionStats(
                id=cid,
                n=t.n,
                top1=t.mean(t.top1),
                top3=t.mean(t.top3),
                mrr=t.mean(t.rr),
                mean_probability=t.mean(t.p),
                predicted_first=first,
                precision=confusion[cid][cid] / first if first else None,
            )
        )
    calibration = tuple(
        CalibrationBin(
            lo=b / CALIBRATION_BINS,
            hi=(b + 1) / CALIBRATION_BINS,
            n=bin_n[b],
            mean_predicted=bin_p[b] / bin_n[b] if bin_n[b] else None,
            observed=bin_hit[b] / bin_n[b] if bin_n[b] else None,
        )
        for b in range(CALIBRATION_BINS)
    )
    pairs = sum(bin_n)
    # Expected calibration error: the bins' |mean predicted - observed|, weighted by their share of pairs.
    ece = math.fsum(abs(bin_p[b] - bin_hit[b]) for b in range(CALIBRATION_BINS)) / pairs if pairs else None
    return Evaluation(
        n=overall.n,
        top1=overall.mean(overall.top1),
        top3=overall.mean(overall.top3),
        mrr=overall.mean(overall.rr),
        brier=overall.mean(brier),
        log_loss=overall.mean(log_loss),
        ece=ece,
        per_condition=tuple(per_condition),
        confusion=confusion,
        calibration=calibration,
        cant_miss_recall=cant_miss_caught / cant_miss_cases if cant_miss_cases else None,
        cant_miss_cases=cant_miss_cases,
        with_workup=with_workup,
        skipped=tuple(skipped),
        n_skipped=n_skipped,
        n_errors=n_errors,
    )
