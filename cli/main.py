"""`onto`: bundle, deploy and run mediators locally.

Every command is a thin wrapper: it parses, calls one library function and
renders the result, so anything the CLI does a test can do without a shell.
"""

from __future__ import annotations

import typer

from . import deploy_commands, local_commands

app = typer.Typer(
    name="onto",
    help="Reactive Firestore back ends as exactly-once Cloud Functions: list, bundle, deploy, emulate.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="rich",
)
deploy_commands.register(app)
local_commands.register(app)


def main() -> None:  # pragma: no cover - console entry
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
