"""`oms-dx kb validate` and `oms-dx kb schema`: every problem of a broken file listed, a usable JSON Schema."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from oms_cli.errors import ExitCode
from oms_cli.kb.store import default_kb_path

from ..conftest import TOY_KB, Result

Invoke = Callable[..., Result]


def test_validate_shipped_kb(invoke: Invoke) -> None:
    res = invoke("kb", "validate", "--format", "json")
    assert res.exit_code == 0, res.stdout
    doc = res.json()
    assert doc["valid"] is True and doc["problems"] == []
    assert {c["name"]: c["status"] for c in doc["checks"]} == {
        "json": "passed",
        "schema": "passed",
        "links": "passed",
        "icd10cm": "passed",
        "hpo": "passed",
    }
    assert doc["counts"]["conditions"] == 17 and doc["counts"]["numbers"] > 1500
    table = invoke("kb", "validate", str(default_kb_path()))
    assert table.exit_code == 0 and table.stdout.strip().endswith(f"{doc['counts']['numbers']} numbers)")
    assert "icd10cm: passed" in table.stdout  # the checks are the result


def _card(data: dict[str, Any]) -> dict[str, Any]:
    cond: dict[str, Any] = data["conditions"][0]
    return cond


def _bad_icd(d: dict[str, Any]) -> None:
    _card(d)["codes"] = [{"system": "ICD-10-CM", "code": "Z99.999", "label": "Nothing", "refs": ["toyref"]}]


def _icd_label(d: dict[str, Any]) -> None:
    _card(d)["codes"] = [{"system": "ICD-10-CM", "code": "G25.3", "label": "Jerks", "refs": ["toyref"]}]


def _dangling_statement_ref(d: dict[str, Any]) -> None:
    _card(d)["therapy"] = [{"text": "Rest and fluids help.", "refs": ["nosuchref"]}]


def _uncited_statement(d: dict[str, Any]) -> None:
    _card(d)["look_for"] = [{"text": "Look at the eyes.", "refs": []}]


def _versus_unknown(d: dict[str, Any]) -> None:
    _card(d)["differential_pitfalls"] = [{"text": "Not zeta at all.", "refs": ["toyref"], "versus": ["zeta"]}]


def _criteria_unknown_finding(d: dict[str, Any]) -> None:
    _card(d)["criteria"] = [
        {
            "id": "toy",
            "name": "Toy criteria",
            "source": "Toy",
            "refs": ["toyref"],
            "required": 1,
            "items": [{"id": "a", "text": "A", "findings": ["no-such-finding"]}],
        }
    ]


def _criteria_unsatisfiable(d: dict[str, Any]) -> None:
    _criteria_unknown_finding(d)
    _card(d)["criteria"][0]["required"] = 2
    _card(d)["criteria"][0]["items"][0]["findings"] = ["spots"]


def _two_problems(d: dict[str, Any]) -> None:
    _bad_icd(d)
    _dangling_statement_ref(d)


def _hpo_unknown(d: dict[str, Any]) -> None:
    d["findings"][0]["hpo"] = "HP:9999999"


def _bad_value(d: dict[str, Any]) -> None:
    _card(d)["findings"]["spots"]["value"] = 1.5


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (_bad_icd, [("conditions[0].codes[0].code", "not an ICD-10-CM code")]),
        (_icd_label, [("conditions[0].codes[0].label", "official 'Myoclonus'")]),
        (_dangling_statement_ref, [("conditions[0].therapy[0].refs[0]", "'nosuchref' is not in 'references'")]),
        (_uncited_statement, [("conditions[0].look_for[0].refs", "at least 1 item")]),
        (_versus_unknown, [("conditions[0].differential_pitfalls[0].versus[0]", "unknown condition id 'zeta'")]),
        (_criteria_unknown_finding, [("conditions[0].criteria[0].items[0].findings[0]", "unknown finding id")]),
        (_criteria_unsatisfiable, [("conditions[0].criteria[0]", "requires 2 items but lists only 1")]),
        (_hpo_unknown, [("findings[0].hpo", "not an HPO term")]),
        (_bad_value, [("conditions[0].findings.spots.value", "between 0 and 1")]),
        (
            _two_problems,
            [
                ("conditions[0].therapy[0].refs[0]", "is not in 'references'"),
                ("conditions[0].codes[0].code", "not an ICD-10-CM code"),
            ],
        ),
    ],
)
def test_validate_lists_every_problem(
    invoke: Invoke,
    write_kb: Callable[..., Path],
    toy_data: dict[str, Any],
    mutate: Callable[[dict[str, Any]], None],
    expected: list[tuple[str, str]],
) -> None:
    mutate(toy_data)
    path = write_kb(toy_data)
    res = invoke("kb", "validate", str(path), "--format", "json")
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    doc = res.json()
    assert doc["valid"] is False and doc["file"] == str(path)
    got = [(p["path"], p["message"]) for p in doc["problems"]]
    assert len(got) == len(expected), got
    for (path_got, msg_got), (path_want, msg_want) in zip(got, expected, strict=True):
        assert path_got == path_want and msg_want in msg_got
    table = invoke("kb", "validate", str(path))
    assert table.exit_code == ExitCode.KNOWLEDGE_BASE
    lines = [line for line in table.stdout.splitlines() if line.startswith(f"{path}: ")]
    assert len(lines) == len(expected)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe{}", "not UTF-8"),
        (b'{"value": NaN}', "NaN is not allowed"),
        (b"", "invalid JSON"),
    ],
)
def test_validate_unreadable_files(invoke: Invoke, write_kb: Callable[..., Path], content: bytes, message: str) -> None:
    path = write_kb(content)
    res = invoke("kb", "validate", str(path), "--format", "json")
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    doc = res.json()
    assert message in doc["problems"][0]["message"]
    assert doc["checks"] == [{"name": "json", "status": "failed", "detail": ""}]


def test_validate_schema_failure_skips_later_checks(
    invoke: Invoke, write_kb: Callable[..., Path], toy_data: dict[str, Any]
) -> None:
    del toy_data["conditions"][0]["synopsis"]
    toy_data["findings"][0]["kind"] = "smell"
    doc = invoke("kb", "validate", str(write_kb(toy_data)), "--format", "json").json()
    assert {p["path"] for p in doc["problems"]} == {"conditions[0].synopsis", "findings[0].kind"}
    assert [c["status"] for c in doc["checks"]] == ["passed", "failed", "skipped", "skipped", "skipped"]


def test_validate_missing_file(invoke: Invoke, tmp_path: Path) -> None:
    res = invoke("kb", "validate", str(tmp_path / "absent.json"))
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    assert "cannot read file" in res.stdout


# ----------------------------------------------------------------------------- schema


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    from typer.testing import CliRunner

    from oms_cli.commands import build_app

    app = build_app()

    res = CliRunner().invoke(app, ["kb", "schema"])
    assert res.exit_code == 0
    doc: dict[str, Any] = json.loads(res.stdout)
    return doc


def test_schema_is_a_valid_json_schema(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "Condition" in schema["$defs"] and "Criteria" in schema["$defs"]


@pytest.mark.parametrize("path", [default_kb_path(), TOY_KB])
def test_knowledge_bases_conform_to_the_schema(schema: dict[str, Any], path: Path) -> None:
    jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda d: d["conditions"][0]["findings"]["spots"].update(value=1.5),
        lambda d: d["conditions"][0].update(colour="red"),
        lambda d: d["findings"][0].update(kind="smell"),
        lambda d: d.update(schema_version="9"),
    ],
)
def test_schema_rejects_broken_files(schema: dict[str, Any], toy_data: dict[str, Any], mutate: Any) -> None:
    broken = copy.deepcopy(toy_data)
    mutate(broken)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, schema)
