"""What a worker forked by the zygote does: become a process of its own, load its bundle, serve it.

In order:
1. its own session (so one killpg stops it, as any worker) and a
   parent-death signal (the zygote dying takes it along; and if the zygote
   died before that was set, it leaves at once);
2. its log file as stdout and stderr, the bundle folder as working
   directory and first entry of sys.path, the worker environment the host
   gave (emulator, project, log format) as os.environ;
3. the bundle's own runtime: the bundle vendors `onto_functions`, the
   zygote imported the installed one. When every vendored file is
   byte-identical to the installed file of the same name, the modules
   already imported *are* the bundle's, and the package's search path is
   pointed at the bundle's copy for anything imported later (so the bundle
   can import only what it carries, as deployed). Otherwise (an edited
   copy, another version) every `onto_functions` module is dropped and the
   bundle's copy imported afresh: what runs is always the bundle's code;
4. `functions_framework.create_app(target, <bundle>/main.py, "http")`, the
   app functions-framework serves, behind worker_server.py's server on the
   port the host chose.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import signal
import sys
from pathlib import Path
from typing import Any

from .worker_server import WorkerServer

RUNTIME = "onto_functions"
PR_SET_PDEATHSIG = 1
# Loaded here, in the zygote: loading ctypes in each child would copy about 2 MB of shared pages.
_LIBC = ctypes.CDLL(None, use_errno=True)


def run_child(request: dict[str, Any], zygote: int, runtime: str, foreign: list[str]) -> int:
    """Serve the bundle of `request` until killed; returns an exit code only when it cannot start.
    `runtime`: what `bundle_runtime` found; `foreign`: the zygote's preloaded app modules that differ
    from this bundle's (all of them, or none). The zygote finds both before forking."""
    os.setsid()
    _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != zygote:  # the zygote died before the death signal was set
        return 1
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(signum, signal.SIG_DFL)
    _redirect_output(Path(request["log"]))
    bundle = Path(request["bundle"])
    os.chdir(bundle)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.path.insert(0, str(bundle))
    for name in foreign:  # the bundle's own copies are imported instead (zygote_app.py)
        sys.modules.pop(name, None)
    print(f"--- forked from the zygote (pid {zygote}): {bundle / 'main.py'} target {request['target']} "
          f"on port {request['port']}; runtime: {use_bundle_runtime(bundle, runtime)}; app modules: "
          f"{'imported afresh' if foreign else 'as preloaded, where the zygote has them'}", flush=True)
    import functions_framework

    app = functions_framework.create_app(request["target"], str(bundle / "main.py"), "http")
    WorkerServer(int(request["port"]), app).serve_forever(poll_interval=3600)
    return 0


def _redirect_output(log: Path) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    out = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(out, 1)
    os.dup2(out, 2)
    os.close(out)
    os.close(null)


IDENTICAL, DIFFERENT, NONE = "identical", "different", "none"


def bundle_runtime(bundle: Path, installed: dict[str, str]) -> str:
    """Whether the bundle vendors the runtime, and whether every vendored file is byte-identical to the
    installed file at the same relative path (`installed`: relative path -> sha256, `installed_runtime()`)."""
    vendored = bundle / RUNTIME
    if not vendored.is_dir():
        return NONE
    for path in vendored.rglob("*.py"):
        try:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError:
            return DIFFERENT
        if installed.get(path.relative_to(vendored).as_posix()) != digest:
            return DIFFERENT
    return IDENTICAL


def installed_runtime() -> dict[str, str]:
    """relative path -> sha256 of every module of the imported (installed) onto_functions."""
    package = Path(sys.modules[RUNTIME].__file__ or "").parent
    return {path.relative_to(package).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in package.rglob("*.py")}


def use_bundle_runtime(bundle: Path, runtime: str) -> str:
    """Make `import onto_functions...` resolve to the bundle's vendored copy; says how."""
    if runtime == NONE:
        return "none vendored: the installed one"
    if runtime == IDENTICAL:
        sys.modules[RUNTIME].__path__ = [str(bundle / RUNTIME)]  # type: ignore[attr-defined]
        return "vendored, identical to the preloaded one"
    for name in [n for n in sys.modules if n == RUNTIME or n.startswith(RUNTIME + ".")]:
        del sys.modules[name]
    return "vendored, differs from the preloaded one: imported afresh from the bundle"
