"""The `function_templates/` folder: main.py, requirements.txt and functions.yaml of a bundle.

Why templates and not f-strings in code: what a deployed function runs
should be readable in one place, as the file it becomes. The folder lives
at the repository root; an installed package finds it as the top-level
`function_templates` data package (see the README's packaging note).
"""

from __future__ import annotations

import functools
import string
import importlib.util
from pathlib import Path

TEMPLATE_NAMES = ("main.py.tmpl", "requirements.txt.tmpl", "functions.yaml.tmpl")


class TemplateError(RuntimeError):
    """The templates folder is missing or a template lacks a value."""


def templates_dir() -> Path:
    """The repo's `function_templates/` when present (a checkout), else the installed copy."""
    repo = Path(__file__).resolve().parents[2] / "function_templates"
    if (repo / "main.py.tmpl").is_file():
        return repo
    spec = importlib.util.find_spec("function_templates")  # a namespace package: data only
    for location in (spec.submodule_search_locations or []) if spec else []:
        if (Path(location) / "main.py.tmpl").is_file():
            return Path(location)
    raise TemplateError(
        f"cannot find function_templates/ (looked in {repo} and the installed "
        "'function_templates' package); reinstall onto-functions"
    )


@functools.lru_cache(maxsize=None)
def _template(directory: str, name: str) -> string.Template:
    return string.Template((Path(directory) / name).read_text(encoding="utf-8"))


def render(name: str, **values: str) -> str:
    """Fill `name` (e.g. "main.py.tmpl") with `values`; a missing value is an error, never blank."""
    template = _template(str(templates_dir()), name)
    try:
        return template.substitute(values)
    except KeyError as exc:
        raise TemplateError(f"template {name} needs a value for {exc.args[0]!r}") from None
