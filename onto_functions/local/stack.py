"""The local stack: Firestore emulator + function host + trigger registration, as one object.

`onto emulate`, `onto demo`, `onto invoke` and the pytest fixture all use
`LocalStack`; nothing else wires these parts together.

    with LocalStack(StackConfig(app="examples.meeting_room.main")) as stack:
        db = stack.client()
        ...write documents, poll the views...

Start order, and why:
1. build the bundles deploy would ship, discovering the app's triggers (a
   broken app fails here, before any process starts);
2. open the durable queue of the state dir (`.onto/emulate/<project>/`),
   keeping what a previous run left pending;
3. start the emulator (or attach to a running one) delivering to the host's port;
4. serve the host's HTTP front, register every trigger (v2, full bodies);
5. start the dispatcher: pending events of an earlier run go out first;
6. with `watch` (`onto emulate`'s default), watch the app's files: an edit
   swaps the workers of exactly the triggers whose bundle changed (reload.py).

Stop is the reverse, and leaves the queue file: an event accepted but not
delivered is delivered by the next start with the same state dir.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..spec import EventKind, TriggerSpec
from .backoff import Backoff
from .emulator import FirestoreEmulator
from .emulator_api import register_trigger
from .emulator_client import emulator_client
from .faults import FaultPlan, Faults
from .host import FunctionHost
from .host_server import HostServer
from .journal import EventLog
from .local_settings import worker_settings
from .loopback import free_port
from .pubsub_emulator import PubSubClient, PubSubEmulator
from .queue import DurableQueue
from .request_serving import RequestServing
from .reload import GENERATIONS, Reloader
from .schedule_timer import ScheduleTimer
from .stats import Stats
from .watcher import SourceWatcher
from .worker_pool import WorkerPool
from .workers import Worker, worker_env

if TYPE_CHECKING:
    from concurrent.futures import Future

    from google.cloud import firestore

    from ..deploy.bundle import Bundle

    from .receiver import Receiver

DEFAULT_PROJECT = "demo-onto"
STATE_ROOT = Path(".onto") / "emulate"
STACK_FILE = "stack.json"


class StackError(RuntimeError):
    """The stack cannot start as configured; the message says what to change."""


@dataclass(frozen=True)
class StackConfig:
    """Everything `onto emulate` takes as options; defaults are what a user gets with no flags."""

    app: str
    project: str = DEFAULT_PROJECT
    state_dir: Path | None = None  # default: <project_root>/.onto/emulate/<project>
    project_root: Path = field(default_factory=Path.cwd)
    faults: FaultPlan = field(default_factory=FaultPlan)
    concurrency: int = 4  # deliveries in flight per trigger (and threads per worker)
    instances: int = 2  # worker processes per trigger, each started on first use, deliveries spread over them
    host_port: int = 0  # 0: a free loopback port
    emulator_port: int = 0
    emulator_host: str | None = None  # attach to a running emulator (it must deliver to host_port)
    jar: Path | None = None
    idle_seconds: float = 300.0  # stop a worker idle this long
    backoff: Backoff = field(default_factory=Backoff)
    host_extra_attempts: int = 5
    fresh: bool = False  # drop the queue a previous run left behind
    prestart: bool = False  # start every trigger's worker at once instead of on its first event
    # Local only, for tests and demos: fire every schedule trigger every this many seconds instead of
    # on its own schedule. Deployed schedules are always Cloud Scheduler's, from the manifest.
    tick_seconds: float | None = None
    functions_port: int = 0  # where HTTPS and callable functions are served (0: a free port)
    auth: bool = False  # start firebase-tools' Auth emulator beside the stack
    auth_emulator_host: str | None = None  # or use one already running (HOST:PORT)
    watch: bool = False  # the dev loop: an edit of the app swaps the workers of the triggers it changed

    def __post_init__(self) -> None:
        if not self.project.startswith("demo-"):
            raise StackError(
                f"project {self.project!r} must start with 'demo-': the local stack never touches a real "
                f"project (a 'demo-' id is one the emulator knows cannot exist). Try --project demo-{self.project}"
            )
        if self.concurrency < 1:
            raise StackError(f"--concurrency must be at least 1, got {self.concurrency}")
        if self.instances < 1:
            raise StackError(f"--instances must be at least 1, got {self.instances}")

    @property
    def resolved_state_dir(self) -> Path:
        return Path(self.state_dir) if self.state_dir else self.project_root / STATE_ROOT / self.project


class LocalStack:
    """Emulator, function host and workers for one app and one project."""

    def __init__(self, config: StackConfig, *, on_event: EventLog | None = None,
                 receiver: "Receiver | None" = None) -> None:
        self.config = config
        self.on_event = on_event
        self.receiver = receiver  # deliver through an existing Receiver instead of an own HTTP front
        self.specs: list[TriggerSpec] = []
        self.emulator: FirestoreEmulator | None = None
        self.pubsub: PubSubEmulator | None = None  # started when the app has a message trigger
        self.timer: ScheduleTimer | None = None
        self.reloader: Reloader | None = None  # with config.watch
        self.watcher: SourceWatcher | None = None
        self._reloading = threading.Lock()
        self.emulator_host = config.emulator_host or ""
        self.queue: DurableQueue | None = None
        self.workers: WorkerPool | None = None
        self.trigger_env: dict[str, dict[str, str]] = {}  # each trigger's secrets and params (local_settings)
        self.host: FunctionHost | None = None
        self.server: HostServer | None = None
        self.stats = Stats()
        self.host_address = ""
        self.started_at = 0.0
        self.startup_seconds: float | None = None
        self._client: Any = None
        self.requests = RequestServing(project=config.project, log_dir=self.state_dir / "logs",
                                       port=config.functions_port, auth=config.auth,
                                       auth_host=config.auth_emulator_host)
        self.rules_file: Path | None = None  # the security rules loaded into the emulator, if the project has them

    @property
    def project(self) -> str:
        return self.config.project

    @property
    def state_dir(self) -> Path:
        return self.config.resolved_state_dir

    @property
    def bundle_dir(self) -> Path:
        """Where the trigger's bundles are built: one folder each, as `onto bundle` writes them."""
        return self.state_dir / "bundles"

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> LocalStack:
        began = time.monotonic()
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        self.started_at = time.time()
        self.startup_seconds = time.monotonic() - began
        self._write_stack_file()
        self._emit({"event": "ready", **self.info()})
        return self

    def _start(self) -> None:
        cfg = self.config
        if cfg.emulator_host and not cfg.host_port and self.receiver is None:
            raise StackError(
                "attaching to a running emulator (--emulator-host) needs --port: the emulator was started "
                "with --functions_emulator=127.0.0.1:PORT and delivers there, so the host must listen on it"
            )
        self.state_dir.mkdir(parents=True, exist_ok=True)
        bundles = self._build_bundles()
        try:
            self.trigger_env = worker_settings(self.specs, cfg.project_root, cfg.project)
        except ValueError as exc:  # a missing secret or param, an unreadable .secret.local
            raise StackError(str(exc)) from None
        self.queue = self._open_queue()
        port = cfg.host_port or (0 if self.receiver else free_port())
        if not cfg.emulator_host:
            self.emulator = FirestoreEmulator(port=cfg.emulator_port, project=cfg.project,
                                              functions_emulator=f"127.0.0.1:{port}", jar=cfg.jar,
                                              log_dir=self.state_dir / "logs")
            self.emulator.start()
            self.emulator_host = self.emulator.host
        self.requests.start_auth()  # before any worker: they are told where it is
        rules = self._start_loading_rules()
        self.host = self._function_host(bundles)
        self.host_address = self._serve(self.host, port)
        assert self.workers is not None
        self.requests.serve(self.specs, self.workers, self.stats)
        for spec in self.specs:
            self._connect(spec)
        self.host.start()
        self._start_timer()
        if cfg.prestart:
            self.prestart_workers()
        self.rules_file = rules.result()  # before the stack is ready: no client meets the emulator's open rules
        if cfg.watch:
            self._watch(bundles)

    def _build_bundles(self) -> list[Bundle]:
        """The bundles deploy would ship, built afresh (a broken app fails here, before any process starts)."""
        from ..deploy.bundle import build_bundles  # bundling code loads only when a stack starts

        root = str(self.config.project_root.resolve())
        if root not in sys.path:
            sys.path.insert(0, root)
        shutil.rmtree(self.bundle_dir, ignore_errors=True)
        bundles = build_bundles(self.config.app, self.bundle_dir, project_root=self.config.project_root)
        self.specs = [b.spec for b in bundles]  # as deploy sees them (project defaults applied)
        return bundles

    def _start_loading_rules(self) -> "Future[Path | None]":
        """The generated security rules into the emulator (emulator_rules: only for a project that uses them)."""
        from .emulator_rules import start_loading_project_rules

        try:
            return start_loading_project_rules(self.emulator_host, self.project, self.config.project_root,
                                               self.config.app)
        except ValueError as exc:  # user rules refused or unreadable, a broken firebase.json: one line each
            raise StackError(str(exc)) from None

    def _open_queue(self) -> DurableQueue:
        path = self.state_dir / "queue.sqlite"
        if self.config.fresh:
            for suffix in ("", "-wal", "-shm"):
                path.with_name(path.name + suffix).unlink(missing_ok=True)
        queue = DurableQueue(path)
        queue.forget_finished(older_than=time.time() - 24 * 3600)  # pending rows are never dropped
        return queue

    def _function_host(self, bundles: list[Bundle]) -> FunctionHost:
        cfg = self.config
        assert self.queue is not None
        self.stats = Stats(s.name for s in self.specs)
        env = worker_env(emulator_host=self.emulator_host, project=cfg.project, concurrency=cfg.concurrency)
        env.update(self.requests.worker_env())
        self.workers = WorkerPool(bundles, env=env, log_dir=self.state_dir / "logs", instances=cfg.instances,
                                  idle_seconds=cfg.idle_seconds, on_start=self._worker_started,
                                  trigger_env=self.trigger_env)
        return FunctionHost(self.specs, self.queue, self.workers, faults=Faults(cfg.faults), stats=self.stats,
                            concurrency=cfg.concurrency, backoff=cfg.backoff,
                            host_extra_attempts=cfg.host_extra_attempts, on_event=self.on_event)

    def _worker_started(self, worker: Worker) -> None:
        self._emit({"event": "worker_started", "trigger": worker.name, "instance": worker.instance,
                    "pid": worker.pid, "startupMs": round((worker.startup_seconds or 0) * 1000),
                    "bundle": worker.bundle.short_hash})

    def _serve(self, host: FunctionHost, port: int) -> str:
        """Where the emulator's deliveries reach `host`: the shared receiver, or an own HTTP front."""
        if self.receiver is not None:
            return self.receiver.host
        self.server = HostServer(host, self.config.project, port).start()
        return self.server.address

    def _connect(self, spec: TriggerSpec) -> None:
        """Make the trigger's events reach the host: the shared receiver's route, the emulator's registration
        of a document trigger, or a message trigger's push subscription (the Pub/Sub emulator starts with
        the first), as Eventarc's own subscription is in production. Again for a changed trigger: each
        replaces the one before."""
        host = self.host
        assert host is not None
        if self.receiver is not None:
            self.receiver.register(spec.name, lambda h, b, n=spec.name: host.accept(n, h, b))
        if spec.kind.is_document:
            register_trigger(self.emulator_host, self.project, spec.name, spec.event_type, spec.document,
                             database=spec.options.database, namespace=spec.options.namespace)
        elif spec.kind is EventKind.MESSAGE:
            if self.pubsub is None:
                self.pubsub = PubSubEmulator(log_dir=self.state_dir / "logs").start()
            endpoint = f"http://{self.host_address}/functions/projects/{self.project}/triggers/{spec.name}"
            self.publisher().push_to(f"onto-{spec.name}", spec.topic or "", endpoint)

    def _start_timer(self) -> None:
        """(Re)start the timer that fires the schedule triggers."""
        assert self.host is not None
        if self.timer is not None:
            self.timer.stop()
        self.timer = ScheduleTimer(self.specs, self.host.accept, project=self.project,
                                   period_seconds=self.config.tick_seconds).start()

    def _watch(self, bundles: list[Bundle]) -> None:
        """The dev loop: watch the files the bundles are built from, and reload after an edit."""
        assert self.host is not None and self.workers is not None
        self.reloader = Reloader(self.config.app, self.config.project_root, bundles,
                                 generations_dir=self.bundle_dir / GENERATIONS, host=self.host, pool=self.workers,
                                 connect=self._connect, emit=self._emit,
                                 settings=lambda specs: worker_settings(specs, self.config.project_root,
                                                                        self.config.project))
        self.watcher = SourceWatcher(self.reloader.watched_files, self.reload).start()
        self.reload()  # an edit made while the stack started (after its bundles were built)

    def reload(self) -> dict[str, Any] | None:
        """Rebuild the bundles now and swap the triggers whose code changed, as after an edit (the watcher
        calls it); the `reloaded` or `reload_failed` record, None when no bundle changed."""
        if self.reloader is None:
            raise StackError("this stack does not watch its app: start it with watch=True (onto emulate --watch)")
        with self._reloading:
            before = self.specs
            record = self.reloader.reload()
            if record is not None and record["event"] == "reloaded":
                self.specs = self.reloader.specs
                if [s for s in before if s.kind is EventKind.TICK] != [s for s in self.specs
                                                                       if s.kind is EventKind.TICK]:
                    self._start_timer()
                self._write_stack_file()
        return record

    def publisher(self) -> PubSubClient:
        """A client of the stack's Pub/Sub emulator (`publish(topic, [{"data": ...}])`)."""
        if self.pubsub is None:
            raise StackError("this stack runs no Pub/Sub emulator: the app has no message trigger")
        return PubSubClient(self.pubsub.host, self.project)

    def publish(self, topic: str, *messages: Any) -> list[str]:
        """Publish messages (data values, or dicts with data/attributes/ordering_key); their message ids."""
        wrapped = [m if isinstance(m, dict) and "data" in m else {"data": m} for m in messages]
        return self.publisher().publish(topic, wrapped)

    def prestart_workers(self) -> None:
        """Start every instance of every trigger now, in parallel (for small apps and demos: no cold first event)."""
        assert self.workers is not None
        for trigger, exc in self.workers.prestart():
            self._emit({"event": "worker_failed", "trigger": trigger, "error": str(exc)[:1000]})

    def stop(self) -> None:
        """Stop everything this stack started; the queue file stays. Safe to call twice."""
        if self.watcher is not None:
            self.watcher.stop()
            self.watcher = None
        if self.receiver is not None:
            for name in self.host.specs if self.host is not None else [s.name for s in self.specs]:
                self.receiver.unregister(name)
        if self.timer is not None:
            self.timer.stop()
            self.timer = None
        if self.pubsub is not None:
            self.pubsub.stop()
            self.pubsub = None
        if self.server is not None:
            self.server.stop()
            self.server = None
        self.requests.stop()
        if self.host is not None:
            self.host.stop()
        if self.workers is not None:
            self.workers.close()
        if self.host is not None:
            self.host.join()
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.emulator is not None:
            self.emulator.stop()
            self.emulator = None
        if self.queue is not None:
            self.queue.close()
            self.queue = None
        stack_file = self.state_dir / STACK_FILE
        try:
            if json.loads(stack_file.read_text()).get("pid") == os.getpid():
                stack_file.unlink()
        except (OSError, ValueError):
            pass

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ use

    def client(self) -> "firestore.Client":
        """A Firestore client on the stack's emulator and project (kept; closed by stop())."""
        if self._client is None:
            self._client = emulator_client(self.project, self.emulator_host)
        return self._client

    def invoke(self, trigger: str, document: str = "", *, wait: float | None = 30.0, **content: Any) -> dict[str, Any]:
        """One synthetic event through the queue to `trigger`; with `wait`, the delivery's record.
        `content`: before/after (document trigger), data/attributes (message), at (schedule)."""
        return self._running_host().invoke(trigger, document, project=self.project, wait=wait, **content)

    def wait_idle(self, timeout: float = 60.0, settle: float = 0.0) -> bool:
        return self._running_host().wait_idle(timeout, settle)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        return self.stats.snapshot()

    def info(self) -> dict[str, Any]:
        return {
            "pid": os.getpid(), "project": self.project, "app": self.config.app,
            "emulator": self.emulator_host, "emulatorPid": self.emulator.pid if self.emulator else None,
            "host": self.host_address, "stateDir": str(self.state_dir),
            "triggers": {s.name: {"kind": s.kind.value, "document": s.document, "source": s.source_text}
                         for s in self.specs},
            "pubsub": self.pubsub.host if self.pubsub else None,
            "instances": self.config.instances, "concurrency": self.config.concurrency,
            "faults": self.config.faults.describe(), "seed": self.config.faults.seed,
            "recovered": self.queue.recovered if self.queue else 0, "bundles": str(self.bundle_dir),
            **self.requests.info(),
            "rules": str(self.rules_file) if self.rules_file else None,
            "watch": self.config.watch,
        }

    def _running_host(self) -> FunctionHost:
        if self.host is None:
            raise StackError("the stack is not started: call start() or use it as a context manager")
        return self.host

    def _write_stack_file(self) -> None:
        path = self.state_dir / STACK_FILE
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.info(), indent=2))
        tmp.replace(path)

    def _emit(self, record: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event({"time": round(time.time(), 3), **record})


def find_running_stack(project: str | None = None, root: Path | None = None) -> dict[str, Any]:
    """The stack.json of a running `onto emulate` under `root` (the cwd), for `onto invoke`."""
    base = (root or Path.cwd()) / STATE_ROOT
    candidates = [base / project / STACK_FILE] if project else sorted(base.glob(f"*/{STACK_FILE}"))
    running = []
    for path in candidates:
        try:
            info = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if _alive(int(info.get("pid", 0))):
            running.append(info)
    if not running:
        where = base / (project or "*") / STACK_FILE
        raise StackError(f"no running `onto emulate` found ({where}); start one in this folder first")
    if len(running) > 1:
        names = ", ".join(i["project"] for i in running)
        raise StackError(f"several stacks are running ({names}); pick one with --project")
    return running[0]


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

