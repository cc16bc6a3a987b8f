"""Faults in the compiled-knowledge-base cache: forged keys, damaged and wrong-shape entries, hostile directories.

Whatever the cache directory holds, `oms-dx suggest -f opsoclonus --age 3` must give the ranking the knowledge
base itself gives (OMS first), exit 0 and say nothing on stderr: a cache is an optimisation, and an entry that is
not exactly what this user's oms-dx wrote for these bytes is ignored and rebuilt, silently (SECURITY.md).
A "poisoned" entry below carries valid digests but OMS's opsoclonus frequency lowered to 0.01, as someone who can
write to the directory could make it: any test that reads it by mistake ranks OMS out of first place.
"""

from __future__ import annotations

import errno
import functools
import json
import marshal
import math
import os
import resource
import stat
import struct
import subprocess
import sys
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from oms_cli import __version__
from oms_cli.errors import ExitCode, KnowledgeBaseError
from oms_cli.kb import compiled, store
from oms_cli.kb.store import (
    content_key,
    default_cache_dir,
    default_kb_path,
    entry_path,
    load_knowledge_base,
    read_cache,
    write_cache,
)

from ..conftest import TOY_KB, Result
from ..kb.test_compiled import _break
from .forge import forge_checksums

Invoke = Callable[..., Result]
SUGGEST = ("suggest", "-f", "opsoclonus", "--age", "3", "--format", "json")
SHOW = ("show", "oms", "--format", "json")
SHIPPED = default_kb_path()
RAW = SHIPPED.read_bytes()
KEY = content_key(RAW)
IS_ROOT = hasattr(os, "geteuid") and os.geteuid() == 0
NOBODY = 65534


# ----------------------------------------------------------------------------- helpers


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    """What the shipped knowledge base itself says, read without any cache (as JSON documents)."""
    from typer.testing import CliRunner

    from oms_cli.commands import build_app

    runner, app = CliRunner(), build_app()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMS_DX_NO_CACHE", "1")
        suggest = runner.invoke(app, list(SUGGEST), catch_exceptions=False)
        show = runner.invoke(app, list(SHOW), catch_exceptions=False)
    assert suggest.exit_code == 0 and show.exit_code == 0
    results = json.loads(suggest.stdout)["results"]
    assert results[0]["id"] == "oms"
    return {"results": results, "show": json.loads(show.stdout)}


@pytest.fixture()
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A cache directory of this test's own, not yet created."""
    path = tmp_path / "cache"
    monkeypatch.setenv("OMS_DX_CACHE_DIR", str(path))
    return path


def assert_right(res: Result, reference: dict[str, Any]) -> None:
    """Exit 0, nothing on stderr, and the ranking the knowledge base itself gives."""
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
    results = res.json()["results"]
    assert results[0]["id"] == "oms"
    assert results == reference["results"]


def assert_card_right(res: Result, reference: dict[str, Any]) -> None:
    assert res.exit_code == 0, res.stderr
    assert res.stderr == ""
    assert res.json() == reference["show"]


@functools.cache
def _shipped_blobs() -> tuple[bytes, bytes]:
    head, details = load_knowledge_base(SHIPPED).cache_parts()
    return marshal.dumps(head), marshal.dumps(details)


def shipped_parts() -> tuple[dict[str, Any], dict[str, Any]]:
    """Fresh, mutable copies of the two parts of the shipped knowledge base's cache entry."""
    head, details = _shipped_blobs()
    return marshal.loads(head), marshal.loads(details)


def oms(head: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in head["conditions"] if c["id"] == "oms")


def poisoned_entry(cache_dir: Path) -> Path:
    """An entry with valid digests and OMS's opsoclonus frequency in children lowered from 0.59 to 0.01."""
    head, details = shipped_parts()
    oms(head)["findings"]["opsoclonus"]["child"][0] = 0.01
    write_cache(cache_dir, KEY, head, details)
    entry = entry_path(cache_dir, KEY)
    assert entry.is_file()
    return entry


def entry_is_sound(cache_dir: Path) -> bool:
    """Whether the shipped knowledge base's entry is there and holds exactly its compiled form."""
    cached = read_cache(cache_dir, KEY)
    if cached is None:
        return False
    head, details = cached
    head.pop("oms_dx_version")
    return (head, details()) == shipped_parts()


