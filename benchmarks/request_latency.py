"""A callable's request latency: onto's worker against a bare functions-framework handler, one run.

    .venv/bin/python -m benchmarks.request_latency [--samples 200] [--json]

Both contenders do the same Firestore work per request: one document
created on the emulator from the call's data, answered in the callable
protocol (`{"data": ...}` in, `{"result": ...}` out).

- onto: the `bench-write` callable of a small app, its bundle served by the
  local stack's functions-framework worker (what deploy ships): identity
  check (a signed-in caller, ID token in the Auth emulator's format),
  schema, the atomic commit of the handler's write; without and with an
  idempotency key (then the answer is stored with the write, in the same
  commit). Also measured through the stack's request front (the
  firebase-tools URL shape), which adds a local proxy hop.
- bare: a hand-written `functions_framework.http` handler in its own
  process that parses the JSON and `create`s the same document.

Requests alternate between contenders (interleaved, one at a time, a new
connection each), so load on the machine hits all alike. Median, p95, and
each onto figure's ratio to bare.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Callable

from benchmarks.summary_rows import print_row
from onto_functions.local.id_tokens import UNSTARTED_AUTH_EMULATOR, emulator_format_token
from onto_functions.local.loopback import free_port
from onto_functions.local.polling import wait_for
from onto_functions.local.stack import LocalStack, StackConfig
from onto_functions.local.stats import percentile

APP = '''
"""One callable: create a note from the call's data."""
import uuid

from marshmallow import Schema, fields as mfields

from onto_functions import DomainModel, Mediator, Store, fields, source


class NoteSchema(Schema):
    text = mfields.Str(required=True)


class Note(DomainModel):
    class Meta:
        collection = "notes"

    text = fields.Str(required=True)
    author = fields.Str(required=True)


class NoteMediator(Mediator):
    source = source.callable(schema=NoteSchema, allow="signed_in")

    @source.triggers.on_call(name="bench-write")
    def write(self, request, store: Store) -> dict:
        note_id = uuid.uuid4().hex
        store.create(Note(note_id, text=request.data["text"], author=request.auth.uid))
        return {"id": note_id}


mediators = [NoteMediator]
'''

BARE = '''
"""The same write, by hand: parse, create the document, answer."""
import os
import uuid

import functions_framework
from google.auth.credentials import AnonymousCredentials
from google.cloud import firestore

client = firestore.Client(project=os.environ["GCLOUD_PROJECT"], credentials=AnonymousCredentials())


@functions_framework.http
def write(request):
    data = request.get_json()["data"]
    note_id = uuid.uuid4().hex
    client.document(f"notes/{note_id}").create({"text": data["text"], "author": "bare"})
    return {"result": {"id": note_id}}
'''

Post = Callable[[bytes], int]


def post_to(port: int, path: str, headers: dict[str, str]) -> Post:
    def post(body: bytes) -> int:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
            resp = conn.getresponse()
            resp.read()
            return resp.status
        finally:
            conn.close()

    return post


def serve_bare(root: Path, env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    (root / "bare").mkdir()
    (root / "bare" / "main.py").write_text(BARE)
    port = free_port()
    framework = Path(sys.executable).with_name("functions-framework")
    proc = subprocess.Popen([str(framework), "--source", str(root / "bare" / "main.py"), "--target", "write",
                             "--host", "127.0.0.1", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    wait_for(lambda: _listening(port), timeout=60, message="the bare handler never listened")
    return proc, port


def _listening(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def measure(contenders: dict[str, Post], samples: int, warmup: int = 10) -> dict[str, list[float]]:
    """Interleaved: each sample sends one request to every contender, in turn."""
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for i in range(warmup + samples):
        for name, post in contenders.items():
            body = json.dumps({"data": {"text": f"note {i}"}}).encode()
            if name.endswith("key"):
                body = json.dumps({"data": {"text": f"note {i}", "idempotencyKey": uuid.uuid4().hex}}).encode()
            began = time.perf_counter()
            status = post(body)
            elapsed = time.perf_counter() - began
            if status != 200:
                raise RuntimeError(f"{name} answered {status}")
            if i >= warmup:
                times[name].append(elapsed)
    return times


def figures(times: dict[str, list[float]], baseline: str = "bare") -> dict[str, dict[str, float]]:
    base_median, base_p95 = statistics.median(times[baseline]), percentile(times[baseline], 95) or 0.0
    result = {}
    for name, values in times.items():
        median, p95 = statistics.median(values), percentile(values, 95) or 0.0
        result[name] = {"median_ms": round(median * 1000, 2), "p95_ms": round(p95 * 1000, 2),
                        "ratio_median": round(median / base_median, 2), "ratio_p95": round(p95 / base_p95, 2),
                        "n": len(values)}
    return result


def run(samples: int) -> dict[str, object]:
    root = Path(tempfile.mkdtemp(prefix="onto-bench-requests-"))
    (root / "benchapp").mkdir()
    (root / "benchapp" / "__init__.py").write_text("")
    (root / "benchapp" / "notes.py").write_text(APP)
    project = f"demo-bench-{uuid.uuid4().hex[:6]}"
    config = StackConfig(app="benchapp.notes", project=project, project_root=root, state_dir=root / "state",
                         instances=1, auth_emulator_host=UNSTARTED_AUTH_EMULATOR)
    with LocalStack(config) as stack:
        env = {**os.environ, "FIRESTORE_EMULATOR_HOST": stack.emulator_host, "GCLOUD_PROJECT": project}
        bare, bare_port = serve_bare(root, env)
        try:
            spec = stack.specs[0]
            worker = stack.workers.acquire(spec.name)  # started now; held for the run
            auth = {"Authorization": f"Bearer {emulator_format_token(project, 'bench-user', lifetime_seconds=86400)}"}
            front = stack.requests.front
            contenders = {
                "bare": post_to(bare_port, "/", {}),
                "onto worker": post_to(worker.port, "/", auth),
                "onto worker, key": post_to(worker.port, "/", auth),
                "onto via front": post_to(int(front.address.rsplit(":", 1)[1]), f"/{project}/{spec.options.region}/{spec.name}", auth),
            }
            times = measure(contenders, samples)
            stack.workers.release(worker)
        finally:
            bare.terminate()
            bare.wait(10)
    return {"samples": samples, "cpus": os.cpu_count(), "python": platform.python_version(),
            "load_average": [round(x, 2) for x in os.getloadavg()], "contenders": figures(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args.samples)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"callable request latency, {result['samples']} interleaved samples each "
          f"({result['cpus']} cores, Python {result['python']}, load {result['load_average']}):")
    for name, row in result["contenders"].items():  # type: ignore[union-attr]
        print(f"  {name:18s} median {row['median_ms']:7.2f} ms  p95 {row['p95_ms']:7.2f} ms  "
              f"ratio to bare {row['ratio_median']:.2f}x / {row['ratio_p95']:.2f}x")
    bare = result["contenders"]["bare"]  # type: ignore[index]
    for name, row in result["contenders"].items():  # type: ignore[union-attr]
        if name != "bare":
            print_row(f"callable request, {name}, median", f"{row['median_ms']:.1f} ms",
                      f"{bare['median_ms']:.1f} ms, a bare functions-framework handler", row["ratio_median"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
