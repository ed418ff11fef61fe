"""The zygote: one process that imports a worker's heavy libraries once, then forks every worker.

    python -m onto_functions.local.zygote MARKER     (started by the host; MARKER: the stack's folder)

Why: a worker started from scratch imports functions-framework, flask,
google-cloud-firestore, grpc and onto's runtime (about 1 s on 2 cores) and
holds them privately: with gunicorn's master and worker about 74 MB PSS per
instance, so 50 triggers x 2 instances would take 7.4 GB. Forked from a
process that already imported them, a worker starts in milliseconds and
shares those pages with the zygote and its siblings (copy on write);
`gc.freeze()` before the forks keeps the collector from writing to the
shared objects and un-sharing them. What a worker adds is its own: the
bundle's modules, its Firestore client (created after the fork: the zygote
makes no client, channel or thread, so nothing of gRPC's runs across a fork).

The protocol, one JSON line each way on stdin/stdout: the host first sends
`{"preload": [[bundle folder, module], ...]}` (the app's modules, see
zygote_app.py); the zygote says `{"ready": pid}` once imported; each request
`{"bundle", "target", "port", "env", "log"}` is answered `{"pid": N}` as soon
as the child exists (the host then waits for its port, as for any worker)
or `{"error": ...}`. What the
child does is worker_child.py. The zygote reaps its children; it ends when
its stdin closes (the host closed it or died), and a parent-death signal
(the host's spawner sets one on it, it sets one on each child) takes the
children with it when it dies.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import sys
import traceback
from pathlib import Path
from typing import Any, TextIO

from .zygote_app import PreloadedModules, preload_app, same_app_modules, same_environment

PRELOADED = ("functions_framework", "flask", "werkzeug", "google.cloud.firestore", "grpc",
             "google.events.cloud.firestore", "onto_functions.entrypoint")


def preload() -> None:
    """Import what every worker imports, and nothing that starts a thread or opens a channel."""
    import importlib

    for name in PRELOADED:
        importlib.import_module(name)
    from onto_functions.events import preload as preload_protobuf_types

    preload_protobuf_types()
    from . import worker_child, worker_server  # noqa: F401  (the child's own code, shared too)
    from .zygote_warmup import warm_up

    warm_up()


def _reap(signum: int, frame: Any) -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def fork_worker(request: dict[str, Any], installed: dict[str, str], app: PreloadedModules) -> dict[str, Any]:
    """Fork one worker for `request`; {"pid": N} in the zygote. The child never returns from here."""
    from .worker_child import DIFFERENT, bundle_runtime, run_child

    bundle = Path(request["bundle"])
    runtime = bundle_runtime(bundle, installed)  # read here: the child copies no page for it
    # App modules built on a runtime the worker will not use go too, even when their own files match.
    # And so do they when their import read a variable that this worker's environment sets otherwise.
    foreign = (list(app) if runtime == DIFFERENT or not same_app_modules(bundle, app)
               or not same_environment(request["env"]) else [])
    zygote = os.getpid()
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = run_child(request, zygote, runtime, foreign)
        except BaseException:  # noqa: BLE001 - a child must never return into the zygote's loop
            traceback.print_exc()
        finally:
            os._exit(code)
    return {"pid": pid}


def serve(requests: TextIO, answers: TextIO, app: PreloadedModules) -> None:
    """Answer fork requests until `requests` ends."""
    from .worker_child import installed_runtime

    installed = installed_runtime()
    for line in requests:
        if not line.strip():
            continue
        try:
            answer = fork_worker(json.loads(line), installed, app)
        except Exception as exc:  # a bad request or a failed fork: the host says so, the zygote lives on
            answer = {"error": f"{type(exc).__name__}: {exc}"}
        answers.write(json.dumps(answer) + "\n")
        answers.flush()


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the host stops the zygote by closing its stdin
    hints = json.loads(sys.stdin.readline() or "{}").get("preload", [])
    preload()
    app = preload_app([(str(folder), str(module)) for folder, module in hints])  # probes are waited for here
    signal.signal(signal.SIGCHLD, _reap)
    gc.collect()
    gc.freeze()  # everything imported so far stays where it is: shared with every child
    sys.stdout.write(json.dumps({"ready": os.getpid(), "app": sorted(app)}) + "\n")
    sys.stdout.flush()
    serve(sys.stdin, sys.stdout, app)
    return 0


if __name__ == "__main__":
    sys.exit(main())