def run_cli(*args: str, timeout: float = 120, **popen: Any) -> Result:
    """The CLI in a subprocess (for what could hang or exhaust memory), with this test's environment."""
    env = {k: v for k, v in os.environ.items() if k != "OMS_DX_NO_CACHE"}
    proc = subprocess.run(
        [sys.executable, "-m", "oms_cli", *args], capture_output=True, text=True, env=env, timeout=timeout, **popen
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


# ----------------------------------------------------------------------------- the key


def test_forged_checksum_gets_its_own_entry(
    invoke: Invoke, cache: Path, tmp_path: Path, reference: dict[str, Any]
) -> None:
    # The attack on the old key: a valid knowledge base with OMS's opsoclonus lowered from 0.59 to 0.01 (and its
    # saccadic-intrusion group to match) that shares the shipped file's length, CRC-32 and Adler-32.
    changed = bytearray(RAW)
    start = RAW.index(b'"id": "oms"')
    for after, old, new in ((b'"opsoclonus"', b"0.59", b"0.01"), (b'"saccadic-intrusions"', b"0.63", b"0.12")):
        at = RAW.index(b'"value": ' + old, RAW.index(after, RAW.index(b'"', start + 12)))
        changed[at + 9 : at + 13] = new
    forged = tmp_path / "forged.json"
    forged.write_bytes(forge_checksums(RAW, bytes(changed)))
    assert forged.read_bytes() != RAW
    old_key = (len(RAW), zlib.crc32(RAW), zlib.adler32(RAW))
    assert (len(forged.read_bytes()), zlib.crc32(forged.read_bytes()), zlib.adler32(forged.read_bytes())) == old_key

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("OMS_DX_NO_CACHE", "1")
        truth = invoke(*SUGGEST, "--kb", str(forged)).json()["results"]
    assert truth[0]["id"] != "oms"  # what the forged file says, read without a cache

    for _ in range(2):  # the shipped file's entry exists: the forged file still gets its own numbers, and back
        assert_right(invoke(*SUGGEST), reference)
        forged_run = invoke(*SUGGEST, "--kb", str(forged))
        assert forged_run.exit_code == 0 and forged_run.json()["results"] == truth
    assert len(list(cache.iterdir())) == 2


def test_key_is_a_digest_of_the_bytes_and_versions(cache: Path) -> None:
    load_knowledge_base(TOY_KB, cache_dir=cache)
    (entry,) = cache.iterdir()
    key = content_key(TOY_KB.read_bytes())
    assert len(key) == 64 and key == entry_path(cache, key).name.split("-")[1]
    assert f"-v{__version__}-f{compiled.COMPILED_FORMAT}.{sys.implementation.cache_tag}." in entry.name
    assert content_key(TOY_KB.read_bytes() + b" ") != key


# ----------------------------------------------------------------------------- damaged entries


def _flip(data: bytes, at: int, mask: int = 0x01) -> bytes:
    return data[:at] + bytes([data[at] ^ mask]) + data[at + 1 :]


def test_a_flipped_bit_that_decodes_to_another_probability_is_caught(
    invoke: Invoke, cache: Path, reference: dict[str, Any]
) -> None:
    assert_right(invoke(*SUGGEST), reference)
    entry = entry_path(cache, KEY)
    whole = entry.read_bytes()
    # marshal stores a float as 8 bytes (after "g", or 0xe7 when it is referred to again); the top bit of byte 6 is
    # bit 3 of the exponent: 0.59 becomes 0.0023.
    needle = struct.pack("<d", 0.59)
    for at in (i for i in range(len(whole)) if whole.startswith(needle, i) and whole[i - 1] in b"g\xe7"):
        flipped = _flip(whole, at + 6, 0x80)
        head_len = int.from_bytes(whole[16:24], "little")
        head = marshal.loads(flipped[96 : 96 + head_len])
        if oms(head)["findings"]["opsoclonus"]["child"][0] != 0.59:
            break
    else:
        raise AssertionError("OMS's opsoclonus frequency not found in the entry")
    assert math.isclose(oms(head)["findings"]["opsoclonus"]["child"][0], 0.59 / 256)
    # Well-formed and in range: only the digest can tell.
    compiled.from_data(head, "x", lambda: None)
    entry.write_bytes(flipped)
    assert_right(invoke(*SUGGEST), reference)
    assert entry_is_sound(cache)  # rebuilt


@pytest.mark.parametrize("where", ["magic", "head length", "details length", "head digest", "head", "last byte"])
def test_bit_flipped_entry(invoke: Invoke, cache: Path, reference: dict[str, Any], where: str) -> None:
    assert_right(invoke(*SUGGEST), reference)
    entry = entry_path(cache, KEY)
    whole = entry.read_bytes()
    at = {"magic": 3, "head length": 17, "details length": 25, "head digest": 40, "head": 5000}.get(where, -1)
    entry.write_bytes(_flip(whole, at % len(whole)))
    assert_right(invoke(*SUGGEST), reference)
    assert_card_right(invoke(*SHOW), reference)
    assert entry_is_sound(cache)


@pytest.mark.parametrize("where", ["details digest", "details"])
def test_bit_flipped_details_are_read_from_the_file(
    invoke: Invoke, cache: Path, reference: dict[str, Any], where: str
) -> None:
    assert_right(invoke(*SUGGEST), reference)
    entry = entry_path(cache, KEY)
    whole = entry.read_bytes()
    # In the details, a flipped bit that still decodes: the first letter of OMS's synopsis, "A" to "C".
    at = 70 if where == "details digest" else whole.index(b"An uncommon immune-mediated disorder")
    entry.write_bytes(_flip(whole, at, 0x02))
    assert_right(invoke(*SUGGEST), reference)  # ranking never decodes the details
    assert_card_right(invoke(*SHOW), reference)  # the card does: from the file, and the entry is rewritten
    assert entry_is_sound(cache)


@pytest.mark.parametrize("keep", [0, 1, 5, 95, 96, 97, 5000, -1])
def test_truncated_entry(invoke: Invoke, cache: Path, reference: dict[str, Any], keep: int) -> None:
    assert_right(invoke(*SUGGEST), reference)
    entry = entry_path(cache, KEY)
    whole = entry.read_bytes()
    entry.write_bytes(whole[: keep % len(whole)])
    assert_right(invoke(*SUGGEST), reference)
    assert_card_right(invoke(*SHOW), reference)
    assert entry_is_sound(cache)


def test_an_entry_that_grew_or_is_too_large_is_not_read(
    invoke: Invoke, cache: Path, reference: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert_right(invoke(*SUGGEST), reference)
    entry = entry_path(cache, KEY)
    with entry.open("ab") as fh:
        fh.write(b"\0")
    assert_right(invoke(*SUGGEST), reference)
    monkeypatch.setattr(store, "_MAX_ENTRY", 1000)  # over the bound: never read into memory
    assert read_cache(cache, KEY) is None
    assert_right(invoke(*SUGGEST), reference)


# A marshal list header claiming 2**31 - 1 items: marshal allocates (and, failing, frees) 16 GB for it.
BOMB = b"[\xff\xff\xff\x7f"


def _bomb_entries() -> dict[str, bytes]:
    name = store.entry_name(KEY)
    digest = store._digest(name, b"head", b"not this")
    header = store._MAGIC + len(BOMB).to_bytes(8, "little") + (0).to_bytes(8, "little") + digest + bytes(32)
    return {
        "five bytes": BOMB,
        "old layout": len(BOMB).to_bytes(8, "little") + BOMB,  # what the previous cache read without a check
        "new layout, wrong digest": header + BOMB,
    }


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))


