"""The app's own modules, imported once in the zygote when that is safe, and used by a worker only when
its bundle carries the very same files.

Every bundle of an app carries copies of the app's modules its trigger
needs (the mediators' module, the models...), so each worker imported the
same module again, privately: with 50 triggers in one module, a few MB per
worker. The zygote imports them once, from the first bundle that carries
each, and every worker it forks shares them. Two guards keep what runs the
bundle's code:

- safety: user code runs at import. The zygote first imports the modules in
  a throwaway child (forked, so the zygote stays untouched) and imports them
  itself only when that child stayed single-threaded and raised nothing: a
  module that starts a thread or opens a connection at import is never
  imported in a process that forks. Otherwise every worker imports it itself.
- sameness: before each fork the zygote compares every preloaded module's
  file with the file at the same path in the worker's bundle. If one
  differs (an edited copy, another generation), the worker drops all of the
  preloaded app modules and imports its bundle's own (worker_child.py).
- environment: the probe records the environment variables the import read
  (import_environment.py); a worker whose own environment (its secrets,
  params, K_SERVICE) differs in one of them imports its bundle's modules too.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Mapping

from .import_environment import recording, same_for

PreloadedModules = dict[str, tuple[str, str]]  # module name -> (path inside a bundle, sha256 of the file)
RUNTIME_PREFIX = "onto_functions"
_read_at_import: set[str] = set()  # the environment variables the preloaded modules' imports read


def preload_app(hints: list[tuple[str, str]]) -> PreloadedModules:
    """Import each (bundle folder, module) hint's module from that folder, if an import in a probe child
    was safe; what got imported, by name."""
    preloaded: PreloadedModules = {}
    seen: set[str] = set()
    for folder, module in hints:
        if module in seen or module == "main" or not Path(folder, "main.py").exists():
            continue  # main.py itself is what functions-framework runs in each worker
        seen.add(module)
        safe, read = _safe_to_import(folder, module)
        if not safe:
            print(f"zygote: {module} starts a thread or fails at import: each worker imports it itself",
                  file=sys.stderr, flush=True)
            continue
        _read_at_import.update(read)
        before = set(sys.modules)
        _import_from(folder, module)
        preloaded.update(_recorded(folder, set(sys.modules) - before))
    return preloaded


def _import_from(folder: str, module: str) -> None:
    sys.path.insert(0, folder)
    try:
        importlib.import_module(module)
    finally:
        sys.path.remove(folder)


def _safe_to_import(folder: str, module: str) -> tuple[bool, set[str]]:
    """Import in a forked child: whether that went through and left it with one thread, and the environment
    variables the import read."""
    reader, writer = os.pipe()
    pid = os.fork()
    if pid == 0:
        code = 3
        try:
            os.close(reader)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # stdout is the zygote's answer pipe
            environ = recording()
            _import_from(folder, module)
            os.write(writer, json.dumps(sorted(environ.read)).encode())
            code = 0 if len(os.listdir("/proc/self/task")) == 1 else 4
        except BaseException:  # noqa: BLE001 - reported in the zygote's log, then the probe ends
            traceback.print_exc()
        finally:
            os._exit(code)
    os.close(writer)
    with os.fdopen(reader, "rb") as answer:
        read = answer.read()
    _, status = os.waitpid(pid, 0)
    safe = os.waitstatus_to_exitcode(status) == 0
    return safe, set(json.loads(read)) if safe else set()


def same_environment(worker_env: Mapping[str, str]) -> bool:
    """Whether the preloaded modules' imports read nothing that `worker_env` sets otherwise than the zygote's."""
    return same_for(_read_at_import, worker_env)


def _recorded(folder: str, names: set[str]) -> PreloadedModules:
    """The newly imported modules whose files lie in `folder` (not the vendored runtime), with digests."""
    root = Path(folder).resolve()
    recorded: PreloadedModules = {}
    for name in names:
        path = getattr(sys.modules.get(name), "__file__", None)
        if not path or name.split(".")[0] == RUNTIME_PREFIX:
            continue
        try:
            relative = Path(path).resolve().relative_to(root)
            recorded[name] = (relative.as_posix(), hashlib.sha256(Path(path).read_bytes()).hexdigest())
        except (ValueError, OSError):
            continue
    return recorded


def same_app_modules(bundle: Path, preloaded: PreloadedModules) -> bool:
    """Every preloaded module that `bundle` carries is byte-identical there."""
    for relative, digest in preloaded.values():
        try:
            if hashlib.sha256((bundle / relative).read_bytes()).hexdigest() != digest:
                return False
        except FileNotFoundError:
            continue  # not this trigger's module: its code never imports it
        except OSError:
            return False
    return True
