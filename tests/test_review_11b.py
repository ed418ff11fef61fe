"""Review 11b (no emulator needed): the marker's folder times, the hand-written request parser of the
worker's server, and `make bench`'s fairness and README rewrite.

Each test states what should hold and fails while the code does otherwise.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from benchmarks import bundle_speed, report
from onto_functions.deploy.bundle_folder import read_marker, write_bundle
from onto_functions.local.loopback import free_port
from onto_functions.local.worker_server import WorkerServer
from onto_functions.local.polling import wait_for

REPO = Path(__file__).resolve().parents[1]
FILES = {"main.py": b"import pkg.a\n", "pkg/__init__.py": b"", "pkg/a.py": b"A = 1\n", "pkg/b.py": b"B = 2\n"}


# ---------------------------------------------------------------- 1. bundle folder: the marker's folder times

def test_a_file_removed_where_the_folder_time_does_not_move_is_written_again(tmp_path: Path):
    """The unchanged check trusts a folder's mtime alone. It does not move when the removal falls in the same
    tick of a coarse file system (FAT/exFAT 2 s, HFS+ and ext3 1 s, some network mounts) as the bundle's own
    write, nor after a tool that restores directory times (rsync -a, tar x, cp -a, unzip). Simulated here by
    putting the recorded time back, as such a file system or tool leaves it: the bundle then lacks pkg/b.py
    and onto bundle / onto deploy call it current."""
    bundle = tmp_path / "fn"
    write_bundle(bundle, FILES, "fn", "h1")
    recorded = read_marker(bundle)["folders"]["pkg"]
    (bundle / "pkg" / "b.py").unlink()
    os.utime(bundle / "pkg", ns=(recorded, recorded))
    write_bundle(bundle, FILES, "fn", "h1")
    assert (bundle / "pkg" / "b.py").is_file()


# ---------------------------------------------------------------- 2. the worker's server

@pytest.fixture
def server() -> Iterator[tuple[WorkerServer, list[bytes]]]:
    bodies: list[bytes] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        body = environ["wsgi.input"].read()
        bodies.append(body)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ran on " + body]

    running = WorkerServer(free_port(), app)
    threading.Thread(target=running.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield running, bodies
    running.shutdown()
    running.server_close()


def connect(server: WorkerServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.server_port), timeout=5)
    return sock


def read_some(sock: socket.socket, seconds: float) -> bytes:
    sock.settimeout(seconds)
    try:
        return sock.recv(65536)
    except socket.timeout:
        return b""


def test_a_body_cut_short_is_not_handed_to_the_app(server):
    """Content-Length says 12, the sender dies after 4 bytes: the app must not run on the 4 (a protobuf
    event cut at a field boundary still parses, with fields missing). werkzeug under gunicorn/functions-
    framework refuses the short read (ClientDisconnected); this server hands `rfile.read(12)`'s 4 bytes on."""
    running, bodies = server
    with connect(running) as sock:
        sock.sendall(b"POST /fn HTTP/1.1\r\nContent-Length: 12\r\n\r\nabcd")
        sock.shutdown(socket.SHUT_WR)
        answer = read_some(sock, 5)
    assert bodies == [], (bodies, answer)


def test_expect_100_continue_is_answered_before_the_body_is_read(server):
    """BaseHTTPRequestHandler.parse_request answered `Expect: 100-continue` (handle_expect_100); the hand-written
    parse_request drops that. A client that waits for the 100 before sending its body (curl does for large
    bodies, 1 s; others wait longer) now stalls while the server waits for the body."""
    running, _ = server
    with connect(running) as sock:
        sock.sendall(b"POST /fn HTTP/1.1\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n")
        interim = read_some(sock, 3)
    assert interim.startswith(b"HTTP/1.1 100"), interim


def test_a_negative_content_length_is_refused_not_read_to_the_end_of_the_connection(server):
    """int('-1') is -1 and rfile.read(-1) reads until the peer closes: a kept-alive connection's thread is
    held until then (not new in this change; the email parser did not check it either)."""
    running, bodies = server
    with connect(running) as sock:
        sock.sendall(b"POST /fn HTTP/1.1\r\nContent-Length: -1\r\n\r\nhi")
        answer = read_some(sock, 3)
    assert answer.startswith(b"HTTP/1.1 400"), (answer, bodies)


@pytest.mark.parametrize("raw", [
    pytest.param(b"POST /fn HTTP/1.1\r\nX-Note: one\r\n Content-Length: 3\r\n\r\nabc", id="obs-fold"),
    pytest.param(b"POST /fn HTTP/1.1\r\nContent-Length : 3\r\n\r\nabc", id="space-before-colon"),
])
def test_header_lines_rfc_9112_says_to_refuse_do_not_set_the_body_length(server, raw):
    """RFC 9112 5.1/5.2: whitespace between a field name and its colon MUST be answered 400; an obs-fold line
    is refused or joined to the previous field. Read by hand, both become a Content-Length of 3 here, where
    a proxy or any other parser on the way sees a request without a body (the classic smuggling pair)."""
    running, bodies = server
    with connect(running) as sock:
        sock.sendall(raw)
        answer = read_some(sock, 3)
    assert b"abc" not in bodies, answer


