"""Where the Cloud Firestore emulator and the Java that runs it are installed on this machine.

Finding them is its own concern: the error a user meets first when
something is missing must say where we looked and how to fix it, and the
search order (explicit setting, gcloud SDK, firebase-tools' cache) must not
cost a subprocess when a cheap look suffices.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

JAR_ENV = "ONTO_FIRESTORE_EMULATOR_JAR"
MAIN_CLASS = "com.google.cloud.datastore.emulator.firestore.CloudFirestore"
_SDK_JAR = Path("platform/cloud-firestore-emulator/cloud-firestore-emulator.jar")
_COMMON_SDK_ROOTS = (Path("/usr/lib/google-cloud-sdk"), Path("/usr/share/google-cloud-sdk"))
_FIREBASE_CACHE = Path("~/.cache/firebase/emulators")
_FIX_HINT = (
    "Install it with `gcloud components install cloud-firestore-emulator` "
    "(or `apt-get install google-cloud-cli-firestore-emulator`), "
    f"or set {JAR_ENV} to the path of cloud-firestore-emulator.jar."
)


class EmulatorNotFound(RuntimeError):
    """The emulator jar or java is missing; the message says where we looked and how to fix it."""


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
    found = _sdk_jar(looked)
    if found is not None:
        return found
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


def _sdk_jar(looked: list[str]) -> Path | None:
    """The gcloud SDK's jar: the usual roots and the one behind `gcloud` on PATH, then `gcloud info`.

    Appends each place it looked to `looked`.
    """
    roots = list(_COMMON_SDK_ROOTS)
    gcloud = shutil.which("gcloud")
    if gcloud:  # /usr/bin/gcloud -> <root>/bin/gcloud
        roots.append(Path(os.path.realpath(gcloud)).parent.parent)
    for root in dict.fromkeys(roots):
        candidate = root / _SDK_JAR
        if candidate.is_file():
            return candidate
        looked.append(str(candidate))
    if not gcloud:
        looked.append("`gcloud info` (no gcloud on PATH)")
        return None
    root = _gcloud_sdk_root(gcloud)
    if root is None:
        return None
    candidate = root / _SDK_JAR
    if candidate.is_file():
        return candidate
    looked.append(f"{candidate} (from `gcloud info`)")
    return None


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
