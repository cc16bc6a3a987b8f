"""Entry point for `python -m oms_cli`."""

from oms_cli.cli import main

main()
