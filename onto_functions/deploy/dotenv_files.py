"""Read dotenv files in firebase-tools' syntax: `.env`, `.env.<project>`, `.env.local`, `.secret.local`.

Why the same files as firebase-tools: a Firebase user already keeps parameter
values in `.env` / `.env.<projectId>` and local secret values in `.secret.local`,
and firebase-tools reads the very same files when it deploys a codebase whose
firebase.json entry points its `configDir` at them. One set of files then
serves `onto deploy` (both backends), `onto emulate` and `firebase deploy`.

The syntax is the part of firebase-tools' `functions/env.ts` parser that a
hand-written file uses: `KEY=VALUE` lines, an optional `export`, `#` comments,
values in single quotes (literal) or double quotes (with `\\n`, `\\t`, `\\"`
escapes). A line it cannot read is an error naming the file and line number,
never its text (the file may hold secrets).
"""

from __future__ import annotations

import re
from pathlib import Path

_LINE_RE = re.compile(r"""^\s*(?:export\s+)?([\w./]+)\s*=\s*('(?:[^'])*'|"(?:\\.|[^"\\])*"|[^#]*?)\s*(?:#.*)?$""")
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "v": "\v", "\\": "\\", "'": "'", '"': '"'}


class DotenvError(ValueError):
    """A dotenv file that cannot be read; the message names the file and the line, never a value."""


def parse_dotenv(text: str, where: str) -> dict[str, str]:
    """The variables of one dotenv file's text (later lines win); DotenvError for a line that is not one."""
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = _LINE_RE.match(line)
        if match is None:
            raise DotenvError(f"{where}, line {number}: not a KEY=VALUE line (firebase-tools' dotenv syntax)")
        key, raw = match.groups()
        values[key] = _unquote(raw)
    return values


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == "'":
        return raw[1:-1]
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        return re.sub(r"\\([nrtv\\'\"])", lambda m: _ESCAPES[m.group(1)], raw[1:-1])
    return raw


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables of the file at `path`, or {} when there is none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise DotenvError(f"{path}: cannot be read ({type(exc).__name__})") from None
    return parse_dotenv(text, str(path))


def read_dotenvs(folder: Path, *names: str) -> dict[str, str]:
    """The files `names` of `folder` read in order, a later file's value winning (as firebase-tools merges them)."""
    values: dict[str, str] = {}
    for name in names:
        values.update(read_dotenv(folder / name))
    return values
