"""The `function_templates/` folder: main.py, requirements.txt and functions.yaml of a bundle.

Why templates and not f-strings in code: what a deployed function runs
should be readable in one place, as the file it becomes.

Where the folder is: in a checkout (and an editable install) it is the
repository's top-level `function_templates/`; a wheel ships the same files
as package data at `onto_functions/deploy/function_templates/` (see
pyproject.toml's package-dir). No other distribution's names are touched.
"""

from __future__ import annotations

import functools
import string
from pathlib import Path

FOLDER = "function_templates"
TEMPLATE_NAMES = ("main.py.tmpl", "requirements.txt.tmpl", "functions.yaml.tmpl")


class TemplateError(RuntimeError):
    """The templates folder is missing or a template lacks a value."""


def template_dirs() -> tuple[Path, Path]:
    """Where the templates may be: installed beside this module, or at the root of a checkout."""
    here = Path(__file__).resolve().parent
    return here / FOLDER, here.parents[1] / FOLDER


@functools.lru_cache(maxsize=1)
def templates_dir() -> Path:
    """The first of `template_dirs()` that holds the templates."""
    for candidate in template_dirs():
        if (candidate / TEMPLATE_NAMES[0]).is_file():
            return candidate
    looked = " and ".join(str(p) for p in template_dirs())
    raise TemplateError(f"cannot find {FOLDER}/ (looked in {looked}); reinstall onto-functions")


@functools.lru_cache(maxsize=None)
def _template(directory: Path, name: str) -> string.Template:
    return string.Template((directory / name).read_text(encoding="utf-8"))


def render(template_name: str, /, **values: str) -> str:
    """Fill `template_name` (e.g. "main.py.tmpl") with `values`; a missing value is an error, never blank."""
    template = _template(templates_dir(), template_name)
    try:
        return template.substitute(values)
    except KeyError as exc:
        raise TemplateError(f"template {template_name} needs a value for {exc.args[0]!r}") from None
