"""The request side of the local stack: the Auth emulator beside it, and the front serving HTTPS and callables.

Kept out of stack.py so the stack only says when: the Auth emulator starts
before the workers (they verify ID tokens against it, so they must be
told its address, FIREBASE_AUTH_EMULATOR_HOST, when they start), and the
front starts once the workers exist. An app with no HTTPS or callable
function gets no front and no port; the Auth emulator runs only when asked
(`--auth`) or named (an address of one already running).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

from ..spec import TriggerSpec
from .request_front import RequestFront
from .stats import Stats
from .worker_pool import WorkerPool

if TYPE_CHECKING:
    from .auth_emulator import AuthEmulator

AUTH_ENV = "FIREBASE_AUTH_EMULATOR_HOST"


class RequestServing:
    """Starts and stops the Auth emulator (when asked) and the request front (when the app has requests)."""

    def __init__(self, *, project: str, log_dir: Path, port: int = 0, auth: bool = False,
                 auth_host: str | None = None) -> None:
        self.project = project
        self.log_dir = log_dir
        self.port = port
        self.want_auth = auth and not auth_host
        self.auth_host = auth_host or ""
        self.auth: AuthEmulator | None = None
        self.front: RequestFront | None = None

    def start_auth(self) -> None:
        """Start the Auth emulator if asked (firebase-tools'); before any worker starts."""
        if self.want_auth and self.auth is None:
            from .auth_emulator import AuthEmulator  # firebase-tools' emulator: loaded only when asked for

            self.auth = AuthEmulator(project=self.project, log_dir=self.log_dir)
            self.auth.start()
            self.auth_host = self.auth.host

    def worker_env(self) -> dict[str, str]:
        """What a worker needs to verify ID tokens locally: the Auth emulator's address, when there is one."""
        return {AUTH_ENV: self.auth_host} if self.auth_host else {}

    def serve(self, specs: Sequence[TriggerSpec], workers: WorkerPool, stats: Stats) -> None:
        """Serve the HTTPS and callable functions among `specs` (nothing when there are none)."""
        if not any(s.kind.is_request for s in specs):
            return
        try:
            self.front = RequestFront(specs, workers, self.project, port=self.port, stats=stats).start()
        except OSError as exc:
            raise OSError(f"cannot serve the HTTPS and callable functions on 127.0.0.1:{self.port}: {exc}; "
                          "choose another port (--functions-port, 0 for a free one)") from exc

    @property
    def address(self) -> str:
        """`127.0.0.1:PORT` of the front, or "" when the app has no HTTPS or callable function."""
        return self.front.address if self.front is not None else ""

    def url(self, spec: TriggerSpec) -> str:
        if self.front is None:
            raise LookupError(f"{spec.name!r} is not served: the stack has no HTTPS or callable function")
        return self.front.url(spec)

    def info(self) -> dict[str, Any]:
        return {"functions": self.address or None, "auth": self.auth_host or None}

    def stop(self) -> None:
        """Stop serving requests, then the Auth emulator. Safe to call twice."""
        if self.front is not None:
            self.front.stop()
            self.front = None
        if self.auth is not None:
            self.auth.stop()
            self.auth = None
