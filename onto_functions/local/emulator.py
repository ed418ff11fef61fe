"""Start, talk to and stop the Cloud Firestore emulator (the gcloud jar) from Python.

Why not `gcloud emulators firestore start`: gcloud adds ~1 s, forks a wrapper
process that outlives a naive kill, and hides the java process. We run the jar
ourselves in its own process group so a stop leaves no orphan java behind.

HTTP here uses only urllib: this module is imported by tooling that must stay light.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .children import spawner

if TYPE_CHECKING:  # google-cloud-firestore is heavy; import it only when a client is made.
    from google.cloud import firestore

JAR_ENV = "ONTO_FIRESTORE_EMULATOR_JAR"
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
DEFAULT_PROJECT = "demo-onto"
_SDK_JAR = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
_COMMON_SDK_ROOTS = (Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk"))
_FIREBASE_CACHE = Path("~/.cache/firebase/emulators")
_FIX_HINT = (
    "Install it with `gcloud components install cloud-firestore-emulator` "
    "(or `apt-get install google-cloud-cli-firestore-emulator`), "
    f"or set {JAR_ENV} to the path of cloud-firestore-emulator.jar."
)

EVENT_TYPES = frozenset(
    f"google.cloud.firestore.document.v1.{kind}{suffix}"
    for kind in ("created", "updated", "deleted", "written")
    for suffix in ("", ".withAuthContext")
)
MATCH_TYPES = frozenset({"EXACT", "PATH_PATTERN"})


class EmulatorNotFound(RuntimeError):
    """The emulator jar or java is missing; the message says where we looked and how to fix it."""


class EmulatorError(RuntimeError):
    """The emulator failed to start, or refused a request."""


# --------------------------------------------------------------------------- discovery


def find_emulator_jar() -> Path:
    """Locate cloud-firestore-emulator.jar, cheapest places first.

    Order: $ONTO_FIRESTORE_EMULATOR_JAR (an explicit setting that is wrong is an
    error, never silently ignored); the usual gcloud SDK roots and the root
    behind the `gcloud` on PATH (no subprocess); `gcloud info` (~1.4 s, so
    late); firebase-tools' cache (newest version).
    """
    explicit = os.environ.get(JAR_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if path.is_file():
            return path
        raise EmulatorNotFound(f"{JAR_ENV}={explicit!r} is not a file. {_FIX_HINT}")

    looked: list[str] = [f"${JAR_ENV} (unset)"]
    roots = list(_COMMON_SDK_ROOTS)
    gcloud = shutil.which("gcloud")
    if gcloud:  # /usr/bin/gcloud -> <root>/bin/gcloud
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    for root in dict.fromkeys(roots):
        candidate = root / _SDK_JAR
        if candidate.is_file():
            return candidate
        looked.append(str(candidate))

    if gcloud:
        root = _gcloud_sdk_root(gcloud)
        if root is not None:
            candidate = root / _SDK_JAR
            if candidate.is_file():
                return candidate
            looked.append(f"{candidate} (from `gcloud info`)")
    else:
        looked.append("`gcloud info` (no gcloud on PATH)")

    cache = _FIREBASE_CACHE.expanduser()
    cached = sorted(cache.glob("cloud-firestore-emulator-v*.jar"), key=_jar_version)
    if cached:
        return cached[-1]
    looked.append(str(cache / "cloud-firestore-emulator-v*.jar"))

    raise EmulatorNotFound(
        "Cloud Firestore emulator jar not found. Looked in:\n  "
        + "\n  ".join(looked)
        + f"\n{_FIX_HINT}"
    )


def _gcloud_sdk_root(gcloud: str) -> Path | None:
    try:
        out = subprocess.run(
            [gcloud, "info", "--format=value(installation.sdk_root)"],
            capture_output=True, text=True, timeout=30, check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out) if out else None


def _jar_version(path: Path) -> tuple[int, ...]:
    """Sort key so v1.19.10 beats v1.19.9 (a string sort would not)."""
    match = re.search(r"-v(\d+(?:\.\d+)*)\.jar$", path.name)
    return tuple(int(p) for p in match.group(1).split(".")) if match else ()


def find_java() -> Path:
    """Locate java: $JAVA_HOME/bin/java first (the user chose it), then PATH."""
    java_home = os.environ.get("JAVA_HOME")
    looked = []
    if java_home:
        candidate = Path(java_home) / "bin" / "java"
        if os.access(candidate, os.X_OK):
            return candidate
        looked.append(str(candidate))
    else:
        looked.append("$JAVA_HOME (unset)")
    on_path = shutil.which("java")
    if on_path:
        return Path(on_path)
    looked.append("java on PATH")
    raise EmulatorNotFound(
        "java not found (the Firestore emulator is a Java program; Java 17+ runs the gcloud jar). "
        "Looked in: " + ", ".join(looked) + ". Install a JDK or set JAVA_HOME."
    )


# --------------------------------------------------------------------------- process


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class FirestoreEmulator:
    """One Cloud Firestore emulator java process, owned by this object.

    Startup (launch until GET / answers 200 "Ok"), measured with emulator 1.19.9
    on Java 17, 2 cores: median 1.95 s (1.8-2.5 s over 16 runs); ~2.2-2.6 s when
    two start at once. Most of it is JVM start and class loading (C1-only JIT
    saved only ~0.2 s, so the default JIT is kept). About 110 MiB RSS idle.
    A failed start keeps its log (path in the error); a clean stop() removes it
    unless `log_dir` was given.

    `port=0` picks a free loopback port. The emulator itself cannot do that (with
    --port=0 it binds a random port but reports 0), so we pick one and retry
    with a new port if another process grabbed it before java bound it.
    """

    def __init__(
        self,
        *,
        port: int = 0,
        project: str = DEFAULT_PROJECT,
        functions_emulator: str | None = None,
        jar: Path | None = None,
        java: Path | None = None,
        startup_timeout: float = 30.0,
        jvm_args: tuple[str, ...] = ("-Duser.language=en",),
        log_dir: Path | None = None,
    ) -> None:
        self.port = port
        self._requested_port = port  # 0 = pick one at every start()
        self.project = project
        self.functions_emulator = functions_emulator
        self.jar = jar
        self.java = java
        self.startup_timeout = startup_timeout
        self.jvm_args = jvm_args
        self.log_dir = log_dir  # given: logs are kept there; None: a temp dir, removed by a clean stop()
        self.log_path: Path | None = None
        self.startup_seconds: float | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_dir: str | None = None

    # -- public state

    @property
    def host(self) -> str:
        """`127.0.0.1:PORT`, the form FIRESTORE_EMULATOR_HOST takes."""
        if not self.port:
            raise EmulatorError("emulator not started: no port yet")
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- lifecycle

    def start(self) -> FirestoreEmulator:
        """Launch java and block until the emulator answers HTTP; raise with the log tail if not."""
        if self.running:
            return self
        jar = self.jar or find_emulator_jar()
        java = self.java or find_java()
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self._log_dir = str(self.log_dir or tempfile.mkdtemp(prefix="onto-firestore-emulator-"))
        pick_port = self._requested_port == 0
        for attempt in range(3):
            if pick_port:
                self.port = _free_port()
            self.log_path = Path(self._log_dir) / f"emulator-{self.port}.log"
            began = time.monotonic()
            self._spawn(java, jar)
            try:
                self._wait_ready(began)
            except EmulatorError:
                port_taken = "Address already in use" in self._log_tail()
                self._terminate()
                if pick_port and port_taken and attempt < 2:
                    continue
                raise
            self.startup_seconds = time.monotonic() - began
            atexit.register(self.stop)
            return self
        raise AssertionError("unreachable")

    def _spawn(self, java: Path, jar: Path) -> None:
        cmd = [
            str(java), *self.jvm_args, "-cp", str(jar), MAIN_CLASS, "start",
            "--host=127.0.0.1", f"--port={self.port}", f"--project_id={self.project}",
        ]
        if self.functions_emulator:
            cmd.append(f"--functions_emulator={self.functions_emulator}")
        assert self.log_path is not None and self._log_dir is not None
        with open(self.log_path, "wb") as log:
            # Own session (stop() kills the whole group) and a parent-death signal,
            # so not even a SIGKILLed parent leaves a java behind.
            # cwd = the temp dir, so any debug log the emulator writes lands there.
            self._proc = spawner.popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=self._log_dir,
            )

    def _wait_ready(self, began: float) -> None:
        assert self._proc is not None
        deadline = began + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise EmulatorError(self._failure(f"emulator exited with code {code} during startup"))
            if _answers_ok(self.url):
                # Re-check: a foreign server on a stolen port could have answered for us.
                if self._proc.poll() is None:
                    return
                continue
            if time.monotonic() > deadline:
                raise EmulatorError(self._failure(f"emulator did not answer within {self.startup_timeout:.0f} s"))
            time.sleep(0.05)

    def stop(self) -> None:
        """Terminate the whole process group (SIGTERM, 5 s grace, SIGKILL). Safe to call twice."""
        atexit.unregister(self.stop)
        if self._proc is None:
            return
        self._terminate()
        if self._log_dir and self.log_dir is None:  # our temp dir: a clean run's log is not worth keeping
            shutil.rmtree(self._log_dir, ignore_errors=True)
        self._log_dir = None

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is not None:
            return
        # Only signal while the leader is alive and unreaped: its pid cannot have been reused.
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
        except ProcessLookupError:
            proc.wait(5)

    def __enter__(self) -> FirestoreEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- diagnostics

    def _log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace") if self.log_path else ""
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def _failure(self, what: str) -> str:
        return f"{what} (port {self.port}, log {self.log_path}). Log tail:\n{self._log_tail()}"


def _answers_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=1) as resp:
            return resp.status == 200 and resp.read().strip() == b"Ok"
    except (OSError, urllib.error.URLError):
        return False


# --------------------------------------------------------------------------- client


def emulator_client(project: str, host: str) -> "firestore.Client":
    """A Firestore client for `project` on the emulator at `host`; never needs real credentials.

    google-cloud-firestore (2.34) reads FIRESTORE_EMULATOR_HOST once, in
    Client.__init__, into `client._emulator_host`; the channel, target and auth
    metadata are derived from that attribute lazily, on first use. Setting the
    attribute right after construction gives an emulator client without touching
    os.environ (which would redirect every other client in the process). If a
    future version stops honouring the attribute we fall back to setting the env
    var only for the duration of the constructor call.
    """
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    client = firestore.Client(project=project, credentials=AnonymousCredentials())
    client._emulator_host = host  # type: ignore[attr-defined]
    if client._target == host:  # type: ignore[attr-defined]
        return client
    return _client_via_env(project, host)


def _client_via_env(project: str, host: str) -> "firestore.Client":
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore

    saved = os.environ.get("FIRESTORE_EMULATOR_HOST")
    os.environ["FIRESTORE_EMULATOR_HOST"] = host
    try:
        return firestore.Client(project=project, credentials=AnonymousCredentials())
    finally:
        if saved is None:
            del os.environ["FIRESTORE_EMULATOR_HOST"]
        else:
            os.environ["FIRESTORE_EMULATOR_HOST"] = saved


# --------------------------------------------------------------------------- emulator REST


def eventarc_trigger_body(
    event_type: str,
    document: str,
    *,
    database: str = "(default)",
    namespace: str = "(default)",
    match_type: str | None = None,
) -> dict[str, Any]:
    """Build and validate a v2 (Eventarc) trigger body.

    Validation is the point: the emulator accepts (200) a body with only
    eventType and from then on fails every write with 500 "corrupted Eventarc
    triggers", until restarted. So nothing incomplete may ever be sent.
    """
    if event_type not in EVENT_TYPES:
        raise ValueError(f"event_type {event_type!r} is not one of {sorted(EVENT_TYPES)}")
    for name, value in (("database", database), ("namespace", namespace)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    if not isinstance(document, str) or not document or document.startswith("/") or document.endswith("/"):
        raise ValueError(f"document must be a path like 'meetings/{{meetingId}}', got {document!r}")
    segments = document.split("/")
    if any(not s for s in segments):
        raise ValueError(f"document {document!r} has an empty segment")
    is_pattern = any("{" in s or "*" in s for s in segments)
    if len(segments) % 2 and not any("**" in s for s in segments):
        raise ValueError(f"document {document!r} names a collection (odd segment count), not a document")
    if match_type is None:
        match_type = "PATH_PATTERN" if is_pattern else "EXACT"
    if match_type not in MATCH_TYPES:
        raise ValueError(f"match_type must be one of {sorted(MATCH_TYPES)}, got {match_type!r}")
    if match_type == "EXACT" and is_pattern:
        raise ValueError(f"match_type EXACT cannot be used with the pattern {document!r}")
    return {
        "eventType": event_type,
        "database": database,
        "namespace": namespace,
        "document": {"value": document, "matchType": match_type},
    }


def register_trigger(
    host: str,
    project: str,
    trigger_id: str,
    event_type: str,
    document: str,
    *,
    database: str = "(default)",
    namespace: str = "(default)",
    match_type: str | None = None,
) -> None:
    """Register (or replace: same id) a v2 trigger; the emulator then POSTs CloudEvents to its --functions_emulator.

    There is no list or delete call: triggers live until the emulator restarts.
    """
    for name, value in (("host", host), ("project", project), ("trigger_id", trigger_id)):
        if not isinstance(value, str) or not value.strip():
            raise ValueError(f"{name} must be a non-empty string, got {value!r}")
    body = eventarc_trigger_body(
        event_type, document, database=database, namespace=namespace, match_type=match_type
    )
    path = (
        f"/emulator/v1/projects/{_q(project)}/eventarcTrigger"
        f"?eventarcTriggerId={urllib.parse.quote(trigger_id, safe='')}"
    )
    _request("POST", host, path, body)


def clear_project(host: str, project: str, database: str = "(default)") -> None:
    """Delete every document of a project. Last resort: it fires a delete event per
    document (a storm through any trigger); a fresh project id is cheaper and cleaner."""
    _request("DELETE", host, f"/emulator/v1/projects/{_q(project)}/databases/{_q(database)}/documents")


def _q(segment: str) -> str:
    return urllib.parse.quote(segment, safe="()")


def _request(method: str, host: str, path: str, body: dict[str, Any] | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        f"http://{host}{path}", data=data, method=method,
        headers={"Content-Type": "application/json"} if data is not None else {},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            payload = resp.read()
            if resp.status != 200:
                raise EmulatorError(f"{method} http://{host}{path} -> {resp.status}: {payload[:2000]!r}")
            return payload
    except urllib.error.HTTPError as err:
        detail = err.read().decode(errors="replace")[:2000]
        raise EmulatorError(f"{method} http://{host}{path} -> {err.code}: {detail}") from None
