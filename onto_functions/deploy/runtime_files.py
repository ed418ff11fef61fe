"""The vendored runtime: the part of `onto_functions` that a bundle carries beside main.py.

Why vendored and not pinned in requirements.txt: until onto-functions is on
PyPI there is nothing to pin, and even then a vendored copy makes the bundle
run from its own folder (`functions-framework --source <bundle>/main.py`)
with exactly the runtime code that was tested, and makes a runtime change
show in every bundle's hash.
"""

from __future__ import annotations

import functools
from pathlib import Path

import onto_functions

from .bundle_errors import BundleError
from .parsed_imports import parsed_imports

# Subpackages that a deployed function never imports (the developer and operator side).
RUNTIME_EXCLUDED = frozenset({"deploy", "local", "ops", "testing"})
VENDORED_SUFFIXES = (".py", ".typed")


@functools.lru_cache(maxsize=1)
def runtime_files() -> dict[str, bytes]:
    """`onto_functions/**.py` (and py.typed) minus deploy/, local/, ops/, testing/, by bundle path.

    Also checks that none of it imports those subpackages: a deployed
    function that did would fail at its first cold start.
    """
    package = Path(onto_functions.__file__).resolve().parent
    files: dict[str, bytes] = {}
    for path in sorted(package.rglob("*")):
        relative = path.relative_to(package)
        if not path.is_file() or path.suffix not in VENDORED_SUFFIXES or "__pycache__" in relative.parts:
            continue
        if relative.parts[0] in RUNTIME_EXCLUDED:
            continue
        data = path.read_bytes()
        if path.suffix == ".py":
            _check_runtime_imports(relative, data)
        files[f"onto_functions/{relative.as_posix()}"] = data
    return files


def _check_runtime_imports(relative: Path, data: bytes) -> None:
    parts = ("onto_functions", *relative.with_suffix("").parts)
    is_package = parts[-1] == "__init__"
    module = ".".join(parts[:-1] if is_package else parts)
    for imported, names in parsed_imports(data, module, is_package, str(relative)):
        targets = [f"{imported}.{n}" for n in names] if imported == "onto_functions" else [imported]
        for target in targets:
            top, _, rest = target.partition(".")
            if top == "onto_functions" and rest.split(".")[0] in RUNTIME_EXCLUDED:
                raise BundleError(
                    f"onto_functions/{relative.as_posix()} imports {target!r}, which is not part of the "
                    "deployed runtime (deploy/, local/, ops/ and testing/ are never bundled)"
                )
