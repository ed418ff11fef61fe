"""The dev loop of `onto emulate`: after an edit, rebuild the bundles and swap exactly the triggers that changed.

    edit ─▶ watcher.py ─▶ Reloader.reload():
              collect the app's bundles afresh (discovery, closures, hashes: deploy's own code)
              ├─ it fails (syntax, import, spec error) ─▶ one line, file:line; the old workers keep running
              └─ compare each trigger's bundle hash with the one it runs:
                   changed ─▶ hold its events in the queue, write the bundle as generation N, start a
                              worker on it, switch the trigger's slots to generation N, release the hold
                   added   ─▶ served from generation N (workers start on first use, as at start)
                   removed ─▶ no more deliveries; its queued (and new) events stay in the queue,
                              counted in the report, delivered if the trigger comes back

What the swap promises (worker_pool.py does the switching):
- no event is lost: events that arrive during the swap wait in the durable
  queue (the hold) and run on the new code;
- no event runs on a half-swapped worker: a worker serves one generation's
  bundle folder, start to end, and deliveries go to the current generation
  only. An old worker finishes the deliveries it was given before the
  switch (it drains), then stops; it is never given another. Should one of
  them die mid-delivery, the host retries the event on the new code and the
  ledger, as always, lets its effect commit once;
- a trigger whose bundle did not change keeps its workers, untouched.

Each generation is a folder of its own (`<bundles>/.generations/<N>/<trigger>`):
old workers may still import from theirs while the new one starts. Folders
no worker uses any more are removed at the next reload.
"""

from __future__ import annotations

import logging
import shutil
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Mapping, Sequence

from ..spec import TriggerSpec
from .edit_errors import EditError, locate

if TYPE_CHECKING:
    from ..deploy.bundle import Bundle, BundleContents
    from .host import FunctionHost
    from .worker_pool import WorkerPool

log = logging.getLogger("onto_functions.local")

GENERATIONS = ".generations"


@dataclass(frozen=True)
class ReloadPlan:
    """Which triggers an edit changed, added and removed, by comparing bundle hashes."""

    changed: list[BundleContents] = field(default_factory=list)
    added: list[BundleContents] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.changed or self.added or self.removed)


def plan_reload(running: Mapping[str, Bundle], fresh: Sequence[BundleContents]) -> ReloadPlan:
    """`fresh` bundles against the ones `running` (by trigger): what to swap, start and stop."""
    plan = ReloadPlan()
    for item in fresh:
        current = running.get(item.bundle.spec.name)
        if current is None:
            plan.added.append(item)
        elif current.content_hash != item.bundle.content_hash:
            plan.changed.append(item)
    names = {item.bundle.spec.name for item in fresh}
    plan.removed.extend(name for name in running if name not in names)
    return plan


def describe(record: Mapping[str, Any]) -> str | None:
    """The one line the live view and the log show for a reload record (None for other records)."""
    if record.get("event") == "reload_failed":
        return f"reload failed: {record['error']} (the old code keeps running)"
    if record.get("event") != "reloaded":
        return None
    names = [*record.get("triggers", []), *(f"{n} (new)" for n in record.get("added", []))]
    parts = [f"reloaded {len(names)} trigger(s): {', '.join(names) or '-'} ({record.get('ms', 0):.0f} ms)"]
    for name, queued in record.get("removed", {}).items():
        parts.append(f"removed {name} ({queued} queued event(s) kept; delivered if it comes back)")
    for name, error in record.get("failed", {}).items():
        parts.append(f"{name} kept its old code: {error}")
    return "; ".join(parts)