@pytest.mark.parametrize("layout", list(_bomb_entries()))
def test_five_byte_garbage_entry_allocates_nothing(cache: Path, reference: dict[str, Any], layout: str) -> None:
    cache.mkdir(mode=0o700)
    entry = entry_path(cache, KEY)
    entry.write_bytes(_bomb_entries()[layout])
    # Under a 2 GB address-space limit, a marshal that tried the 16 GB would fail with a MemoryError.
    res = run_cli(*SUGGEST, preexec_fn=_limit_memory)
    assert_right(res, reference)
    assert entry_is_sound(cache)


# ----------------------------------------------------------------------------- well-formed, wrong shape


def _set(path: str, value: Any) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    """A change to the head: `path` is dotted keys and list indices from the OMS condition ("oms.") or the head."""

    def change(head: dict[str, Any], details: dict[str, Any]) -> None:
        *parts, last = path.split(".")
        node: Any = head
        for part in parts:
            node = oms(head) if part == "oms" else node[int(part)] if isinstance(node, list) else node[part]
        if isinstance(node, list):
            node[int(last)] = value
        elif value is _DELETE:
            del node[last]
        else:
            node[last] = value

    return change


_DELETE = object()


def _cycle(head: dict[str, Any], details: dict[str, Any]) -> None:
    a, b = head["findings"][0], head["findings"][1]
    a["within"], b["within"] = b["id"], a["id"]


