"""The batch progress bar on stderr, refreshed by the reader itself (no thread, so that workers may be forked)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any


def tracked(lines: Iterable[bytes], total: int | None, stack: ExitStack) -> Iterator[bytes]:
    """`lines`, with a progress bar on stderr that closes with `stack`."""
    from rich.progress import (
        BarColumn,
        DownloadColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
        TransferSpeedColumn,
    )

    from oms_cli.output.streams import stderr_console

    bar = Progress(
        TextColumn("[bold]scoring"), BarColumn(), DownloadColumn(), TransferSpeedColumn(), TimeElapsedColumn(),
        TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[cases]} cases"),
        console=stderr_console(), transient=True, auto_refresh=False,
    )  # fmt: skip
    # Refreshed from here rather than by Rich's refresh thread: batch may fork workers, which is only safe
    # while the process has a single thread.
    stack.enter_context(bar)
    task = bar.add_task("batch", total=total, cases=0)
    refresh: Callable[..., Any] = bar.update

    def read() -> Iterator[bytes]:
        from time import monotonic

        done = cases = 0
        shown = monotonic()
        for raw in lines:
            done += len(raw)
            cases += 1
            if cases % 256 == 0 and monotonic() - shown > 0.1:
                refresh(task, completed=done, cases=cases, refresh=True)
                shown = monotonic()
            yield raw
        refresh(task, completed=done, cases=cases, refresh=True)

    return read()
