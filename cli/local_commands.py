"""`onto emulate`, `onto demo`, `onto invoke`: the local stack from the command line.

Each command parses options, calls one library function of
`onto_functions.local` and renders what it returns.
"""

from __future__ import annotations

import contextlib
import json
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator, List, NoReturn, Optional

import typer

from .verbosity import worker_log_lines

EMULATE_HELP = (
    "Run the local stack in the foreground, like `firebase emulators:start`.\n\n"
    "Starts the Cloud Firestore emulator (the gcloud SDK's component, firebase-tools' cached jar, or "
    "--jar / $ONTO_FIRESTORE_EMULATOR_JAR; needs Java) and a function host that registers every trigger "
    "of APP and runs each one's bundle (the folder `onto bundle` builds for deploy) in functions-framework "
    "workers: --instances of them per trigger, each started when a delivery first needs it and stopped "
    "when idle, deliveries spread over them as production spreads them over instances.\n\n"
    "The host stores every event the emulator sends in a durable queue (STATE_DIR/queue.sqlite) before it "
    "answers, then delivers it as Eventarc does: at least once; every answer that is not 2xx (a 4xx too) "
    "and every attempt without an answer is retried with jittered exponential backoff (0.05 s up to 2 s "
    "here; 10 s up to 600 s in production) until the host's limit; a redelivery goes to another instance "
    "than the last one; a few deliveries in flight per trigger; no ordering promise. The executor's ledger "
    "makes each effect happen once. The live view (and --json) counts every outcome an instance answers: "
    "applied, duplicate, superseded, ignored, dead_lettered, refused, failed, contended.\n\n"
    "Edit the app while it runs: every save is noticed (the files the bundles are built from are polled "
    "every 50 ms), the bundles are rebuilt, and the workers of exactly the triggers whose bundle changed are "
    "swapped: events that arrive meanwhile wait in the queue and run on the new code, deliveries already "
    "running finish on the old. An edit that breaks the app (a syntax error, an import error, a bad option) "
    "is shown as one line naming file:line, and the old code keeps running until the fix. --no-watch turns "
    "this off.\n\n"
    "Stop with Ctrl-C (or SIGTERM): every process it started ends, and events not yet delivered stay "
    "queued for the next `onto emulate` with the same project.\n\n"
    "[bold]Examples[/bold]\n\n"
    "  onto emulate examples.meeting_room.main\n\n"
    "  onto emulate myapp.main --duplicate 0.3 --reorder 0.2 --fail 0.1 --restart 0.05 --seed 7\n\n"
    "  onto emulate myapp.main --instances 3 --json > events.jsonl   (one JSON object per event)\n\n"
    "  onto invoke TRIGGER --path tickets/t1 --after '{\"attendance\": true}'\n\n"
    "Message triggers get the Pub/Sub emulator (started with the stack, PUBSUB_EMULATOR_HOST in --json's "
    "ready line); schedule triggers are fired by the host on their own schedule, or every "
    "--tick-seconds (local only: deployed schedules are always Cloud Scheduler's).\n\n"
    "HTTPS and callable functions answer on --functions-port (5001 by default, as firebase-tools' functions "
    "emulator) at http://127.0.0.1:PORT/PROJECT/REGION/FUNCTION\\[/route], through the same workers; "
    "--auth starts firebase-tools' Auth emulator beside them, so a client signed in there calls them."
)

APP_HELP = ("The app: 'package.module' (every Mediator in it) or 'package.module:attr'. "
            "Default: \\[tool.onto] app in pyproject.toml.")


# The request side's options of `onto emulate` (HTTPS and callable functions).
DEFAULT_FUNCTIONS_PORT = 5001  # firebase-tools' functions emulator port: client SDKs' connectFunctionsEmulator
FUNCTIONS_PORT_OPTION = typer.Option(
    DEFAULT_FUNCTIONS_PORT, "--functions-port", min=0,
    help="Where HTTPS and callable functions answer, at firebase-tools' URL shape "
         "http://127.0.0.1:PORT/PROJECT/REGION/FUNCTION (0: a free port).")
AUTH_OPTION = typer.Option(False, "--auth", help="Start firebase-tools' Auth emulator beside the stack; "
                                                "functions verify ID tokens against it.")
AUTH_HOST_OPTION = typer.Option(None, "--auth-emulator-host", metavar="HOST:PORT",
                                help="Use an Auth emulator that is already running instead of starting one.")
