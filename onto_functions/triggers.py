"""Trigger decorators: `@source.triggers.on_write`, `on_message`, `on_schedule`.

Each source kind offers only the decorators that fit it, and a misspelt one
(`on_wirte`, or `on_create` on a topic) is an AttributeError at import time
naming the ones that exist. A decorator records a `TriggerDecl` on the
handler; the Mediator class turns the declarations into TriggerSpecs.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from .spec import TRIGGER_NAMES, EventKind, TriggerOptions

OPTION_NAMES = set(TriggerOptions.__dataclass_fields__)


@dataclass(frozen=True)
class TriggerDecl:
    """What a trigger decorator recorded on a handler function."""

    source: Any
    kind: EventKind
    name: str | None
    options: Mapping[str, Any]


class Triggers:
    """The trigger decorators of one source: `on_create` / `on_update` / `on_delete` / `on_write`
    for documents, `on_message` for a topic, `on_schedule` for a schedule."""

    def __init__(self, source: Any, kinds: tuple[EventKind, ...]) -> None:
        self._source = source
        self._names = {TRIGGER_NAMES[k]: k for k in kinds}

    def _decorator(self, kind: EventKind) -> Callable[..., Any]:
        def trigger(fn: Callable | None = None, *, name: str | None = None, **options: Any) -> Any:
            unknown = set(options) - OPTION_NAMES
            if unknown:
                raise TypeError(
                    f"{kind.trigger_name}: unknown option(s) {', '.join(sorted(unknown))}; "
                    f"known: {', '.join(sorted(OPTION_NAMES))}"
                )

            def register(handler: Callable) -> Callable:
                decls = list(getattr(handler, "__onto_triggers__", ()))
                if any(d.kind is kind and d.source is self._source for d in decls):
                    raise TypeError(f"{handler.__qualname__} has {kind.trigger_name} twice")
                decls.append(TriggerDecl(self._source, kind, name, dict(options)))
                handler.__onto_triggers__ = decls  # type: ignore[attr-defined]
                return handler

            return register(fn) if fn is not None else register

        trigger.__name__ = kind.trigger_name
        return trigger

    def __getattr__(self, name: str) -> Any:
        names = self.__dict__.get("_names", {})
        if name in names:
            return self._decorator(names[name])
        known = list(names)
        close = difflib.get_close_matches(name, known + list(TRIGGER_NAMES.values()), n=1)
        hint = f" Did you mean {close[0]!r}?" if close and close[0] in known else ""
        where = f" of {self.__dict__['_source'].describe()}" if "_source" in self.__dict__ else ""
        raise AttributeError(f"no trigger named {name!r}{where}; its triggers are {', '.join(known)}.{hint}")

    def __dir__(self) -> list[str]:
        return [*super().__dir__(), *self._names]
