"""The reference environment the benchmarks compare onto against, built on demand.

Why: a side-by-side against a hand-written firebase-functions handler needs
firebase-functions, which onto does not depend on. Making that venv by hand
(and forgetting a package) broke the comparison on a fresh clone, so the
benchmarks build it themselves: `.onto/bench/reference-venv`, with
firebase-functions pinned and the libraries both handlers run on (the
server, the Firestore client, gRPC, protobuf) at the versions installed
here, so the two differ only in their own code. (firebase-functions 0.6.0
pins an older google-events than onto needs, so onto's bundle runs in this
environment and the reference in that one.) It is rebuilt only when that
list of pins changes.

    .venv/bin/python -m benchmarks.reference_env     # prints the venv's python
"""

from __future__ import annotations

import subprocess
import sys
import venv
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BENCH_DIR = REPO / ".onto" / "bench"
VENV_DIR = BENCH_DIR / "reference-venv"
FIREBASE_FUNCTIONS = "firebase-functions==0.6.0"


# What both handlers run on besides their own code: the same versions in both environments.
# marshmallow too, so that onto's bundle imports there as well (google-events comes with firebase-functions,
# which pins an older one).
SHARED = ("functions-framework", "google-cloud-firestore", "google-api-core", "grpcio", "protobuf", "flask",
          "gunicorn", "marshmallow")


def reference_requirements() -> list[str]:
    """firebase-functions, pinned, and the shared libraries at the versions installed here."""
    from onto_functions.deploy.requirement_pins import pin

    return [FIREBASE_FUNCTIONS, *(pin(name) for name in SHARED)]


def reference_python(requirements: list[str] | None = None) -> Path:
    """The reference venv's python, created (or brought in step with `requirements`) first."""
    wanted = "\n".join(requirements or reference_requirements()) + "\n"
    python = VENV_DIR / "bin" / "python"
    stamp = VENV_DIR / "onto-requirements.txt"
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"building the reference environment in {VENV_DIR} (once; about a minute)", file=sys.stderr)
    venv.EnvBuilder(with_pip=True, clear=True).create(VENV_DIR)
    requirements_file = BENCH_DIR / "reference-requirements.txt"
    requirements_file.write_text(wanted)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(requirements_file)], check=True)
    stamp.write_text(wanted)
    return python


def installed_version(python: Path, distribution: str) -> str:
    code = f"import importlib.metadata as m; print(m.version({distribution!r}))"
    return subprocess.run([str(python), "-c", code], capture_output=True, text=True, check=True).stdout.strip()


if __name__ == "__main__":
    print(reference_python())