WATCH_OPTION = typer.Option(True, "--watch/--no-watch",
                            help="Reload the triggers an edit of the app changes (swap their workers).")
JAR_OPTION = typer.Option(None, "--jar", help="cloud-firestore-emulator.jar to run.", exists=True, dir_okay=False)


def register(app: typer.Typer) -> None:
    app.command("emulate", help=EMULATE_HELP)(emulate)
    app.command("demo")(demo)
    app.command("invoke")(invoke)


# --------------------------------------------------------------------------- emulate


def emulate(
    app_ref: Optional[str] = typer.Argument(None, metavar="[APP]", help=APP_HELP),
    project: str = typer.Option("demo-onto", "--project", help="Project id; must start with 'demo-'."),
    port: int = typer.Option(0, "--port", help="The function host's port (0: a free one)."),
    emulator_port: int = typer.Option(0, "--emulator-port", help="The Firestore emulator's port (0: a free one)."),
    emulator_host: Optional[str] = typer.Option(
        None, "--emulator-host",
        help="Use an emulator that is already running (HOST:PORT) instead of starting one. It must "
             "have been started with --functions_emulator=127.0.0.1:PORT; pass that PORT as --port."),
    jar: Optional[Path] = JAR_OPTION,
    state_dir: Optional[Path] = typer.Option(None, "--state-dir",
                                             help="Where the queue and logs live (default .onto/emulate/PROJECT)."),
    fresh: bool = typer.Option(False, "--fresh", help="Drop events a previous run left queued."),
    duplicate: float = typer.Option(0.0, "--duplicate", min=0.0, max=1.0, metavar="P",
                                    help="Deliver an event again after it succeeded, with probability P."),
    reorder: float = typer.Option(0.0, "--reorder", min=0.0, max=1.0, metavar="P",
                                  help="Hold an event back (50-500 ms) so later ones overtake it."),
    fail: float = typer.Option(0.0, "--fail", min=0.0, max=1.0, metavar="P",
                               help="Report a delivery as failed AFTER the handler committed, so it is redelivered."),
    restart: float = typer.Option(0.0, "--restart", min=0.0, max=1.0, metavar="P",
                                  help="After a delivery, kill the instance that answered (SIGKILL), with "
                                       "probability P: deliveries in flight on it are retried, the next one "
                                       "cold-starts a new instance."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the fault decisions, for a repeatable run."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Deliveries in flight per trigger."),
    instances: int = typer.Option(2, "--instances", min=1, metavar="N",
                                  help="Worker processes (instances) per trigger; deliveries are spread over them."),
    idle_seconds: float = typer.Option(300.0, "--idle-seconds", help="Stop a trigger's worker after this long idle."),
    json_log: bool = typer.Option(False, "--json", help="Print one JSON object per event to stdout, no live view."),
    tick_seconds: Optional[float] = typer.Option(None, "--tick-seconds", min=0.1, metavar="S",
        help="Local only: fire every schedule trigger every S seconds instead of on its schedule."),
    functions_port: int = FUNCTIONS_PORT_OPTION, auth: bool = AUTH_OPTION,
    auth_emulator_host: Optional[str] = AUTH_HOST_OPTION, watch: bool = WATCH_OPTION,
) -> None:
    from onto_functions.local.faults import FaultPlan
    from onto_functions.local.stack import StackConfig, StackError

    root = _project_root()
    try:
        config = StackConfig(
            app=app_ref or _default_app(root), project=project, state_dir=state_dir, project_root=root,
            faults=FaultPlan(duplicate=duplicate, reorder=reorder, fail=fail, restart=restart, seed=seed),
            concurrency=concurrency, instances=instances, host_port=port, emulator_port=emulator_port,
            emulator_host=emulator_host, jar=jar, idle_seconds=idle_seconds, fresh=fresh, tick_seconds=tick_seconds,
            functions_port=functions_port, auth=auth, auth_emulator_host=auth_emulator_host, watch=watch,
        )
    except (StackError, ValueError) as exc:
        _fail(str(exc))
    _run_in_foreground(config, json_log)


