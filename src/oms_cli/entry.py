"""The console entry point: start-up tuning in one place, then the one command named on the command line."""

import gc
import sys


def main() -> None:
    """Run oms-dx with the process's arguments."""
    # Importing typer creates tens of thousands of long-lived objects and no garbage cycles: the collector's passes
    # over them are pure start-up cost, so it is off while the application is built.
    gc.disable()
    from oms_cli.commands import build_app

    first = sys.argv[1] if len(sys.argv) > 1 else None
    app = build_app(first)
    # Everything alive now (modules, classes, the command tree) lives until exit: keep it out of the collector's
    # way, during the run and in the final collection at interpreter exit (about 10 ms).
    gc.freeze()
    gc.enable()
    app()
