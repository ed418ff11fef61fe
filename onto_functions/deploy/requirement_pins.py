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
def _packages_distributions() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def external_requirements(names: Iterable[str]) -> list[str]:
    """Pins for the third-party modules user code imports (the runtime's own are already pinned)."""
    runtime = {normalise(r.split("==")[0]) for r in runtime_requirements()}
    pins = []
    for name in sorted(names):
        dists = _packages_distributions().get(name)
        if not dists:
            warnings.warn(BundleWarning(
                f"user code imports {name!r}, which is not installed here; add it to "
                "[tool.onto] requirements so the deployed function can import it"), stacklevel=4)
            continue
        if runtime & {normalise(d) for d in dists}:
            continue  # provided by the runtime's pins (e.g. the `google` namespace)
        pins += [pin(d) for d in sorted(set(dists))]
    return pins


def normalise(distribution: str) -> str:
    """A distribution name as PEP 503 compares them: `Google_Cloud.Storage` → `google-cloud-storage`."""
    return re.sub(r"[-_.]+", "-", distribution).lower()