def _run_in_foreground(config: Any, json_log: bool) -> None:
    """Start the stack, show it until Ctrl-C or SIGTERM, then stop everything it started."""
    from rich.console import Console

    from onto_functions.local.stack import LocalStack

    console = Console()
    emit = _json_printer() if json_log else _reload_printer(console)
    stack = LocalStack(config, on_event=emit)
    with _stop_on_signals() as stop:
        try:
            _start(stack)
            with worker_log_lines(stack.state_dir / "logs"):  # onto --verbose: each delivery, readably
                if json_log:
                    _wait(stop)
                else:
                    _live_view(stack, stop, console)
        except KeyboardInterrupt:
            pass
        finally:
            began = time.monotonic()
            stack.stop()
            if json_log:
                emit({"event": "stopped", "stopSeconds": round(time.monotonic() - began, 2),
                      "triggers": stack.snapshot()})
            else:
                typer.echo(f"Stopped in {time.monotonic() - began:.1f} s; the queue is kept in "
                           f"{config.resolved_state_dir}.", err=True)


def _start(stack: Any) -> None:
    from onto_functions.local.emulator_api import EmulatorError
    from onto_functions.local.installation import EmulatorNotFound
    from onto_functions.local.stack import StackError

    try:
        stack.start()
    except (EmulatorNotFound, EmulatorError, StackError) as exc:
        _fail(str(exc))
    except Exception as exc:  # an app that does not import, a bundle that cannot be built
        _fail(f"{type(exc).__name__}: {exc}")


@contextlib.contextmanager
def _stop_on_signals() -> Iterator[threading.Event]:
    """An event that SIGTERM and Ctrl-C set, so shutdown runs on the main thread with nothing half-done.

    SIGINT is installed explicitly: a background job of a non-interactive shell inherits it ignored.
    A second Ctrl-C interrupts whatever is under way (a slow start, say); shutdown still runs.
    """
    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        stop.set()

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield stop
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _wait(stop: threading.Event) -> None:
    while not stop.wait(0.2):
        pass


def _json_printer() -> Any:
    lock = threading.Lock()

    def emit(record: dict[str, Any]) -> None:
        line = json.dumps(record, default=str)
        with lock:
            sys.stdout.write(line + "\n")
            sys.stdout.flush()

    return emit


def _reload_printer(console: Any) -> Any:
    """The live view's event log: one line per reload (above the table while it is live), nothing else."""
    from rich.text import Text

    from onto_functions.local.reload import describe

    def emit(record: dict[str, Any]) -> None:
        line = describe(record)
        if line is not None:  # file names and messages are the user's text: never markup
            console.print(Text(f"{time.strftime('%H:%M:%S')} {line}",
                               style="red" if record["event"] == "reload_failed" else "green"))

    return emit


def _live_view(stack: Any, stop: threading.Event, console: Any) -> None:
    from rich.console import Group
    from rich.live import Live

    header = _header(stack.info())

    def render() -> Group:
        return Group(header, *_trigger_table(stack))

    if not console.is_terminal:  # piped: the header once, a summary at the end
        console.print(header)
        _wait(stop)
        console.print(render())
        return
    with Live(render(), console=console, refresh_per_second=4) as live:
        while not stop.wait(0.25):
            live.update(render())


def _header(info: dict[str, Any]) -> Any:
    """What runs where; the app, project and paths are the user's text, shown literally (never as markup)."""
    from rich.text import Text

    lines = [
        Text.assemble(("onto emulate", "bold"), f" {info['app']}  project ", (info["project"], "cyan")),
        Text.assemble("Firestore emulator  ", (info["emulator"], "green"),
                      f"   (FIRESTORE_EMULATOR_HOST={info['emulator']})"),
        Text.assemble("function host       ", (info["host"], "green"), f"   faults: {info['faults']}"),
        *_request_lines(info),
        Text(f"bundles             {info['bundles']}"),
        Text(f"state               {info['stateDir']}"),
    ]
    if info.get("rules"):  # onto rules: client requests are checked as in production, admin ones are not
        lines.append(Text(f"security rules      {info['rules']} (generated afresh; clients are checked)"))
    if info.get("watch"):
        lines.append(Text("edits               reloaded as you save (--no-watch: off)"))
    if info["recovered"]:
        lines.append(Text(f"recovered {info['recovered']} queued event(s) from the last run", style="yellow"))
    lines.append(Text("Ctrl-C to stop."))
    return Text("\n").join(lines)


