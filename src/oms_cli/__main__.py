"""`python -m oms_cli`: the same as the oms-dx command."""

from oms_cli.entry import main

main()
