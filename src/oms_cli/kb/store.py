"""Where knowledge bases come from: read → parse → validate → compile, with the compiled form cached on disk."""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from oms_cli import __version__
from oms_cli.errors import KnowledgeBaseError, Problem
from oms_cli.kb.compiled import COMPILED_FORMAT, CompiledKnowledgeBase, from_data

if TYPE_CHECKING:
    import hashlib

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
    """The cache key of a knowledge base: a BLAKE2b-256 digest of the file's bytes, in hex.

    A cryptographic digest, so that no other file can be made to share it: the CRC-32 and Adler-32 it replaces
    were forged, and a changed knowledge base then ran on the cached numbers of the shipped one. BLAKE2b from
    `_blake2`, the module behind `hashlib.blake2b`: `import hashlib` also loads OpenSSL (4-10 ms here), `_blake2`
    about 0.5 ms, and it hashes the shipped file in about 1.3 ms.
    """
    return _blake2b()(raw, digest_size=32).hexdigest()


def _blake2b() -> type[hashlib.blake2b]:
    try:
        from _blake2 import blake2b
    except ImportError:  # an interpreter built without its own BLAKE2: hashlib's, through OpenSSL
        from hashlib import blake2b
    return blake2b


# ----------------------------------------------------------------------------- the cache of compiled forms
#
# The cache is an optimisation and never a source of truth: whatever it holds that is not exactly what this
# oms-dx wrote for these bytes is ignored and rebuilt from the file, silently (the answer is the same, only slower;
# SECURITY.md says what it trusts). An entry is
#
#     MAGIC | head length (8) | details length (8) | head digest (32) | details digest (32) | head | details
#
# with the head the engine's data and the details the sources, card text and references, which are decoded only
# when asked for. Each digest is BLAKE2b over the entry's name (knowledge-base digest and versions) and the blob,
# and is checked before `marshal` sees the blob: `marshal` is not hardened against malformed data (five bytes can
# make it allocate gigabytes), so it only ever decodes bytes this user's oms-dx wrote under that name.

_MAGIC = b"oms-dx compiled\x00"
_HEADER = len(_MAGIC) + 8 + 8 + 32 + 32
_MAX_ENTRY = 64 << 20  # a hundred times the shipped knowledge base's entry (0.65 MB); bounds what is read
_SAFE_FS = hasattr(os, "O_NOFOLLOW") and hasattr(os, "geteuid")  # POSIX; elsewhere there is no cache


def default_cache_dir() -> Path | None:
    """$OMS_DX_CACHE_DIR, else $XDG_CACHE_HOME/oms-dx, else $HOME/.cache/oms-dx; None (no cache) when
    OMS_DX_NO_CACHE is set or there is no absolute home directory (an empty HOME would mean /.cache)."""
    if os.environ.get("OMS_DX_NO_CACHE") or not _SAFE_FS:
        return None
    explicit = os.environ.get("OMS_DX_CACHE_DIR")
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / "oms-dx"
    home = os.environ.get("HOME")
    if home is None:
        home = os.path.expanduser("~")  # from the password database; "~" unchanged when there is none
    if not os.path.isabs(home):
        return None
    return Path(home) / ".cache" / "oms-dx"


def entry_name(key: str) -> str:
    """The cache file of one knowledge-base digest for this oms-dx, this compiled format and this Python (marshal's
    format belongs to the interpreter, as for the bytecode in __pycache__)."""
    return f"kb-{key}-v{__version__}-f{COMPILED_FORMAT}.{sys.implementation.cache_tag}.marshal"


def entry_path(cache_dir: Path, key: str) -> Path:
    """Where the cache entry of `key` lives in `cache_dir`."""
    return cache_dir / entry_name(key)


def _digest(name: str, part: bytes, blob: bytes | memoryview) -> bytes:
    h = _blake2b()(name.encode(), digest_size=32, person=part)
    h.update(blob)
    return h.digest()


