"""Find the triggers of an app: explicit, by module, never a global registry.

An app reference is `package.module` (every Mediator subclass reachable as an
attribute of the module) or `package.module:attr` (a Mediator subclass, or a
list/tuple of them).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .mediator import Mediator
from .spec import TriggerSpec


class DiscoveryError(ValueError):
    """An app reference that names nothing usable, or triggers that clash."""


def import_ref(ref: str) -> Any:
    """Import `module` or `module:attr.path` and return the object."""
    module_name, _, attr = ref.partition(":")
    if not module_name:
        raise DiscoveryError(f"app reference {ref!r} has no module: use 'package.module[:attr]'")
    try:
        obj: Any = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise DiscoveryError(
                f"cannot import {module_name!r} (from app reference {ref!r}): {exc}. "
                "Run from the project's folder or add it to PYTHONPATH."
            ) from exc
        raise
    for part in filter(None, attr.split(".")):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise DiscoveryError(f"{module_name!r} has no attribute {attr!r} (from {ref!r})") from None
    return obj


def mediators_of(obj: Any) -> list[type[Mediator]]:
    """The mediator classes an imported object stands for, in declaration order."""
    if isinstance(obj, type) and issubclass(obj, Mediator):
        return [obj]
    if isinstance(obj, (list, tuple)):
        found: list[type[Mediator]] = []
        for item in obj:
            found += [m for m in mediators_of(item) if m not in found]
        return found
    if isinstance(obj, ModuleType):
        return [
            v
            for v in vars(obj).values()
            if isinstance(v, type) and issubclass(v, Mediator) and v is not Mediator and v.trigger_specs()
        ]
    raise DiscoveryError(f"{obj!r} is not a module, a Mediator subclass or a list of them")


def discover(ref: str | Any) -> list[TriggerSpec]:
    """Every TriggerSpec of an app; function names must be unique across it."""
    obj = import_ref(ref) if isinstance(ref, str) else ref
    specs: list[TriggerSpec] = []
    seen: dict[str, str] = {}
    for mediator in mediators_of(obj):
        for spec in mediator.trigger_specs():
            if spec.name in seen:
                raise DiscoveryError(
                    f"two triggers are named {spec.name!r}: {seen[spec.name]} and "
                    f"{spec.mediator_ref}.{spec.handler}; pass name=... to one of the decorators"
                )
            seen[spec.name] = f"{spec.mediator_ref}.{spec.handler}"
            specs.append(spec)
    if not specs:
        raise DiscoveryError(f"no triggers found in {ref!r}: declare a Mediator with @source.triggers.on_*")
    return specs


def load_mediator(spec: TriggerSpec) -> type[Mediator]:
    """The mediator class a spec came from (what a deployed function imports)."""
    obj = import_ref(spec.mediator_ref)
    if not (isinstance(obj, type) and issubclass(obj, Mediator)):
        raise DiscoveryError(f"{spec.mediator_ref} is not a Mediator")
    return obj