def _priors(head: dict[str, Any], details: dict[str, Any]) -> None:
    for c in head["conditions"]:
        c["prior"]["child"][0] = 0.2  # seventeen of them: no share left for other causes


def _band_gap(head: dict[str, Any], details: dict[str, Any]) -> None:
    head["bands"][1]["min_years"] += 0.5


def _bands_end_early(head: dict[str, Any], details: dict[str, Any]) -> None:
    head["bands"][-1]["max_years"] = 100.0


def _details(change: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any], dict[str, Any]], None]:
    def apply(head: dict[str, Any], details: dict[str, Any]) -> None:
        change(details)

    return apply


WRONG_SHAPES: dict[str, Callable[[dict[str, Any], dict[str, Any]], None]] = {
    "NaN probability": _set("oms.findings.opsoclonus.child.0", math.nan),
    "probability above 1": _set("oms.findings.opsoclonus.child.0", 1.5),
    "probability 0": _set("oms.prior.child.0", 0.0),
    "infinite probability": _set("oms.prior.adult.0", math.inf),
    "probability as text": _set("oms.findings.opsoclonus.child.0", "0.59"),
    "probability as integer": _set("oms.findings.opsoclonus.child", [1, 0]),
    "number without source": _set("oms.findings.opsoclonus.child", [0.59]),
    "source index out of range": _set("oms.findings.opsoclonus.child", [0.59, 10**9]),
    "flag as text": _set("oms.cant_miss", "no"),
    "missing field": _set("oms.prior", _DELETE),
    "missing age group": _set("oms.findings.opsoclonus", {"child": [0.59, 0]}),
    "extra age group": _set("oms.findings.opsoclonus.elderly", [0.5, 0]),
    "unknown finding": _set("oms.findings.wings", {"child": [0.5, 0], "adult": [0.5, 0]}),
    "unknown group": _set("oms.groups.wings", {"child": [0.5, 0], "adult": [0.5, 0]}),
    "missing age band": _set("oms.age", {}),
    "missing onset": _set("oms.onset", {}),
    "name as a list": _set("oms.name", ["OMS"]),
    "aliases as text": _set("oms.aliases", "OMS"),
    "criteria that cannot be met": _set("oms.criteria.0.required", 99),
    "records as a table": _set("findings", {}),
    "empty differential": _set("conditions", []),
    "term for an unknown finding": _set("finding_terms.opsoclonus", "wings"),
    "sign of three parts": _set("composites.0.signs.0", ["head-impulse-abnormal", "present", "extra"]),
    "another compiled format": _set("compiled_format", "7"),
    "another key": _set("content_key", "0" * 64),
    "priors leaving nothing": _priors,
    "gap between age bands": _band_gap,
    "bands ending at 100 years": _bands_end_early,
}
WRONG_DETAILS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "card text of a missing condition": lambda d: d["texts"].pop("oms"),
    "one source short": lambda d: d["sources"].pop(0),
    "one source too many": lambda d: d["sources"].insert(0, [["michaelis2019"], None, None]),
    "source of two parts": lambda d: d["sources"].__setitem__(0, [[], None]),
    "refs as text": lambda d: d["sources"].__setitem__(0, ["michaelis2019", None, None]),
    "year as text": lambda d: d["references"][0].__setitem__("year", "2019"),
    "synopsis as a number": lambda d: d["texts"]["oms"].__setitem__("synopsis", 3),
    "not a table": lambda d: d.clear(),
}


@pytest.mark.parametrize("how", list(WRONG_SHAPES))
def test_wrong_shape_entry_is_rebuilt(invoke: Invoke, cache: Path, reference: dict[str, Any], how: str) -> None:
    head, details = shipped_parts()
    WRONG_SHAPES[how](head, details)
    write_cache(cache, KEY, head, details)  # valid digests: only the shape checks stand in the way
    assert entry_path(cache, KEY).is_file()
    assert_right(invoke(*SUGGEST), reference)
    assert entry_is_sound(cache)


