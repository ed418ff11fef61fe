"""The Firebase Auth emulator (firebase-tools'), started and stopped like the Firestore one.

Why the real one: request functions verify Firebase ID tokens with
firebase-admin, which honours FIREBASE_AUTH_EMULATOR_HOST; the Auth
emulator issues those tokens (unsigned, which firebase-admin accepts only
in emulator mode) for users signed up over its REST API, and keeps their
custom claims. Tests and `onto emulate` then rehearse identity end to end.

It runs as `firebase emulators:start --only auth --project P` from a
throwaway folder whose firebase.json gives it free loopback ports (its
hub and logging ports too, so several can run side by side), in its own
process group. Every key-based call (sign-up, sign-in) lands in the
project it was started for, so the tokens it issues carry that project as
their audience: a function verifying them must serve the same project.

firebase-tools comes from `.onto/tools/firebase-tools/` (installed there
with npm on first use, the version pinned below), $ONTO_FIREBASE_TOOLS, or
`firebase` on PATH. Start-up is slow on a loaded machine (10-25 s), so
tests start one per session.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from .emulator_api import EmulatorError
from .loopback import free_port
from .owned_process import OwnedProcess

FIREBASE_TOOLS_VERSION = "15.34.2"
TOOLS_ENV = "ONTO_FIREBASE_TOOLS"
TOOLS_DIR = Path(".onto") / "tools" / "firebase-tools"
API_KEY = "onto-local-api-key"  # the emulator accepts any key


def find_firebase_tools(project_root: Path | None = None, *, install: bool = True) -> Path:
    """The `firebase` executable: $ONTO_FIREBASE_TOOLS, `.onto/tools/`, PATH; else npm-installed into `.onto/tools/`."""
    explicit = os.environ.get(TOOLS_ENV)
    if explicit:
        if Path(explicit).is_file():
            return Path(explicit)
        raise EmulatorError(f"{TOOLS_ENV}={explicit!r} is not a file: point it at firebase-tools' `firebase`")
    folder = (project_root or Path.cwd()) / TOOLS_DIR
    local = folder / "node_modules" / ".bin" / "firebase"
    if local.is_file():
        return local
    on_path = shutil.which("firebase")
    if on_path:
        return Path(on_path)
    if not install:
        raise EmulatorError(f"firebase-tools not found in {local}, ${TOOLS_ENV} or on PATH")
    return _install(folder, local)


def _install(folder: Path, binary: Path) -> Path:
    npm = shutil.which("npm")
    if npm is None:
        raise EmulatorError("firebase-tools is missing and npm is not on PATH: install Node.js 20+ (npm), "
                            f"or set {TOOLS_ENV} to a `firebase` executable")
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error",
                           f"firebase-tools@{FIREBASE_TOOLS_VERSION}"],
                          cwd=folder, capture_output=True, text=True, timeout=900)
    if done.returncode != 0 or not binary.is_file():
        raise EmulatorError(f"npm install firebase-tools@{FIREBASE_TOOLS_VERSION} in {folder} failed "
                            f"({done.returncode}): {done.stderr.strip()[-2000:]}")
    return binary


class AuthEmulator(OwnedProcess):
    """One Auth emulator process for one project, owned by this object; `host` is FIREBASE_AUTH_EMULATOR_HOST's form."""

    stop_grace = 10.0

    def __init__(self, project: str, *, port: int = 0, startup_timeout: float = 120.0,
                 firebase: Path | None = None, log_dir: Path | None = None) -> None:
        if not project.startswith("demo-"):
            raise ValueError(f"project {project!r}: the local Auth emulator serves `demo-` projects only")
        self.project = project
        self.port = port
        self.startup_timeout = startup_timeout
        self.firebase = firebase
        self.log_dir = log_dir

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def start(self) -> AuthEmulator:
        firebase = self.firebase or find_firebase_tools()
        folder = self.log_dir or Path(tempfile.mkdtemp(prefix="onto-auth-emulator-"))
        folder.mkdir(parents=True, exist_ok=True)
        self.port = self.port or free_port()
        _write_config(folder / "firebase.json", self.port)
        self.log_path = folder / f"auth-emulator-{self.port}.log"
        self._launch([str(firebase), "emulators:start", "--only", "auth", "--project", self.project,
                      "--config", str(folder / "firebase.json")], cwd=folder, answers=self._answers,
                     what="the Auth emulator")
        return self

    # -- its REST API ---------------------------------------------------------------
    def sign_up(self, email: str, password: str) -> dict[str, Any]:
        """A new email/password user, signed in: `localId` (the uid), `idToken`, `refreshToken`."""
        return self.call("accounts:signUp", {"email": email, "password": password, "returnSecureToken": True})

    def sign_in(self, email: str, password: str) -> dict[str, Any]:
        """A fresh ID token for a user (one that carries the custom claims set since)."""
        return self.call("accounts:signInWithPassword",
                         {"email": email, "password": password, "returnSecureToken": True})

    def call(self, method: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/identitytoolkit.googleapis.com/v1/{method}?key={API_KEY}"
        request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as err:
            raise EmulatorError(f"Auth emulator {method} -> {err.code}: "
                                f"{err.read().decode(errors='replace')[:500]}") from None

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(self.url + "/", timeout=1) as response:
                return response.status == 200
        except (OSError, urllib.error.URLError):
            return False


def _write_config(path: Path, port: int) -> None:
    """A firebase.json that starts the Auth emulator alone, every port of it free (no fixed 4400/4500)."""
    loopback = "127.0.0.1"
    config = {"emulators": {"auth": {"host": loopback, "port": port},
                            "hub": {"host": loopback, "port": free_port()},
                            "logging": {"host": loopback, "port": free_port()},
                            "ui": {"enabled": False}, "singleProjectMode": True}}
    path.write_text(json.dumps(config, indent=2))
