"""Where knowledge bases come from: read → parse → validate → compile, with the compiled form cached on disk."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli import __version__
from oms_cli.errors import KnowledgeBaseError, Problem
from oms_cli.kb.compiled import CompiledKnowledgeBase, from_data

if TYPE_CHECKING:
    from oms_cli.kb.schema import KnowledgeBase


def default_kb_path() -> Path:
    """The shipped knowledge base: inside the installed package, else the source tree's data/."""
    packaged = Path(__file__).parents[1] / "data" / "conditions.json"
    if packaged.is_file():
        return packaged
    return Path(__file__).resolve().parents[3] / "data" / "conditions.json"


def json_path(loc: Iterable[int | str]) -> str:
    """A pydantic error location written as a JSON path, e.g. conditions[0].findings.ataxia."""
    out = ""
    for part in loc:
        if part in ("Evidence", "ByAge") or (isinstance(part, str) and part.startswith("function-")):
            continue  # pydantic's names for the form of a union or a validator, not a place in the file
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed in a knowledge base")


MAX_KB_BYTES = 64 << 20  # the shipped file is under 1 MB; anything this big is not a knowledge base


def read_bytes(path: Path) -> bytes:
    """The bytes of a knowledge-base file; raise KnowledgeBaseError when it cannot be read, is not a regular file
    (a FIFO or a device would hang or never end) or is implausibly large."""
    import stat

    def refused(why: str) -> KnowledgeBaseError:
        return KnowledgeBaseError(str(path), [Problem("", why)])

    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as exc:
        raise refused(f"cannot read file ({exc.strerror or exc})") from None
    with os.fdopen(fd, "rb") as fh:
        try:
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise refused("not a regular file")
            if info.st_size > MAX_KB_BYTES:
                raise refused(f"larger than {MAX_KB_BYTES >> 20} MB")
            return fh.read(MAX_KB_BYTES + 1)
        except OSError as exc:
            raise refused(f"cannot read file ({exc.strerror or exc})") from None


