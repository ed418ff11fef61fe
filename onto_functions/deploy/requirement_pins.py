"""A bundle's requirements.txt lines: exact pins of what its code imports, as installed here.

Why exact pins from this environment: the deployed function should run the
versions that were tested here, and a bundle's hash should change when they
change. The runtime's own dependencies come from onto-functions' metadata;
third-party modules that user code imports are mapped to the distributions
that provide them.
"""

from __future__ import annotations

import functools
import re
import sys
import warnings
from importlib import metadata
from typing import Iterable

from .bundle_errors import BundleError, BundleWarning

DISTRIBUTION = "onto-functions"


@functools.lru_cache(maxsize=1)
def runtime_requirements() -> tuple[str, ...]:
    """`name==version` for each runtime dependency of onto-functions (its extras left out)."""
    try:
        declared = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        raise BundleError(
            f"{DISTRIBUTION} is not installed in this Python ({sys.executable}); "
            "install it (pip install -e .) so its runtime dependencies can be pinned"
        ) from None
    pins = []
    for requirement in declared:
        if "extra ==" in requirement.replace('"', "'").replace("'", ""):
            continue
        name = re.match(r"[A-Za-z0-9_.\-]+", requirement)
        if name:
            pins.append(pin(name.group(0)))
    return tuple(pins)


def pin(distribution: str) -> str:
    """`distribution==<the version installed here>`."""
    try:
        return f"{distribution}=={metadata.version(distribution)}"
    except metadata.PackageNotFoundError:
        raise BundleError(f"{distribution} is needed but not installed here; pip install it") from None


@functools.lru_cache(maxsize=1)
@functools.lru_cache(maxsize=1)
def _packages_distributions() -> dict[str, list[str]]:
    """Top-level import names → the distributions that install them, from each distribution's
    files as well as its top_level.txt: Python 3.10's `packages_distributions` reads only the
    latter, which protobuf lacks, and so misses that it installs `google.protobuf`."""
    mapping: dict[str, list[str]] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        tops = set((dist.read_text("top_level.txt") or "").split())
        for file in dist.files or ():
            head = file.parts[0] if file.parts else ""
            if head and not head.endswith((".dist-info", ".data")) and head not in ("..", "__pycache__"):
                tops.add(head.split(".")[0])
        for top in tops:
            if name and name not in mapping.setdefault(top, []):
                mapping[top].append(name)
    return mapping


# Installed only where it is imported: HTTPS and callable functions verify Firebase ID tokens with
# firebase-admin (which itself requires the Firestore client library); a trigger's bundle would install
# them (tens of MB, gRPC's wheels among them) for nothing, since the runtime speaks Firestore's REST API.
REQUEST_ONLY = frozenset({"firebase-admin", "google-cloud-firestore"})


def runtime_requirements_for(serves_requests: bool) -> tuple[str, ...]:
    """The runtime's pins that one function installs: without the request-only ones for an event trigger."""
    return tuple(r for r in runtime_requirements()
                 if serves_requests or normalise(r.split("==")[0]) not in REQUEST_ONLY)


def external_requirements(modules: Iterable[str], runtime_pins: Iterable[str] | None = None) -> list[str]:
    """Pins for the third-party modules user code imports (those in `runtime_pins`, default the runtime's,
    are pinned already)."""
    pins_of_runtime = runtime_requirements() if runtime_pins is None else runtime_pins
    runtime = {normalise(r.split("==")[0]) for r in pins_of_runtime}
    pins: dict[str, None] = {}
    missing: set[str] = set()
    for module in sorted(modules):
        dists = providers(module)
        if not dists:
            missing.add(module.partition(".")[0])
        elif not runtime & {normalise(d) for d in dists}:
            pins.update((pin(d), None) for d in sorted(dists))
    for name in sorted(missing):
        warnings.warn(BundleWarning(
            f"user code imports {name!r}, which is not installed here; add it to "
            "[tool.onto] requirements so the deployed function can import it"), stacklevel=4)
    return list(pins)


def providers(module: str) -> set[str]:
    """The installed distributions that provide `module` (a dotted name; empty when none does).

    A top-level name most often belongs to one distribution. A namespace shared
    by several (`google`: google-cloud-firestore, google-cloud-storage,
    protobuf...) is resolved by the distributions' own file lists, taking the
    longest part of the name that one of them holds: `google.cloud.storage` is
    google-cloud-storage's, while `google.cloud` alone is everyone's.
    """
    parts = module.split(".")
    dists = set(_packages_distributions().get(parts[0], ()))
    if len(dists) < 2:
        return dists
    for depth in range(len(parts), 1, -1):
        prefix = ".".join(parts[:depth])
        holders = {d for d in dists if prefix in _modules_of(d)}
        if holders:
            return holders
    return dists


@functools.lru_cache(maxsize=None)
def _modules_of(distribution: str) -> frozenset[str]:
    """Every package and module a distribution's files make importable, as dotted names."""
    found: set[str] = set()
    for file in metadata.distribution(distribution).files or ():
        parts = list(file.parts)
        if not parts or parts[0].endswith((".dist-info", ".data")) or ".." in parts:
            continue
        parts[-1] = parts[-1].split(".")[0]  # storage.py, _crc32c.cpython-311-x86_64-linux-gnu.so
        if parts[-1] in ("", "__init__"):
            parts.pop()
        found.update(".".join(parts[:i]) for i in range(1, len(parts) + 1))
    return frozenset(found)


def normalise(distribution: str) -> str:
    """A distribution name as PEP 503 compares them: `Google_Cloud.Storage` → `google-cloud-storage`."""
    return re.sub(r"[-_.]+", "-", distribution).lower()
