"""The on-disk cache of compiled knowledge bases: where it lives, and reading and writing its entries safely."""

from __future__ import annotations

import contextlib
import json
import os
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
    """The cache file of one knowledge-base checksum for this oms-dx version."""
    return cache_dir / f"kb-{key}-v{__version__}.json"


def read(cache_dir: Path, key: str) -> dict[str, Any] | None:
    """The cached compiled data for `key`, or None when absent, unreadable or written for something else."""
    try:
        with open(entry_path(cache_dir, key), encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("oms_dx_version") != __version__ or data.get("content_key") != key:
        return None
    return data


def write(cache_dir: Path, key: str, data: dict[str, Any]) -> None:
    """Store compiled data atomically (write a temporary file, then rename); failures are ignored."""
    target = entry_path(cache_dir, key)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump({**data, "oms_dx_version": __version__}, fh, ensure_ascii=False, allow_nan=False)
        os.replace(tmp, target)
    except (OSError, ValueError):
        # A read-only home or a full disk only costs speed: the next run validates again.
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