def _private(st: os.stat_result) -> bool:
    """Owned by this user and writable by no one else."""
    return st.st_uid == os.geteuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _open_dir(cache_dir: Path, *, create: bool) -> int | None:
    """A descriptor of the cache directory if it is a directory owned by this user that no one else can write to,
    else None; with `create`, a missing one is made first (0700). Everything after goes through the descriptor, so
    the directory checked is the one used, whatever happens to the path meanwhile."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NONBLOCK | os.O_CLOEXEC  # a FIFO there fails, never waits
    try:
        fd = os.open(cache_dir, flags)
    except FileNotFoundError:
        if not create:
            return None
        try:
            _make_dirs(cache_dir)
            fd = os.open(cache_dir, flags)
        except OSError:
            return None
    except OSError:
        return None
    if not _private(os.fstat(fd)):
        os.close(fd)
        return None
    return fd


def _make_dirs(path: Path) -> None:
    """Create `path` and any missing parents, each 0700 whatever the umask (as XDG asks of a cache directory)."""
    missing = []
    while not os.path.lexists(path) and path.parent != path:
        missing.append(path)
        path = path.parent
    for d in reversed(missing):
        try:
            os.mkdir(d, 0o700)
        except FileExistsError:
            continue  # made by someone else meanwhile: `_open_dir` judges it
        fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if os.fstat(fd).st_uid == os.geteuid():
                os.fchmod(fd, 0o700)  # a umask can take bits from mkdir's mode, never give them back
        finally:
            os.close(fd)


def read_cache(cache_dir: Path, key: str) -> tuple[dict[str, Any], Callable[[], Any]] | None:
    """The first part of the cache entry of `key` and a function that decodes its second part, or None when there
    is no entry this user's oms-dx wrote for `key` (absent, unsafe, damaged or written for something else).

    The second function raises ValueError when the second part is damaged.
    """
    if not _SAFE_FS:
        return None
    name = entry_name(key)
    dir_fd = _open_dir(cache_dir, create=False)
    if dir_fd is None:
        return None
    try:
        # O_NOFOLLOW: a symlink is not followed; O_NONBLOCK: opening a FIFO does not wait for a writer.
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None
    finally:
        os.close(dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or not _private(st) or not _HEADER <= st.st_size <= _MAX_ENTRY:
            return None
        # One read of the size fstat gave (plus one byte, to notice a file that grew): the only allocation
        # before the digests are checked is bounded by _MAX_ENTRY.
        raw = os.read(fd, st.st_size + 1)
    except OSError:
        return None
    finally:
        os.close(fd)
    view = memoryview(raw)
    m = len(_MAGIC)
    head_len = int.from_bytes(raw[m : m + 8], "little")
    tail_len = int.from_bytes(raw[m + 8 : m + 16], "little")
    if raw[:m] != _MAGIC or _HEADER + head_len + tail_len != len(raw):
        return None
    head, tail = view[_HEADER : _HEADER + head_len], view[_HEADER + head_len :]
    if _digest(name, b"head", head) != raw[m + 16 : m + 48]:
        return None
    import marshal

    try:
        # marshal rather than JSON: it loads plain dicts, lists, strings and numbers three times faster, and
        # start-up is paid on every call. It builds data only; nothing read here is ever executed.
        data = marshal.loads(head)
    except (ValueError, EOFError, TypeError, MemoryError):
        return None
    if data.__class__ is not dict or data.get("oms_dx_version") != __version__ or data.get("content_key") != key:
        return None
    tail_digest = raw[m + 48 : m + 80]

    def details() -> Any:
        if _digest(name, b"details", tail) != tail_digest:
            raise ValueError("damaged cache entry")
        return marshal.loads(tail)

    return data, details


def write_cache(cache_dir: Path, key: str, data: dict[str, Any], details: dict[str, Any]) -> None:
    """Store compiled data: written to a new file of a random name (O_EXCL, 0600) and renamed over the entry, so
    that a crash never leaves half an entry and no one can choose the file written to. Failures are ignored."""
    if not _SAFE_FS:
        return
    import marshal

    name = entry_name(key)
    dir_fd = _open_dir(cache_dir, create=True)
    if dir_fd is None:
        return
    tmp = f".{name}.{os.urandom(8).hex()}.tmp"
    created = False
    try:
        head = marshal.dumps({**data, "oms_dx_version": __version__})
        tail = marshal.dumps(details)
        blob = b"".join(
            (
                _MAGIC,
                len(head).to_bytes(8, "little"),
                len(tail).to_bytes(8, "little"),
                _digest(name, b"head", head),
                _digest(name, b"details", tail),
                head,
                tail,
            )
        )
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        created = True
        try:
            os.fchmod(fd, 0o600)  # whatever the umask
            with open(fd, "wb", closefd=False) as fh:
                fh.write(blob)
        finally:
            os.close(fd)
        os.replace(tmp, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
    except (OSError, ValueError):
        # A read-only home or a full disk only costs speed: the next run validates again. Only a file this call
        # created is removed (a name already taken, even by a link, is left alone).
        if created:
            with contextlib.suppress(OSError):
                os.unlink(tmp, dir_fd=dir_fd)
    finally:
        os.close(dir_fd)


def load_knowledge_base(path: str | Path | None = None, *, cache_dir: Path | None = None) -> CompiledKnowledgeBase:
    """Load, validate and compile a knowledge base (the shipped one when no path is given).

    With a `cache_dir`, the compiled form is kept there keyed by a digest of the file's bytes and the versions,
    and later loads of the same bytes skip validation. An entry that is absent, unsafe, damaged or not of the
    right shape is ignored and rebuilt.
    """
    from oms_cli.kb.compiled import compile_kb

    file = Path(path) if path is not None else default_kb_path()
    raw = read_bytes(file)
    key = content_key(raw)
    if cache_dir is not None:
        cached = read_cache(cache_dir, key)
        if cached is not None:
            data, details = cached
            try:
                return from_data(data, str(file), details, lambda: _rebuild(raw, str(file), key, cache_dir))
            except Exception:  # whatever a damaged entry makes the reading raise: it is rebuilt below
                pass
    compiled = compile_kb(validate(parse_json(raw, str(file)), str(file)), str(file), key)
    if cache_dir is not None:
        write_cache(cache_dir, key, *compiled.cache_parts())
    return compiled


def _rebuild(raw: bytes, file: str, key: str, cache_dir: Path) -> dict[str, Any]:
    """The second part of a cache entry (sources, card text, references) from the file itself, when the cached one
    is damaged; the entry is rewritten whole."""
    from oms_cli.kb.compiled import compile_kb

    core, details = compile_kb(validate(parse_json(raw, file), file), file, key).cache_parts()
    write_cache(cache_dir, key, core, details)
    return details