# ---------------------------------------------------------------- 4. make bench

def test_import_figures_run_with_the_bytecode_cache_on_like_the_other_timed_processes(tmp_path, monkeypatch):
    """cold_start and the CLI timings clear PYTHONDONTWRITEBYTECODE (set in this sandbox's shell); import_once
    does not. The generated bundle is a fresh copy with no __pycache__, the reference venv's firebase-functions
    was byte-compiled by pip: so in such a shell onto's side compiles every vendored module on every run and
    the hand-written side never does."""
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    flag = bundle_speed.import_once(sys.executable, tmp_path, "import sys; print(float(sys.dont_write_bytecode))")
    assert flag == 0.0


def test_a_report_of_some_benchmarks_keeps_the_others_figures_in_the_readme(tmp_path, monkeypatch):
    """`benchmarks.report --only dev_loop` once rewrote the whole block with dev_loop's section: the other
    eight benchmarks' figures vanished from the README. A partial run now prints and leaves it alone."""
    readme = tmp_path / "README.md"
    old = report.markdown([report.Outcome(("benchmarks.cold_start",), "cold start figures", [], None, 1.0),
                           report.Outcome(("benchmarks.dev_loop",), "old dev loop", [], None, 1.0)])
    readme.write_text(f"intro\n{report.BEGIN}\n{old}{report.END}\n", encoding="utf-8")
    monkeypatch.setattr(report, "run", lambda command: report.Outcome(command, "new dev loop", [], None, 1.0))
    monkeypatch.setattr(sys, "argv", ["report", "--readme", str(readme), "--only", "dev_loop"])
    report.main()
    text = readme.read_text(encoding="utf-8")
    assert "cold start figures" in text and "old dev loop" in text


RUN_FOREVER = textwrap.dedent("""
    import sys
    sys.path.insert(0, {repo!r})
    from benchmarks.report import run
    run(("http.server", "0", "--bind", "127.0.0.1"))
""")


def children_of(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        found += [int(p) for p in task.read_text().split()]
    return found


def cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_interrupting_make_bench_stops_the_benchmark_it_was_running(tmp_path):
    """report.run starts each benchmark in a session of its own (start_new_session), so the terminal's
    Ctrl-C reaches only the report. Its KeyboardInterrupt leaves the child running, and the report itself does
    not end: the per-benchmark threading.Timer (900 s, not a daemon) keeps the interpreter waiting at exit, so
    `make bench` hangs for up to 15 minutes with the benchmark (its Java emulator, its functions-framework
    processes) still running; a second Ctrl-C ends the report and orphans the benchmark."""
    runner = subprocess.Popen([sys.executable, "-c", RUN_FOREVER.format(repo=str(REPO))],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # a shell's job
    child = None
    try:
        child = wait_for(lambda: next((c for c in children_of(runner.pid) if b"http.server" in cmdline(c)), None),
                         timeout=30, message="the benchmark runs")
        wait_for(lambda: len(list(Path(f"/proc/{runner.pid}/task").iterdir())) >= 3, timeout=30,
                 message="the report waits on it (its timer and echo threads started)")
        runner.send_signal(signal.SIGINT)  # as the terminal does for the foreground process group
        wait_for(lambda: not alive(child), timeout=15, message="the interrupted benchmark to stop")
        wait_for(lambda: runner.poll() is not None, timeout=15, message="the interrupted report to end")
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
        if child is not None and alive(child):
            os.killpg(child, signal.SIGKILL)  # the session leader we started, by its id


def test_an_unchanged_bundle_is_confirmed_by_folder_times_once_they_are_older_than_a_coarse_tick(tmp_path: Path):
    """The fast path is taken only when the marker was recorded a clock tick or more after the folders last
    changed (2 s on a whole-second file system, else 50 ms); before that, the bundle is checked file by file
    (which also restores a file edited in place)."""
    bundle = tmp_path / "fn"
    write_bundle(bundle, FILES, "fn", "h1")
    (bundle / "main.py").write_bytes(b"print('edited in place')\n")
    marker = json.loads((bundle / ".onto-bundle.json").read_text())
    marker["recorded_ns"] = max(marker["folders"].values()) + 1_000  # recorded in the same tick as the writes
    (bundle / ".onto-bundle.json").write_text(json.dumps(marker))
    write_bundle(bundle, FILES, "fn", "h1")  # too recent to trust, so checked file by file
    assert (bundle / "main.py").read_bytes() == FILES["main.py"]
    marker = json.loads((bundle / ".onto-bundle.json").read_text())
    marker["recorded_ns"] = max(marker["folders"].values()) + 3_000_000_000  # as if recorded 3 s later
    (bundle / ".onto-bundle.json").write_text(json.dumps(marker))
    (bundle / "main.py").write_bytes(b"print('edited in place')\n")
    write_bundle(bundle, FILES, "fn", "h1")  # trusted now: no file is read (an edit in place is not seen)
    assert (bundle / "main.py").read_bytes() == b"print('edited in place')\n"
    (bundle / "pkg" / "b.py").unlink()  # a removal changes the folder's ctime, which nothing sets back
    write_bundle(bundle, FILES, "fn", "h1")
    assert (bundle / "pkg" / "b.py").is_file()
