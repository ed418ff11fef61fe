"""Which environment variables an import read: what decides whether a module imported in the zygote may serve
a worker whose environment differs.

Why: the zygote imports the app's modules once, with the pool's environment,
and every worker it forks reuses them. Module-level code that reads a
variable (`KEY = os.environ.get("GREETING")`, a client configured from one,
a logger named after `K_SERVICE`) then holds the zygote's value, where the
deployed function, and a spawned worker, hold the trigger's own (its
secrets and params, `K_SERVICE`). So the zygote's probe import records the
names it read, and a worker whose environment differs in one of them
imports the app afresh, as a process of its own would.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, MutableMapping

EVERYTHING = "*"  # the import iterated the whole environment: any difference counts


class RecordingEnviron(MutableMapping[str, str]):
    """`os.environ` as it is, noting every name read through it."""

    def __init__(self, real: MutableMapping[str, str]) -> None:
        self.real = real
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.real[key]

    def __contains__(self, key: object) -> bool:
        self.read.add(str(key))
        return key in self.real

    def __setitem__(self, key: str, value: str) -> None:
        self.real[key] = value

    def __delitem__(self, key: str) -> None:
        del self.real[key]

    def __iter__(self) -> Iterator[str]:
        self.read.add(EVERYTHING)
        return iter(self.real)

    def __len__(self) -> int:
        return len(self.real)

    def copy(self) -> dict[str, str]:
        self.read.add(EVERYTHING)
        return dict(self.real)


def recording() -> RecordingEnviron:
    """Put a recording `os.environ` in place (`os.getenv` reads through it too); for a throwaway process."""
    environ = RecordingEnviron(os.environ)
    os.environ = environ  # type: ignore[assignment]
    return environ


def same_for(names: set[str], worker_env: Mapping[str, str]) -> bool:
    """Whether every name in `names` has the same value (or absence) in `worker_env` as here."""
    if EVERYTHING in names:
        return dict(worker_env) == dict(os.environ)
    return all(worker_env.get(name) == os.environ.get(name) for name in names)