class Reloader:
    """Rebuilds the app's bundles on demand and swaps the workers of the triggers whose bundle changed."""

    def __init__(self, app: str, project_root: Path, bundles: Sequence[Bundle], *, generations_dir: Path,
                 host: FunctionHost, pool: WorkerPool, connect: Callable[[TriggerSpec], None],
                 emit: Callable[[dict[str, Any]], None],
                 settings: Callable[[list[TriggerSpec]], dict[str, dict[str, str]]] | None = None) -> None:
        self.app = app
        self.root = project_root.resolve()
        self.generations_dir = generations_dir
        self.host = host
        self.pool = pool
        self.connect = connect  # make the platform send the trigger's events to the host (emulator, Pub/Sub)
        self.emit = emit
        # each trigger's secret and param values (local_settings.worker_settings), read again at every reload:
        # an edit may declare new ones, or add a trigger that has some
        self.settings = settings or (lambda specs: {})
        self._env: dict[str, dict[str, str]] = {}
        self.running: dict[str, Bundle] = {b.spec.name: b for b in bundles}
        self.generation = 0
        self._broken: set[Path] = set()  # a file the last failed reload named: watched until it is fixed
        self._lock = threading.Lock()  # one reload at a time
        shutil.rmtree(generations_dir, ignore_errors=True)

    @property
    def specs(self) -> list[TriggerSpec]:
        return [b.spec for b in self.running.values()]

    def watched_files(self) -> set[Path]:
        """The files the bundles are built from: every trigger's import closure, pyproject.toml, includes."""
        from ..deploy.import_closure import closure
        from ..deploy.project import load_project

        files = {self.root / "pyproject.toml", *self._broken}
        modules = {self.app.partition(":")[0], *(spec.module for spec in self.specs)}
        for module in modules:
            try:
                files.update(self.root / f for f in closure(module, self.root).files)
            except ValueError:  # a file that does not parse: the failed reload named it
                pass
        try:
            files.update(self.root / pattern for pattern in load_project(self.root).include)
        except Exception:  # a broken pyproject.toml is watched anyway, and reported by the reload
            pass
        return {f for f in files if not any(ch in f.name for ch in "*?[")}

    def reload(self) -> dict[str, Any] | None:
        """Rebuild and swap what changed; the record emitted (reloaded or reload_failed), None when nothing did."""
        with self._lock:
            began = time.monotonic()
            try:
                fresh = self._collect(self.generation + 1)
                self._env = self.settings([item.bundle.spec for item in fresh])  # a missing value fails the reload
            except Exception as exc:  # the edit broke the app: keep what runs, say where
                return self._failed(locate(exc, self.root), began)
            self._broken.clear()
            plan = plan_reload(self.running, fresh)
            if plan.empty:
                return None
            self.generation += 1
            held = {"from": round(time.time(), 3)}  # the changed triggers' events wait in the queue meanwhile
            failed = self._swap(plan.changed)
            held["until"] = round(time.time(), 3)
            for item in plan.added:
                self._add(item)
            removed = {name: self._remove(name) for name in plan.removed}
            self._forget_unused_generations()
            record = {"event": "reloaded", "generation": self.generation,
                      "triggers": [i.bundle.spec.name for i in plan.changed if i.bundle.spec.name not in failed],
                      "added": [i.bundle.spec.name for i in plan.added], "removed": removed,
                      **({"failed": failed} if failed else {}), **({"held": held} if plan.changed else {}),
                      "ms": round((time.monotonic() - began) * 1000, 1)}
            self.emit(record)
            log.info("%s", describe(record))
            return record

    def _collect(self, generation: int) -> list[BundleContents]:
        """Every bundle of the app as the code is now, with its files, aimed at generation's folder."""
        from ..deploy.bundle import collect_bundles
        from ..deploy.project import load_project

        config = load_project(self.root).with_(root=self.root)
        return collect_bundles(self.app, config, self.generations_dir / str(generation))

    def _failed(self, error: EditError, began: float) -> dict[str, Any]:
        if error.file:
            path = Path(error.file)
            self._broken.add(path if path.is_absolute() else self.root / path)
        record = {"event": "reload_failed", "error": str(error), "file": error.file, "line": error.line,
                  "kind": error.kind, "ms": round((time.monotonic() - began) * 1000, 1)}
        self.emit(record)
        log.info("%s", describe(record))
        return record

    def _swap(self, changed: list[BundleContents]) -> dict[str, str]:
        """Swap every changed trigger, in parallel, with its events held meanwhile; {trigger: error} of those
        whose new worker did not start (they keep their old workers)."""
        names = [item.bundle.spec.name for item in changed]
        failed: dict[str, str] = {}
        self.host.hold(names)
        try:
            threads = [threading.Thread(target=self._swap_one, args=(item, failed), name=f"onto-reload-{name}")
                       for item, name in zip(changed, names)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        finally:
            self.host.unhold(names)
        return failed

    def _swap_one(self, item: BundleContents, failed: dict[str, str]) -> None:
        bundle = self._written(item)
        name = bundle.spec.name
        previous = self.pool.trigger_env.get(name, {})
        self.pool.trigger_env[name] = self._env.get(name, {})  # what the new generation's workers start with
        try:
            self.pool.swap(bundle, self.generation)
            self.host.serve(bundle.spec)
            self.connect(bundle.spec)
        except Exception as exc:  # the new worker did not start: the old generation still serves
            self.pool.trigger_env[name] = previous
            failed[name] = _first_line(exc)
            return
        self.running[bundle.spec.name] = bundle

    def _add(self, item: BundleContents) -> None:
        bundle = self._written(item)
        self.pool.trigger_env[bundle.spec.name] = self._env.get(bundle.spec.name, {})
        self.pool.swap(bundle, self.generation)  # no worker ran before: its instances start on first use
        self.host.serve(bundle.spec)
        self.connect(bundle.spec)
        self.running[bundle.spec.name] = bundle

    def _remove(self, name: str) -> int:
        queued = self.host.retire(name)
        self.pool.retire(name)
        del self.running[name]
        return queued

    def _written(self, item: BundleContents) -> Bundle:
        from ..deploy.bundle_folder import write_bundle

        write_bundle(item.bundle.path, item.files, item.bundle.spec.name, item.bundle.content_hash)
        return item.bundle

    def _forget_unused_generations(self) -> None:
        """Remove generation folders that neither a current bundle nor a draining worker uses."""
        used = {b.path.parent for b in self.running.values()} | {w.bundle.path.parent for w in self.pool.draining()}
        for folder in self.generations_dir.glob("*"):
            if folder.is_dir() and folder not in used:
                shutil.rmtree(folder, ignore_errors=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:500]
