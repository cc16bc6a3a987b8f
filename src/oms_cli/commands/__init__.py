"""What the user types: one module per command (or group), each turning options into a core call and an output.

Each module has an `add_to(app)` that registers its commands; `build_app` imports only the modules it needs.
"""

import importlib

import typer

# The command (or group) name a user types, and the module that defines it; in the order help lists them.
COMMANDS: dict[str, str] = {
    "suggest": "oms_cli.commands.suggest",
    "batch": "oms_cli.commands.batch",
    "evaluate": "oms_cli.commands.evaluate",
    "show": "oms_cli.commands.show",
    "compare": "oms_cli.commands.compare",
    "conditions": "oms_cli.commands.lists",
    "findings": "oms_cli.commands.lists",
    "interview": "oms_cli.commands.interview",
    "kb": "oms_cli.commands.kb",
}


def build_app(only: str | None = None) -> typer.Typer:
    """The application with every command, or with just the command `only` when it names one.

    typer builds the parameters of every registered command on each run (about 3 ms for all of them); a run
    needs one. Help, --version, completion and typos get the whole application.
    """
    from oms_cli.commands._shared import new_app

    app = new_app()
    modules = [COMMANDS[only]] if only in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for name in modules:
        importlib.import_module(name).add_to(app)
    if only in COMMANDS:
        # A module may define more than one command (conditions and findings): keep only the one asked for.
        app.registered_commands = [c for c in app.registered_commands if c.name == only]
        app.registered_groups = [
            g for g in app.registered_groups if g.typer_instance and g.typer_instance.info.name == only
        ]
    return app
