"""`onto`: bundle, deploy and run mediators locally.

Every command is a thin wrapper: it parses, calls one library function and
renders the result, so anything the CLI does a test can do without a shell.
"""

from __future__ import annotations

import typer

from . import deploy_commands, local_commands, ops_commands, rules_commands, verbosity

app = typer.Typer(
    name="onto",
    help="Reactive Firestore back ends as exactly-once Cloud Functions: list, bundle, deploy, emulate, operate.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
deploy_commands.register(app)
local_commands.register(app)
ops_commands.register(app)
rules_commands.register(app)


@app.callback()
def global_options(
    verbose: bool = typer.Option(False, "--verbose", "-v",
                                 help="Debug logs of onto itself on stderr; `onto --verbose emulate` also prints "
                                      "each worker's delivery (time, trigger, outcome, event, document, latency)."),
) -> None:
    """Reactive Firestore back ends as exactly-once Cloud Functions: list, bundle, deploy, emulate, operate."""
    verbosity.set_verbose(verbose)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
