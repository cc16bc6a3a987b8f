"""The console entry point: streams made safe, start-up tuning in one place, then the one command named on the
command line, with the faults no command handles (help to a full disk, ^C during start-up) given their codes."""

import contextlib
import gc
import os
import sys


def main() -> None:
    """Run oms-dx with the process's arguments."""
    try:
        _run()
    except KeyboardInterrupt:
        # ^C before a command started (while modules load): nothing was done, so nothing to say.
        _exit(130)
    except BrokenPipeError:
        _exit(141)
    except OSError as err:
        from oms_cli.output import streams

        message = streams.write_failure(err)
        if message is None:
            raise
        streams.error_line(message)
        _exit(5)
    finally:
        shared = sys.modules.get("oms_cli.commands._shared")
        if shared is not None:
            shared.OWN_PROCESS = False  # type: ignore[attr-defined]


def _run() -> None:
    from oms_cli.output import streams

    streams.prepare()
    # Importing typer creates tens of thousands of long-lived objects and no garbage cycles: the collector's passes
    # over them are pure start-up cost, so it is off while the application is built.
    gc.disable()
    from oms_cli.commands import _shared, build_app

    _shared.OWN_PROCESS = True  # reset in main(), for callers that run main() inside a process of their own

    first = sys.argv[1] if len(sys.argv) > 1 else None
    app = build_app(first)
    # Everything alive now (modules, classes, the command tree) lives until exit: keep it out of the collector's
    # way, during the run and in the final collection at interpreter exit (about 10 ms).
    gc.freeze()
    gc.enable()
    try:
        app()
    finally:
        sys.stdout.flush()  # help and --version are written outside the commands' guard


def _exit(code: int) -> None:
    """Leave now, without the interpreter's final flush of a stdout that cannot take it."""
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    os._exit(code)