def _request_lines(info: dict[str, Any]) -> list[Any]:
    """Where the HTTPS and callable functions answer, and the Auth emulator (when there is one)."""
    from rich.text import Text

    lines = []
    if info.get("functions"):
        lines.append(Text.assemble("functions           ", (f"http://{info['functions']}", "green"),
                                   f"/{info['project']}/REGION/FUNCTION   (connectFunctionsEmulator)"))
    if info.get("auth"):
        lines.append(Text.assemble("Auth emulator       ", (info["auth"], "green"),
                                   f"   (FIREBASE_AUTH_EMULATOR_HOST={info['auth']})"))
    return lines


# (column, counter) of the live view: every outcome an instance can answer has its column.
_COUNTER_COLUMNS = (
    ("received", "received"), ("requests", "requests"), ("applied", "applied"), ("duplicate", "duplicate"),
    ("superseded", "superseded"),
    ("ignored", "ignored"), ("refused", "refused"), ("failed", "failed"), ("contended", "contended"),
    ("no answer", "unanswered"), ("retried", "retried"), ("dead-lettered", "dead_lettered"),
)
_ALARMING = frozenset({"refused", "failed", "dead_lettered"})


def _trigger_table(stack: Any) -> list[Any]:
    """One row per trigger: its running instances, what the host counted, what is queued, how long events took."""
    from rich.table import Table
    from rich.text import Text

    table = Table(expand=False)
    table.add_column("trigger", no_wrap=True, min_width=max([len(s.name) for s in stack.specs] + [7]))
    table.add_column("instances", justify="right")
    for column, _ in _COUNTER_COLUMNS:
        table.add_column(column, justify="right")
    for column in ("queued", "p50 ms", "p95 ms"):
        table.add_column(column, justify="right")
    running = stack.workers.running() if stack.workers else {}
    removed = stack.host.retired() if stack.host else set()
    queue = stack.queue
    for name, row in stack.snapshot().items():
        counts = [Text(str(row.get(key, 0)), style="red" if key in _ALARMING and row.get(key) else "")
                  for _, key in _COUNTER_COLUMNS]
        table.add_row(
            Text(name), "removed" if name in removed else f"{len(running.get(name, []))}/{stack.config.instances}",
            *counts,
            str(queue.pending_count(name) if queue else 0),
            "-" if row["p50_ms"] is None else f"{row['p50_ms']:.0f}",
            "-" if row["p95_ms"] is None else f"{row['p95_ms']:.0f}",
        )
    return [table, Text("instances = running / configured per trigger", style="dim")]


# --------------------------------------------------------------------------- demo


def demo(
    keep: bool = typer.Option(False, "--keep", help="Keep the state folder (queue, logs) instead of removing it."),
) -> None:
    """Run the meeting-room example on the local stack and print what each participant sees.

    Three participants; Carol changes her attendance; every participant's
    MeetingSession view is rebuilt by the triggers, through the same bundles
    deploy ships. Prints each view and how long the change took to reach all
    three. Exits 0 on success; starts and stops everything it needs.
    """
    from onto_functions.local.demo import DemoUnavailable, run_demo
    from onto_functions.local.installation import EmulatorNotFound

    try:
        result = run_demo(echo=typer.echo, keep=keep)
    except (EmulatorNotFound, DemoUnavailable) as exc:
        _fail(str(exc))
    except AssertionError as exc:  # a view that never came
        _fail(f"the demo did not converge: {exc}")
    except Exception as exc:  # everything it started is stopped by now
        _fail(f"the demo failed: {type(exc).__name__}: {exc}")
    raise typer.Exit(0 if result.ok else 1)


# --------------------------------------------------------------------------- invoke