def test_circular_nesting_is_rebuilt(cache: Path, reference: dict[str, Any]) -> None:
    # In a subprocess with a timeout: read as it is, a cycle sends the engine round it for ever.
    head, details = shipped_parts()
    _cycle(head, details)
    write_cache(cache, KEY, head, details)
    assert_right(run_cli(*SUGGEST, timeout=120), reference)
    assert entry_is_sound(cache)


@pytest.mark.parametrize("how", list(WRONG_DETAILS))
def test_wrong_shape_details_are_read_from_the_file(
    invoke: Invoke, cache: Path, reference: dict[str, Any], how: str
) -> None:
    head, details = shipped_parts()
    WRONG_DETAILS[how](details)
    write_cache(cache, KEY, head, details)
    assert_right(invoke(*SUGGEST), reference)
    assert_card_right(invoke(*SHOW), reference)
    assert entry_is_sound(cache)


def test_details_that_belong_to_no_file_are_one_line(invoke: Invoke, cache: Path, reference: dict[str, Any]) -> None:
    # A head whose numbers point past the file's own sources, with damaged details: the card cannot be made whole
    # in this run. It is one line and exit 4, and the entry is rebuilt for the next run.
    head, details = shipped_parts()
    head["source_count"] += 1
    details["sources"].append([[], "x", None])
    details["texts"].pop("oms")
    write_cache(cache, KEY, head, details)
    assert_right(invoke(*SUGGEST), reference)
    res = invoke(*SHOW)
    assert res.exit_code == ExitCode.KNOWLEDGE_BASE
    assert len(res.stderr.strip().splitlines()) == 1 and "rebuilt" in res.stderr
    assert_card_right(invoke(*SHOW), reference)


def test_no_traceback_from_any_change_to_an_entry_head(cache: Path) -> None:
    # Every number of the head in turn replaced by something out of range: each load rebuilds, none raises.
    first = load_knowledge_base(TOY_KB, cache_dir=cache)
    key = content_key(TOY_KB.read_bytes())
    head, details = first.cache_parts()
    for path in _number_paths(head):
        for bad in (math.nan, -0.5, 2.0, "x", None):
            changed = marshal.loads(marshal.dumps(head))
            node = changed
            for part in path[:-1]:
                node = node[part]
            node[path[-1]] = bad
            write_cache(cache, key, changed, details)
            again = load_knowledge_base(TOY_KB, cache_dir=cache)
            assert again.conditions == first.conditions, (path, bad)


def _number_paths(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(node, list) and len(node) == 2 and type(node[0]) is float and type(node[1]) is int:
        yield (*path, 0)
    elif isinstance(node, dict):
        for k, v in node.items():
            yield from _number_paths(v, (*path, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _number_paths(v, (*path, i))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    edits=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=4), cut=st.booleans()
)
def test_random_damage_to_an_entry_is_harmless(
    tmp_path_factory: pytest.TempPathFactory, edits: list[tuple[int, int]], cut: bool
) -> None:
    cache = tmp_path_factory.mktemp("cache")
    first = load_knowledge_base(TOY_KB, cache_dir=cache)
    entry = entry_path(cache, content_key(TOY_KB.read_bytes()))
    data = bytearray(entry.read_bytes())
    for at, value in edits:
        data[at % len(data)] = value
    entry.write_bytes(bytes(data[: edits[0][0] % len(data)] if cut else data))
    again = load_knowledge_base(TOY_KB, cache_dir=cache)
    assert again.conditions == first.conditions and again.references == first.references


# ----------------------------------------------------------------------------- hostile directories


def test_fifo_in_place_of_the_entry(cache: Path, reference: dict[str, Any]) -> None:
    cache.mkdir(mode=0o700)
    os.mkfifo(entry_path(cache, KEY), 0o600)
    assert_right(run_cli(*SUGGEST, timeout=120), reference)  # no writer ever comes: opening it must not wait
    assert entry_is_sound(cache)  # the FIFO was replaced by a real entry


def test_fifo_in_place_of_the_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any]
) -> None:
    fifo = tmp_path / "cache"
    os.mkfifo(fifo, 0o600)
    monkeypatch.setenv("OMS_DX_CACHE_DIR", str(fifo))
    assert_right(run_cli(*SUGGEST, timeout=120), reference)
    assert stat.S_ISFIFO(fifo.lstat().st_mode)


