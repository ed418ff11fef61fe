"""Cold start, whole: process start → the first event's view committed on the emulator.

    .venv/bin/python -m benchmarks.cold_start [--samples 9] [--json] [--profile]

Two contenders, each a fresh `functions-framework` process per sample, served
the same way (gunicorn, one worker) and interleaved in one run:

- onto: the bundle `onto bundle` writes for one mirror trigger (hits/{id} →
  views/{id}), in this environment;
- hand-written: a firebase-functions 2nd-gen handler
  (`firestore_fn.on_document_written`) that decodes the same event and writes
  the same view with one `set`, in the reference environment that
  `benchmarks.reference_env` builds (firebase-functions pinned; the server,
  Firestore client, gRPC and protobuf at the versions installed here).

Each sample: write the source document, start the process, send the event as
production does (a binary CloudEvent with a protobuf body) as soon as the
port accepts a connection, then read the view. The figure is the view's
commit time (the emulator's clock, this machine's) minus the time the
process was started, so it holds interpreter start, imports, server start,
decoding, the Firestore client and the commit. `--profile` adds
`python -X importtime` of both entry points: where the import time goes.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.reference_env import installed_version, reference_python
from benchmarks.summary_rows import print_row
from onto_functions.encoding import encode_cloudevent
from onto_functions.local.emulator import FirestoreEmulator
from onto_functions.local.emulator_client import emulator_client
from onto_functions.local.loopback import free_port
from onto_functions.local.stats import percentile
from onto_functions.synthetic import document_event

ONTO_APP = '''
"""One trigger: copy a hit's `n` into its view."""
from onto_functions import Change, Mediator, Store, ViewModel, fields, sink, source


class View(ViewModel):
    class Meta:
        path = "views/{hit_id}"

    n = fields.Int(allow_none=True)


class MirrorMediator(Mediator):
    source = source.document("hits/{hit_id}")
    sink = sink.firestore(View)

    @source.triggers.on_write
    def mirror(self, change: Change[dict], store: Store) -> None:
        data = change.after or {}
        self.sink.emit(store, View(n=data.get("n")), hit_id=change.params["hit_id"])
'''

HANDWRITTEN = '''
"""The same trigger, hand-written with the Firebase Functions SDK, a client kept per process."""
from firebase_functions import firestore_fn
from google.cloud import firestore

_db = None


@firestore_fn.on_document_written(document="hits/{hit_id}")
def mirror(event: firestore_fn.Event[firestore_fn.Change[firestore_fn.DocumentSnapshot | None]]) -> None:
    global _db
    if _db is None:
        _db = firestore.Client()
    after = event.data.after
    data = after.to_dict() if after is not None else {}
    _db.document(f"views/{event.params['hit_id']}").set({"n": data.get("n")})