def invoke(
    trigger: str = typer.Argument(..., help="The trigger (function name) to send the event to, e.g. ticket-refresh-meeting."),
    path: Optional[str] = typer.Option(None, "--path", help="The document the event is about, e.g. tickets/t1."),
    before: Optional[str] = typer.Option(None, "--before", help="The document before the change, as JSON (omit: created)."),
    after: Optional[str] = typer.Option(None, "--after", help="The document after the change, as JSON (omit: deleted)."),
    data: Optional[str] = typer.Option(None, "--data", help="A message trigger's message data (JSON, or text)."),
    attribute: Optional[List[str]] = typer.Option(None, "--attribute", metavar="KEY=VALUE",
                                                  help="A message attribute; repeatable."),
    at: Optional[str] = typer.Option(None, "--at", help="A schedule trigger's scheduled time, RFC 3339 (default: now)."),
    project: Optional[str] = typer.Option(None, "--project", help="Which running stack (default: the only one here)."),
    wait: float = typer.Option(30.0, "--wait", help="Seconds to wait for the outcome (0: queue it and return)."),
) -> None:
    """Send one synthetic event to a trigger of the running `onto emulate`, for debugging a handler.

    The event goes through the host's queue and the trigger's worker like an
    emulator event (faults included), and the command prints the outcome:
    applied, duplicate, superseded, ignored, refused, dead_lettered, or the
    last failure (failed, contended) when the host gave up; exits 1 when the
    event failed, was refused or was dead-lettered.

      onto invoke ticket-refresh-meeting --path tickets/t1 --after '{"attendance": true}'
      onto invoke payment-credit --data '{"account": "a1", "cents": 100}' --attribute source=cli
      onto invoke heartbeat-beat --at 2030-01-01T00:00:00Z
    """
    from onto_functions.local.stack import StackError, find_running_stack

    try:
        info = find_running_stack(project, _project_root())
    except StackError as exc:
        _fail(str(exc))
    if trigger not in info.get("triggers", {}):
        _fail(f"no trigger {trigger!r} in the running stack; its triggers: {', '.join(sorted(info['triggers']))}")
    kind = info["triggers"][trigger].get("kind", "")
    content = _invoke_content(kind, path=path, before=before, after=after, data=data, attribute=attribute, at=at)
    payload = {"trigger": trigger, **content, "wait": wait or None}
    result = _post_invoke(info["host"], payload, timeout=wait + 10)
    typer.echo(json.dumps(result, indent=2))
    if result.get("event") == "dead_lettered" or result.get("outcome") in ("failed", "refused", "dead_lettered"):
        raise typer.Exit(1)


def _invoke_content(kind: str, *, path: Optional[str], before: Optional[str], after: Optional[str],
                    data: Optional[str], attribute: Optional[List[str]], at: Optional[str]) -> dict[str, Any]:
    """What `onto invoke` sends for a trigger of `kind`: a document change, a message, or a tick."""
    if kind == "message":
        if data is None:
            _fail("a message trigger needs --data (the message's data: JSON, or text)")
        pairs = [a.partition("=") for a in attribute or []]
        if any(not sep or not key for key, sep, _ in pairs):
            _fail("--attribute takes KEY=VALUE")
        try:
            value: Any = json.loads(data)
        except ValueError:
            value = data
        return {"data": value, "attributes": {key: val for key, _, val in pairs}}
    if kind == "tick":
        return {"at": at} if at else {}
    if kind in ("request", "call"):
        _fail("an HTTPS or callable function is called, not sent events: POST to its URL "
              "(`onto emulate` prints where its functions answer)")
    if not path:
        _fail("a document trigger needs --path (the document the event is about)")
    return {"document": path.strip("/"), **_documents(before=before, after=after)}


def _documents(**texts: Optional[str]) -> dict[str, Any]:
    """--before / --after parsed: each a JSON object (a document's fields); at least one given."""
    docs = {}
    for name, text in texts.items():
        if text is not None:
            try:
                docs[name] = json.loads(text)
            except ValueError as exc:
                _fail(f"--{name} is not JSON: {exc}")
            if not isinstance(docs[name], dict):
                _fail(f"--{name} must be a JSON object (the document's fields), got {text!r}")
    if not docs:
        _fail("give --after (a created or updated document), --before (a deleted one), or both")
    return docs


def _post_invoke(host: str, payload: dict[str, Any], timeout: float) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://{host}/onto/invoke", data=json.dumps(payload).encode(),
                                     method="POST", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]
    except urllib.error.HTTPError as err:
        _fail(f"the host refused the event ({err.code}): {err.read().decode(errors='replace')}")
    except OSError as exc:
        _fail(f"cannot reach the function host at {host}: {exc}")


# --------------------------------------------------------------------------- helpers


def _project_root() -> Path:
    try:
        from onto_functions.deploy.project import find_project_root

        return find_project_root(Path.cwd())
    except Exception:
        return Path.cwd()


def _default_app(root: Path) -> str:
    try:
        from onto_functions.deploy.project import load_project

        app = load_project(root).app
    except Exception:
        app = None
    if not app:
        _fail("no APP given and no [tool.onto] app in pyproject.toml: run `onto emulate package.module`")
    return app  # type: ignore[return-value]


def _fail(message: str) -> NoReturn:
    typer.echo(f"Error: {message}", err=True)
    raise typer.Exit(2)