def test_symlink_in_place_of_the_entry(invoke: Invoke, cache: Path, tmp_path: Path, reference: dict[str, Any]) -> None:
    # The link points at a poisoned entry of ours, so following it would rank OMS low.
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    target = poisoned_entry(elsewhere)
    before = target.read_bytes()
    cache.mkdir(mode=0o700)
    entry = entry_path(cache, KEY)
    entry.symlink_to(target)
    assert_right(invoke(*SUGGEST), reference)
    assert target.read_bytes() == before  # never written through the link either
    assert not entry.is_symlink() and entry_is_sound(cache)


@pytest.mark.parametrize("name", ["predictable", "random"])
def test_symlink_in_place_of_the_temporary_file(
    invoke: Invoke, cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any], name: str
) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("precious\n", encoding="utf-8")
    cache.mkdir(mode=0o700)
    entry = store.entry_name(KEY)
    if name == "predictable":  # the old temporary name, from the pid (the CLI runs in this process here)
        tmp = f".{entry}.{os.getpid()}.tmp"
    else:  # even if the random part were known, O_EXCL|O_NOFOLLOW refuse the link
        monkeypatch.setattr(store.os, "urandom", lambda n: b"\0" * n)
        tmp = f".{entry}.{'00' * 8}.tmp"
    (cache / tmp).symlink_to(victim)
    assert_right(invoke(*SUGGEST), reference)
    assert victim.read_text(encoding="utf-8") == "precious\n"
    assert (cache / tmp).is_symlink()
    assert entry_is_sound(cache) == (name == "predictable")  # with the name taken, this run writes nothing


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757, 0o1777])
def test_directory_writable_by_others_is_not_used(
    invoke: Invoke, cache: Path, reference: dict[str, Any], mode: int
) -> None:
    poisoned_entry(cache)
    cache.chmod(mode)
    before = sorted(p.name for p in cache.iterdir())
    assert_right(invoke(*SUGGEST), reference)
    assert sorted(p.name for p in cache.iterdir()) == before  # nothing written there either
    assert stat.S_IMODE(cache.stat().st_mode) == mode  # nor its mode changed


@pytest.mark.parametrize("mode", [0o666, 0o620, 0o602])
def test_entry_writable_by_others_is_rebuilt(invoke: Invoke, cache: Path, reference: dict[str, Any], mode: int) -> None:
    entry = poisoned_entry(cache)
    entry.chmod(mode)
    assert_right(invoke(*SUGGEST), reference)
    assert stat.S_IMODE(entry.stat().st_mode) == 0o600 and entry_is_sound(cache)


@pytest.mark.skipif(not IS_ROOT, reason="giving a file to another user needs root")
@pytest.mark.parametrize("what", ["entry", "directory"])
def test_owned_by_another_user_is_not_used(invoke: Invoke, cache: Path, reference: dict[str, Any], what: str) -> None:
    entry = poisoned_entry(cache)
    os.chown(entry if what == "entry" else cache, NOBODY, NOBODY)
    assert_right(invoke(*SUGGEST), reference)
    if what == "entry":  # our directory: the entry is replaced by one of ours
        assert entry.stat().st_uid == os.geteuid() and entry_is_sound(cache)
    else:  # not ours: left alone
        assert entry.stat().st_uid == os.geteuid() and not entry_is_sound(cache)


def test_seen_from_another_user_nothing_is_used(
    invoke: Invoke, cache: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any]
) -> None:
    # Without root: the same as above, with this process pretending to be someone else.
    entry = poisoned_entry(cache)
    before = entry.read_bytes()
    monkeypatch.setattr(store.os, "geteuid", lambda: os.getuid() + 4242)
    assert_right(invoke(*SUGGEST), reference)
    assert entry.read_bytes() == before


def test_a_failed_write_leaves_nothing_behind(
    invoke: Invoke, cache: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any]
) -> None:
    def full(*args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store.os, "replace", full)
    assert_right(invoke(*SUGGEST), reference)
    assert list(cache.iterdir()) == []  # the temporary file is gone too


def test_entry_that_is_a_directory(invoke: Invoke, cache: Path, reference: dict[str, Any]) -> None:
    entry_path(cache, KEY).mkdir(parents=True)
    assert_right(invoke(*SUGGEST), reference)
    assert_right(invoke(*SUGGEST), reference)