def parse_json(raw: bytes, where: str) -> Any:
    """Parse knowledge-base bytes strictly (UTF-8, no NaN or Infinity); raise KnowledgeBaseError otherwise."""
    import json

    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeBaseError(where, [Problem("", f"not UTF-8 text (byte {exc.start})")]) from None
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise KnowledgeBaseError(
            where, [Problem("", f"invalid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]
        ) from None
    except ValueError as exc:
        raise KnowledgeBaseError(where, [Problem("", str(exc))]) from None
    except RecursionError:
        raise KnowledgeBaseError(where, [Problem("", "JSON nested too deeply")]) from None


def schema_problems(data: Any) -> tuple[KnowledgeBase | None, list[Problem]]:
    """The validated model of parsed JSON, or None and every schema problem found."""
    from pydantic import ValidationError

    from oms_cli.kb.schema import KnowledgeBase

    try:
        return KnowledgeBase.model_validate(data), []
    except ValidationError as exc:
        # pydantic prefixes the messages of custom checks with "Value error, ": the reader needs the message only.
        return None, [
            Problem(json_path(e["loc"]), e["msg"].removeprefix("Value error, ")) for e in exc.errors(include_url=False)
        ]


def validate(data: Any, file: str) -> KnowledgeBase:
    """Validate parsed JSON against the schema and the cross-checks; raise with every problem found."""
    from oms_cli.kb.checks import cross_check

    kb, problems = schema_problems(data)
    if kb is None:
        raise KnowledgeBaseError(file, problems)
    problems = cross_check(kb)
    if problems:
        raise KnowledgeBaseError(file, problems)
    return kb


def content_key(raw: bytes) -> str:
    """A checksum of a file's bytes that keys the cache of its compiled form.

    CRC-32 and Adler-32 with the length (64 bits of checksum): zlib is already loaded by the CLI, whereas
    hashlib's OpenSSL binding costs about 5 ms of start-up. This detects edits, which is all a cache key
    has to do; the cache never holds anything that was not validated (see SECURITY.md).
    """
    import zlib

    return f"{len(raw):x}-{zlib.crc32(raw):08x}-{zlib.adler32(raw):08x}"


# ----------------------------------------------------------------------------- the cache of compiled forms


def default_cache_dir() -> Path | None:
    """$OMS_DX_CACHE_DIR, else $XDG_CACHE_HOME/oms-dx, else ~/.cache/oms-dx; None when OMS_DX_NO_CACHE is set."""
    if os.environ.get("OMS_DX_NO_CACHE"):
        return None
    explicit = os.environ.get("OMS_DX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "oms-dx"


def entry_path(cache_dir: Path, key: str) -> Path:
    """The cache file of one knowledge-base checksum for this oms-dx version and this Python (marshal's format
    belongs to the interpreter, as for the bytecode in __pycache__)."""
    return cache_dir / f"kb-{key}-v{__version__}.{sys.implementation.cache_tag}.marshal"


def read_cache(cache_dir: Path, key: str) -> tuple[dict[str, Any], bytes] | None:
    """The cached compiled data for `key` and the still-encoded card text and references, or None when absent,
    unreadable or written for something else.

    An entry is two marshal blobs, the engine's data first (with its length in 8 bytes before it) and the card
    text and references second, so that ranking decodes only the part it needs.
    """
    import marshal

    try:
        with open(entry_path(cache_dir, key), "rb") as fh:
            # One read, then loads: marshal.load on a file object reads it in small pieces (ten times slower).
            # marshal rather than JSON: it loads plain dicts, lists, strings and numbers three times faster, and
            # start-up is paid on every call. It builds data only; nothing read here is ever executed.
            raw = fh.read()
        size = int.from_bytes(raw[:8], "little")
        data = marshal.loads(raw[8 : 8 + size])
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("oms_dx_version") != __version__ or data.get("content_key") != key:
        return None
    return data, raw[8 + size :]


def write_cache(cache_dir: Path, key: str, data: dict[str, Any], details: dict[str, Any]) -> None:
    """Store compiled data atomically (write a temporary file, then rename); failures are ignored."""
    import marshal

    target = entry_path(cache_dir, key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        head = marshal.dumps({**data, "oms_dx_version": __version__})
        with open(tmp, "wb") as fh:
            fh.write(len(head).to_bytes(8, "little") + head + marshal.dumps(details))
        os.replace(tmp, target)
    except (OSError, ValueError):
        # A read-only home or a full disk only costs speed: the next run validates again.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


def load_knowledge_base(path: str | Path | None = None, *, cache_dir: Path | None = None) -> CompiledKnowledgeBase:
    """Load, validate and compile a knowledge base (the shipped one when no path is given).

    With a `cache_dir`, the compiled form is kept there keyed by the file's checksum and the oms-dx version,
    and later loads of the same bytes skip validation. An unreadable or stale cache entry is ignored.
    """
    from oms_cli.kb.compiled import compile_kb

    file = Path(path) if path is not None else default_kb_path()
    raw = read_bytes(file)
    key = content_key(raw)
    if cache_dir is not None:
        cached = read_cache(cache_dir, key)
        if cached is not None:
            data, encoded_details = cached
            try:
                return from_data(data, str(file), lambda: _cached_details(encoded_details, raw, str(file), key))
            except (KeyError, TypeError, ValueError, AttributeError):
                pass  # a damaged or foreign entry: rebuilt below
    compiled = compile_kb(validate(parse_json(raw, str(file)), str(file)), str(file), key)
    if cache_dir is not None:
        write_cache(cache_dir, key, *compiled.cache_parts())
    return compiled


def _cached_details(encoded: bytes, raw: bytes, file: str, key: str) -> dict[str, Any]:
    """The second part of a cache entry (sources, card text, references); from the file itself if it is damaged."""
    import marshal

    from oms_cli.kb.compiled import compile_kb

    try:
        part = marshal.loads(encoded)
        if isinstance(part, dict) and {"sources", "texts", "references"} <= part.keys():
            return part
    except (ValueError, EOFError, TypeError):
        pass
    return compile_kb(validate(parse_json(raw, file), file), file, key).cache_parts()[1]