'''


@dataclass(frozen=True)
class Contender:
    label: str
    python: Path
    folder: Path
    target: str
    signature: str  # functions-framework's --signature-type


def onto_contender(root: Path) -> Contender:
    """Bundle the onto app as `onto bundle` does and serve the bundle's main.py."""
    from onto_functions.deploy.bundle import build_bundles

    package = root / "coldapp"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "mirror.py").write_text(ONTO_APP)
    bundle, = build_bundles("coldapp.mirror", root / "build", project_root=root)
    return Contender("onto", Path(sys.executable), bundle.path, bundle.entry_point, "http")


def handwritten_contender(root: Path, python: Path) -> Contender:
    folder = root / "handwritten"
    folder.mkdir()
    (folder / "main.py").write_text(textwrap.dedent(HANDWRITTEN))
    return Contender("hand-written", python, folder, "mirror", "cloudevent")


def serve(contender: Contender, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    framework = contender.python.with_name("functions-framework")
    cmd = [str(framework), "--source", str(contender.folder / "main.py"), "--target", contender.target,
           "--signature-type", contender.signature, "--host", "127.0.0.1", "--port", str(port)]
    return subprocess.Popen(cmd, cwd=contender.folder, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def deliver(port: int, headers: dict[str, str], body: bytes, deadline: float) -> int:
    """POST the event as soon as the port accepts it (as the platform does); the answer's status."""
    while True:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            connection.request("POST", "/", body=body, headers=headers)
            return connection.getresponse().status
        except ConnectionRefusedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.002)
        finally:
            connection.close()


def stop(proc: subprocess.Popen[bytes]) -> str:
    """End the process group; its stderr (for an error message)."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
    except ProcessLookupError:
        _, err = proc.communicate()
    return err.decode(errors="replace")[-2000:]


def one_cold_start(contender: Contender, db, project: str, env: dict[str, str], sample: str) -> float:
    """Seconds from process start to the view's commit, for one fresh process."""
    written = db.document(f"hits/{sample}").set({"n": 7}).update_time
    event = document_event(project, f"hits/{sample}", after={"n": 7}, update_time=written)
    headers, body = encode_cloudevent(event, form="protobuf")
    headers["ce-location"] = "us-central1"  # production sends it; firebase-functions requires it
    port = free_port()
    started = time.time()
    proc = serve(contender, port, env)
    try:
        status = deliver(port, headers, body, time.monotonic() + 60)
    finally:
        log = stop(proc)
    view = db.document(f"views/{sample}").get()
    if status >= 300 or not view.exists or view.to_dict() != {"n": 7}:
        raise RuntimeError(f"{contender.label}: answer {status}, view {view.to_dict()}; its log:\n{log}")
    return view.update_time.timestamp() - started


def measure(contenders: list[Contender], samples: int, emulator_host: str, project: str) -> dict[str, list[float]]:
    """Interleaved samples, the order flipped every round so neither always goes first."""
    env = dict(os.environ, FIRESTORE_EMULATOR_HOST=emulator_host, GOOGLE_CLOUD_PROJECT=project,
               GCLOUD_PROJECT=project, WORKERS="1", PYTHONDONTWRITEBYTECODE="")
    env.pop("GOOGLE_APPLICATION_CREDENTIALS", None)
    db = emulator_client(project, emulator_host)
    times: dict[str, list[float]] = {c.label: [] for c in contenders}
    for contender in contenders:  # one unmeasured start each: .pyc files written, page cache warm
        one_cold_start(contender, db, project, env, f"warm-{contender.label}")
    for i in range(samples):
        for contender in (contenders if i % 2 == 0 else contenders[::-1]):
            times[contender.label].append(one_cold_start(contender, db, project, env, f"s{i}-{uuid.uuid4().hex[:6]}"))
    db.close()
    return times


def figures(times: dict[str, list[float]]) -> dict[str, object]:
    onto, hand = times["onto"], times["hand-written"]
    result: dict[str, object] = {
        label: {"median_ms": round(statistics.median(v) * 1000, 1), "p95_ms": round(percentile(v, 95) * 1000, 1),
                "n": len(v)} for label, v in times.items()}
    result["ratio_median"] = round(statistics.median(onto) / statistics.median(hand), 2)
    result["ratio_p95"] = round(percentile(onto, 95) / percentile(hand, 95), 2)
    return result


def import_profile(contender: Contender, env: dict[str, str], top: int = 12) -> list[tuple[str, float]]:
    """The largest top-level packages by import time (self time summed) of the entry point and its client."""
    code = "import main, google.cloud.firestore"
    done = subprocess.run([str(contender.python), "-X", "importtime", "-c", code], cwd=contender.folder,
                          env=env, capture_output=True, text=True, check=True)
    by_package: dict[str, float] = {}
    for line in done.stderr.splitlines():
        self_us, _, name = (line.removeprefix("import time:").split("|") + ["", ""])[:3]
        if self_us.strip().isdigit():
            package = ".".join(name.strip().split(".")[:2])
            by_package[package] = by_package.get(package, 0.0) + int(self_us) / 1000
    return sorted(by_package.items(), key=lambda item: -item[1])[:top]


def print_figures(result: dict[str, object], versions: str) -> None:
    print(f"cold start: process start -> first event's view committed ({versions})")
    print(f"{'':>14} {'median ms':>10} {'p95 ms':>8} {'n':>3}")
    for label in ("onto", "hand-written"):
        row = result[label]
        print(f"{label:>14} {row['median_ms']:>10} {row['p95_ms']:>8} {row['n']:>3}")
    print(f"  ratio onto / hand-written: median {result['ratio_median']}x, p95 {result['ratio_p95']}x "
          f"(aim <= 0.8x)")
    onto, hand = result["onto"], result["hand-written"]
    anchor = f"hand-written firebase-functions {result['firebase_functions']} handler"
    for stat in ("median", "p95"):
        print_row(f"cold start, process start to first view committed, {stat}", f"{onto[stat + '_ms']} ms",
                  f"{hand[stat + '_ms']} ms, {anchor}", result[f"ratio_{stat}"], "≤ 0.8×")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=9, help="cold starts of each contender")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--profile", action="store_true", help="add the import-time profile of both")
    args = parser.parse_args()
    reference = reference_python()
    root = Path(tempfile.mkdtemp(prefix="onto-cold-"))
    project = f"demo-cold-{uuid.uuid4().hex[:6]}"
    try:
        contenders = [onto_contender(root), handwritten_contender(root, reference)]
        with FirestoreEmulator(project=project) as emulator:
            result = figures(measure(contenders, args.samples, emulator.host, project))
        if args.profile:
            env = dict(os.environ, GOOGLE_CLOUD_PROJECT=project)
            result["import_profile_ms"] = {c.label: import_profile(c, env) for c in contenders}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    result["firebase_functions"] = installed_version(reference, "firebase-functions")
    if args.json:
        print(json.dumps(result))
        return 0
    print_figures(result, f"firebase-functions {result['firebase_functions']}, {args.samples} samples each")
    for label, rows in result.get("import_profile_ms", {}).items():
        print(f"  import time by package, {label}: " + ", ".join(f"{p} {ms:.0f} ms" for p, ms in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
