"""The secret and param values of the local stack's workers, from git-ignored files beside firebase.json.

Why these files: they are firebase-tools' own convention for its emulator
(`.secret.local` for secret values, `.env.local` over `.env` for params), so
a Firebase user's files work unchanged; onto reads them from the project
root (beside firebase.json, where `onto deploy` reads `.env` too) because an
onto bundle is generated and must never hold a value. A secret missing from
`.secret.local` may come from the environment of `onto emulate` itself (a CI
job's secret variables).

Each worker gets exactly what its trigger declares, as production sets
exactly the declared variables, so a handler reading an undeclared secret
fails locally as it would deployed. What is missing is named at start, in
one line, before any process starts.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

from ..deploy.function_settings import param_files
from ..spec import TriggerSpec

SECRET_FILE = ".secret.local"


def local_param_files(project: str) -> tuple[str, ...]:
    """firebase-tools' emulator order: `.env`, `.env.<project>`, then `.env.local` (a later one wins)."""
    return (*param_files(project), ".env.local")


def worker_settings(specs: Iterable[TriggerSpec], root: Path, project: str,
                    environ: Mapping[str, str] | None = None) -> dict[str, dict[str, str]]:
    """{trigger name: {variable: value}} for every trigger's declared secrets and params.

    ValueError naming every missing one, the file it was looked for in and the triggers that need it.
    """
    from ..deploy.dotenv_files import read_dotenv, read_dotenvs  # loads with the bundling a stack start does anyway

    environ = os.environ if environ is None else environ
    secrets = {**environ, **read_dotenv(root / SECRET_FILE)}
    params = {**environ, **read_dotenvs(root, *local_param_files(project))}
    settings: dict[str, dict[str, str]] = {}
    missing: dict[str, list[str]] = {}
    for spec in specs:
        values = settings.setdefault(spec.name, {})
        for kind, names, found in (("secret", spec.options.secrets, secrets), ("param", spec.options.params, params)):
            for name in names:
                if name in found:
                    values[name] = found[name]
                else:
                    missing.setdefault(f"{kind} {name}", []).append(spec.name)
    if missing:
        listing = "; ".join(f"{what} for {', '.join(names)}" for what, names in sorted(missing.items()))
        raise ValueError(f"missing for the local stack: {listing} (secrets go in {root / SECRET_FILE}, "
                         f"params in {root / '.env.local'} or {root / '.env'})")
    return {name: values for name, values in settings.items() if values}