@pytest.mark.parametrize("umask", [0o000, 0o002, 0o277])
def test_modes_whatever_the_umask(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any], umask: int
) -> None:
    cache = tmp_path / "home" / ".cache" / "oms-dx"
    monkeypatch.setenv("OMS_DX_CACHE_DIR", str(cache))
    old = os.umask(umask)
    try:
        assert_right(invoke(*SUGGEST), reference)
    finally:
        os.umask(old)
    for d in (tmp_path / "home", tmp_path / "home" / ".cache", cache):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700, d
    assert [stat.S_IMODE(p.stat().st_mode) for p in cache.iterdir()] == [0o600]
    assert_right(invoke(*SUGGEST), reference)  # and it is used
    assert entry_is_sound(cache)


@pytest.mark.parametrize("home", ["", "relative/home"])
def test_no_usable_home_means_no_cache(
    invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: dict[str, Any], home: str
) -> None:
    for var in ("OMS_DX_CACHE_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", home)
    monkeypatch.chdir(tmp_path)
    root_cache = Path("/.cache/oms-dx")
    before = sorted(p.name for p in root_cache.iterdir()) if root_cache.is_dir() else None
    assert default_cache_dir() is None
    assert_right(invoke(*SUGGEST), reference)
    assert list(tmp_path.iterdir()) == []
    assert (sorted(p.name for p in root_cache.iterdir()) if root_cache.is_dir() else None) == before


def test_cache_directory_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("OMS_DX_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "oms-dx"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # not absolute: ignored, as the XDG spec asks
    monkeypatch.setenv("HOME", str(tmp_path))
    assert default_cache_dir() == tmp_path / ".cache" / "oms-dx"
    monkeypatch.delenv("HOME")  # unset: the password database's home
    assert default_cache_dir() == Path(os.path.expanduser("~")) / ".cache" / "oms-dx"
    monkeypatch.setenv("OMS_DX_NO_CACHE", "1")
    assert default_cache_dir() is None


# ----------------------------------------------------------------------------- the cache still does its job


def test_cache_is_used_and_read_back_whole(
    tmp_path: Path, toy_data: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    kb_file = tmp_path / "kb.json"
    kb_file.write_text(json.dumps(toy_data), encoding="utf-8")
    for path in (kb_file, SHIPPED):
        first = load_knowledge_base(path, cache_dir=cache)
        with monkeypatch.context() as mp:  # the second load must come from the cache
            mp.setattr(compiled, "compile_kb", lambda *a, **k: pytest.fail("compiled again"))
            cached = load_knowledge_base(path, cache_dir=cache)
            assert cached.conditions == first.conditions and cached.findings == first.findings
            assert cached.groups == first.groups and cached.composites == first.composites
            assert cached.bands == first.bands and cached.other == first.other
            assert cached.populations == first.populations and cached.kb_version == first.kb_version
            assert cached.references == first.references and cached.finding_terms == first.finding_terms
            assert cached.condition_terms == first.condition_terms
            assert all(cached.card_text(c) == first.card_text(c) for c in first.condition_ids)

    toy_data["conditions"][0]["findings"]["spots"]["value"] = 0.923
    kb_file.write_text(json.dumps(toy_data), encoding="utf-8")
    changed = load_knowledge_base(kb_file, cache_dir=cache)  # new bytes, new key: validated and compiled afresh
    assert changed.condition("alpha").findings["spots"]["child"].value == 0.923


def test_invalid_kb_is_never_cached(tmp_path: Path, toy_data: dict[str, Any]) -> None:
    cache = tmp_path / "cache"
    kb_file = tmp_path / "kb.json"
    kb_file.write_text(json.dumps(_break(toy_data, "out-of-range")), encoding="utf-8")
    for _ in range(2):
        with pytest.raises(KnowledgeBaseError):
            load_knowledge_base(kb_file, cache_dir=cache)
    assert not cache.exists() or not any(cache.iterdir())


def test_unwritable_cache_only_costs_speed(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the cache directory should be", encoding="utf-8")
    for where in (blocker, blocker / "cache"):
        kb = load_knowledge_base(TOY_KB, cache_dir=where)
        assert kb.condition("alpha").id == "alpha"
    assert blocker.read_text(encoding="utf-8").startswith("a file")


def test_no_cache_env(invoke: Invoke, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_DX_CACHE_DIR", str(tmp_path / "c"))
    monkeypatch.setenv("OMS_DX_NO_CACHE", "1")
    assert invoke("suggest", "-f", "spots", "--kb", str(TOY_KB)).exit_code == 0
    assert not (tmp_path / "c").exists()
