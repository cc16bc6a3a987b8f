"""Knowledge-base loading: term resolution and clear errors for broken files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from oms_cli.errors import KnowledgeBaseError, UnknownConditionError, UnknownFindingError
from oms_cli.kb.compiled import CompiledKnowledgeBase
from oms_cli.kb.store import load_knowledge_base


@pytest.mark.parametrize(
    "term", ["spots", "SPOTS", " Spots ", "red dots", "red_dots", "Red-Dots", "HP:0000001", "hp_0000001"]
)
def test_resolve_finding(toy_kb: CompiledKnowledgeBase, term: str) -> None:
    assert toy_kb.resolve_finding(term) == "spots"


def test_unknown_finding_suggests(toy_kb: CompiledKnowledgeBase) -> None:
    with pytest.raises(UnknownFindingError) as err:
        toy_kb.resolve_finding("cuogh")
    assert err.value.suggestions == ["cough"]
    assert "did you mean 'cough'" in err.value.message


@pytest.mark.parametrize("term", ["alpha", "Alpha disease", "a disease", "A_DISEASE"])
def test_resolve_condition(toy_kb: CompiledKnowledgeBase, term: str) -> None:
    assert toy_kb.resolve_condition(term) == "alpha"


def test_unknown_condition(toy_kb: CompiledKnowledgeBase) -> None:
    with pytest.raises(UnknownConditionError, match="did you mean 'beta'"):
        toy_kb.resolve_condition("betta")


def _break(data: dict[str, Any], how: str) -> Any:
    c0 = data["conditions"][0]
    if how == "missing-field":
        del c0["synopsis"]
    elif how == "wrong-type":
        c0["findings"]["spots"]["value"] = "high"
    elif how == "out-of-range":
        c0["findings"]["spots"]["value"] = 1.0
    elif how == "negative":
        c0["prior"]["child"]["value"] = -0.2
    elif how == "uncited":
        c0["findings"]["spots"] = {"value": 0.5}
    elif how == "dangling-ref":
        c0["findings"]["spots"]["refs"] = ["nope"]
    elif how == "unknown-finding":
        c0["findings"]["wings"] = {"value": 0.5, "estimate": "toy"}
    elif how == "duplicate-id":
        data["conditions"][1]["id"] = "alpha"
    elif how == "bad-hpo":
        data["findings"][0]["hpo"] = "HPO:1"
    elif how == "missing-band":
        del c0["age_profile"]["18+"]
    elif how == "extra-key":
        c0["colour"] = "red"
    return data


@pytest.mark.parametrize(
    ("how", "path", "words"),
    [
        ("missing-field", "conditions[0].synopsis", "Field required"),
        ("wrong-type", "conditions[0].findings.spots.value", "valid number"),
        ("out-of-range", "conditions[0].findings.spots.value", "strictly between 0 and 1"),
        ("negative", "conditions[0].prior.child.value", "strictly between 0 and 1"),
        ("uncited", "conditions[0].findings.spots", "citation"),
        ("dangling-ref", "conditions[0].findings.spots.refs[0]", "'nope'"),
        ("unknown-finding", "conditions[0].findings.wings", "unknown finding id"),
        ("duplicate-id", "conditions[1].id", "duplicate 'alpha'"),
        ("bad-hpo", "findings[0].hpo", "HP:0000000"),
        ("missing-band", "conditions[0].age_profile", "missing age band"),
        ("extra-key", "conditions[0].colour", "Extra inputs"),
    ],
)
def test_broken_kb_names_file_and_path(
    toy_data: dict[str, Any], write_kb: Callable[..., Path], how: str, path: str, words: str
) -> None:
    file = write_kb(_break(toy_data, how))
    with pytest.raises(KnowledgeBaseError) as err:
        load_knowledge_base(file)
    assert err.value.file == str(file)
    assert any(p.path == path and words in p.message for p in err.value.problems), err.value.problems
    assert str(file) in err.value.message


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ('{"schema_version": "1",', "invalid JSON"),
        ('{"value": NaN}', "NaN is not allowed"),
        (b"\xff\xfe{}", "not UTF-8"),
        ("", "invalid JSON"),
        ("[]", "valid dictionary"),
    ],
)
def test_unreadable_kb(write_kb: Callable[..., Path], content: str | bytes, words: str) -> None:
    with pytest.raises(KnowledgeBaseError, match=words):
        load_knowledge_base(write_kb(content))


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(KnowledgeBaseError, match="cannot read file"):
        load_knowledge_base(tmp_path / "absent.json")
