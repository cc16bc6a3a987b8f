"""The on-disk cache of compiled knowledge bases: where it lives, and reading and writing its entries safely."""

from __future__ import annotations

import contextlib
import marshal
import os
import sys
from pathlib import Path
from typing import Any

from oms_cli import __version__


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


def read(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The cached compiled data for `key`, or None when absent, unreadable or written for something else."""
    try:
        with open(entry_path(cache_dir, key), "rb") as fh:
            # marshal rather than JSON: it loads plain dicts, lists, strings and numbers three times faster, and
            # start-up is paid on every call. It builds data only; nothing read here is ever executed.
            data = marshal.load(fh)
    except (OSError, ValueError, EOFError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("oms_dx_version") != __version__ or data.get("content_key") != key:
        return None
    return data


def write(cache_dir: Path, key: str, data: dict[str, Any]) -> None:
    """Store compiled data atomically (write a temporary file, then rename); failures are ignored."""
    import json

    target = entry_path(cache_dir, key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        # Through JSON first: the records are NamedTuples, which marshal does not take, and from_data reads the
        # same plain lists either way.
        plain = json.loads(json.dumps({**data, "oms_dx_version": __version__}, allow_nan=False))
        cache_dir.mkdir(parents=True, exist_ok=True)
        with open(tmp, "wb") as fh:
            marshal.dump(plain, fh)
        os.replace(tmp, target)
    except (OSError, ValueError):
        # A read-only home or a full disk only costs speed: the next run validates again.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
