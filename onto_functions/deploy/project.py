"""A project's onto settings: `[tool.onto]` in its pyproject.toml.

    [tool.onto]
    app = "examples.meeting_room.main"   # module or module:attr
    build_dir = "build/onto"             # where bundles go (relative to the project)
    region = "us-central1"               # default function region
    backend = "firebase"                 # or "gcloud"
    database_location = "nam5"           # where the Firestore database is (optional)
    runtime = "python312"
    include = []                         # extra files (globs) every bundle needs
    requirements = []                    # extra requirement lines for every bundle
    rules_source = "firestore.rules.in"  # your own Firestore rules, merged by `onto rules`

Why one small typed object: every command reads the same settings, and a
test can build one directly without writing a file.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

try:  # Python 3.11+
    import tomllib as _toml
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as _toml  # type: ignore[no-redef]

BACKENDS = ("firebase", "gcloud")
RUNTIMES = ("python310", "python311", "python312", "python313")
_KNOWN_KEYS = {
    "app", "build_dir", "region", "backend", "database_location", "runtime",
    "include", "requirements", "project", "state_dir",
    "rules_source",
}


class ConfigError(ValueError):
    """pyproject's [tool.onto] holds something we cannot use."""


@dataclass(frozen=True)
class ProjectConfig:
    root: Path
    app: str | None = None
    build_dir: Path = Path("build/onto")
    region: str | None = None
    backend: str = "firebase"
    database_location: str | None = None
    runtime: str = "python312"
    include: tuple[str, ...] = ()
    requirements: tuple[str, ...] = ()
    project: str | None = None  # default Firebase/GCP project id
    state_dir: Path = Path(".onto/state")
    rules_source: Path | None = None  # the user's own Firestore rules (default: firestore.rules.in, if any)

    def __post_init__(self) -> None:
        if self.backend not in BACKENDS:
            raise ConfigError(f"[tool.onto] backend = {self.backend!r}: use one of {', '.join(BACKENDS)}")
        if self.runtime not in RUNTIMES:
            raise ConfigError(f"[tool.onto] runtime = {self.runtime!r}: use one of {', '.join(RUNTIMES)}")

    def resolve(self, path: Path) -> Path:
        """A config path made absolute against the project root."""
        return path if path.is_absolute() else self.root / path

    @property
    def build_path(self) -> Path:
        return self.resolve(self.build_dir)

    @property
    def state_path(self) -> Path:
        return self.resolve(self.state_dir)

    @property
    def firebase_json(self) -> Path:
        return self.root / "firebase.json"

    def with_(self, **changes: Any) -> "ProjectConfig":
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def load_project(root: Path) -> ProjectConfig:
    """Read `root/pyproject.toml`'s [tool.onto]; a project without one gets the defaults."""
    root = root.resolve()
    pyproject = root / "pyproject.toml"
    table: dict[str, Any] = {}
    if pyproject.is_file():
        try:
            data = _toml.loads(pyproject.read_text(encoding="utf-8"))
        except _toml.TOMLDecodeError as exc:
            raise ConfigError(f"{pyproject}: not valid TOML: {exc}") from exc
        table = data.get("tool", {}).get("onto", {})
    unknown = set(table) - _KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{pyproject} [tool.onto]: unknown key(s) {', '.join(sorted(unknown))}; "
            f"known: {', '.join(sorted(_KNOWN_KEYS))}"
        )
    values: dict[str, Any] = dict(table)
    for key in ("build_dir", "state_dir", "rules_source"):
        if key in values:
            values[key] = Path(values[key])
    for key in ("include", "requirements"):
        if key in values:
            if not isinstance(values[key], list) or not all(isinstance(v, str) for v in values[key]):
                raise ConfigError(f"{pyproject} [tool.onto] {key}: expected a list of strings")
            values[key] = tuple(values[key])
    return ProjectConfig(root=root, **values)


def find_project_root(start: Path) -> Path:
    """The nearest folder at or above `start` with a pyproject.toml or firebase.json (else `start`)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / "pyproject.toml").is_file() or (folder / "firebase.json").is_file():
            return folder
    return start


# Firestore multi-region locations and the function regions inside them.
MULTI_REGIONS: dict[str, frozenset[str]] = {
    "nam5": frozenset({"us-central1", "us-central2", "us-east1", "us-east4"}),
    "nam7": frozenset({"us-central1", "us-east4"}),
    "eur3": frozenset({"europe-west1", "europe-west4"}),
}


def region_matches_database(region: str, database_location: str) -> bool:
    """True when a function in `region` can take Firestore events from a database in `database_location`."""
    location = database_location.lower()
    if location in MULTI_REGIONS:
        return region in MULTI_REGIONS[location]
    return region == location
