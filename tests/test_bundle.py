"""Bundles: one self-contained folder per trigger, only the code it needs, a hash that means something."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from onto_functions.deploy.bundle import Bundle, build_bundles
from onto_functions.deploy.bundle_errors import BundleError
from onto_functions.deploy.bundle_folder import MARKER
from onto_functions.deploy.project_files import excluded_reason
from onto_functions.deploy.runtime_files import runtime_files

MODELS = '''
from onto_functions import DomainModel, ViewModel, fields


class Order(DomainModel):
    class Meta:
        collection = "orders"
    sku = fields.Str(required=True)


class Item(DomainModel):
    class Meta:
        collection = "items"
    sku = fields.Str(required=True)


class Note(DomainModel):
    class Meta:
        collection = "notes"
    text = fields.Str(required=True)


class Summary(ViewModel):
    class Meta:
        path = "summaries/{sku}"
    count = fields.Int(load_default=0)
'''

ORDERS = '''
from onto_functions import Mediator, sink, source

from .models import Order, Summary
from . import pricing


class OrderMediator(Mediator):
    source = source.domain_model(Order)
    sink = sink.firestore(Summary)

    @source.triggers.on_create
    def count(self, change, store):
        self.sink.emit(store, Summary(count=pricing.ONE), sku=change.after.sku)
'''

STOCK = '''
from onto_functions import Mediator, sink, source

from shop.models import Item, Summary


class StockMediator(Mediator):
    class Meta:
        memory_mb = 512

    source = source.domain_model(Item)
    sink = sink.firestore(Summary)

    @source.triggers.on_write
    def restock(self, change, store):
        pass
'''

AUDIT = '''
from onto_functions import Mediator, sink, source

from shop.models import Note


class AuditMediator(Mediator):
    source = source.document("audit/{entry_id}")
    sink = sink.firestore()

    @source.triggers.on_delete
    def record(self, change, store):
        pass
'''

MAIN = '''
from shop.orders import OrderMediator
from shop.stock import StockMediator
from shop.audit import AuditMediator

mediators = [OrderMediator, StockMediator, AuditMediator]
'''


def write_project(root: Path, *, pyproject: str = '[tool.onto]\napp = "shop.main"\n') -> Path:
    """A small project: three mediators in three modules sharing `shop/models.py`, plus things never bundled."""
    files = {
        "pyproject.toml": pyproject,
        "shop/__init__.py": "",
        "shop/models.py": MODELS,
        "shop/pricing.py": "ONE = 1\n",
        "shop/orders.py": ORDERS,
        "shop/stock.py": STOCK,
        "shop/audit.py": AUDIT,
        "shop/main.py": MAIN,
        "shop/unused.py": "X = 1\n",
        "tests/test_shop.py": "def test_x():\n    pass\n",
        "venv/lib/site.py": "",
        ".git/config": "[core]\n",
        "shop/__pycache__/models.cpython-311.pyc": "",
    }
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))
    return root


def build(root: Path) -> dict[str, Bundle]:
    return {b.spec.name: b for b in build_bundles("shop.main", root / "build" / "onto", project_root=root)}


def bundle_files(bundle: Bundle) -> set[str]:
    return {p.relative_to(bundle.path).as_posix() for p in bundle.path.rglob("*") if p.is_file()}


def user_files(bundle: Bundle) -> set[str]:
    return {f for f in bundle_files(bundle) if f.startswith("shop/")}


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return write_project(tmp_path / "proj")


def test_one_bundle_per_trigger_with_only_the_code_it_imports(project):
    bundles = build(project)
    assert sorted(bundles) == ["audit-record", "order-count", "stock-restock"]
    assert user_files(bundles["order-count"]) == {"shop/__init__.py", "shop/orders.py", "shop/models.py", "shop/pricing.py"}
    assert user_files(bundles["stock-restock"]) == {"shop/__init__.py", "shop/stock.py", "shop/models.py"}
    assert user_files(bundles["audit-record"]) == {"shop/__init__.py", "shop/audit.py", "shop/models.py"}


def test_bundle_has_main_requirements_manifest_and_vendored_runtime(project):
    bundle = build(project)["order-count"]
    files = bundle_files(bundle)
    assert {"main.py", "requirements.txt", "functions.yaml", "onto_functions/entrypoint.py", MARKER} <= files
    assert not any(f.startswith(("onto_functions/deploy/", "onto_functions/local/", "onto_functions/ops/",
                                 "onto_functions/testing/")) for f in files)
    main = (bundle.path / "main.py").read_text()
    assert "from shop.orders import OrderMediator" in main
    assert f'{bundle.entry_point} = functions_framework.http(' in main
    requirements = [l for l in (bundle.path / "requirements.txt").read_text().splitlines() if l and not l.startswith("#")]
    assert requirements and all("==" in line for line in requirements)
    assert any(line.startswith("functions-framework==") for line in requirements)
    assert not any(line.startswith(("google-cloud-firestore==", "grpcio")) for line in requirements)
    manifest = (bundle.path / "functions.yaml").read_text()
    for expected in ('specVersion: "v1alpha1"', '"order-count":', 'platform: "gcfv2"',
                     'eventType: "google.cloud.firestore.document.v1.created"', 'database: "(default)"',
                     'namespace: "(default)"', 'document: "orders/{order_id}"', "retry: true",
                     "availableMemoryMb: 256", "timeoutSeconds: 60", f'entryPoint: "{bundle.entry_point}"'):
        assert expected in manifest, expected
    assert "availableMemoryMb: 512" in (build(project)["stock-restock"].path / "functions.yaml").read_text()


def test_never_bundled_venv_git_tests_caches(project):
    for bundle in build(project).values():
        for name in bundle_files(bundle):
            assert excluded_reason(Path(name)) is None or name == MARKER, name
            assert not name.startswith(("venv/", ".git/", "tests/")) and "__pycache__" not in name


def test_bundle_runs_from_its_own_folder_with_the_vendored_runtime(project):
    bundle = build(project)["order-count"]
    script = (
        "import sys, functions_framework, onto_functions\n"
        f"app = functions_framework.create_app({bundle.entry_point!r}, 'main.py', 'http')\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('typer', 'rich')\n"
        "         or m.startswith(('onto_functions.deploy', 'onto_functions.local', 'onto_functions.testing'))]\n"
        "assert not heavy, heavy  # the cold-start path is the runtime alone\n"
        "print(onto_functions.__file__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    done = subprocess.run([sys.executable, "-c", script], cwd=bundle.path, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip().splitlines()[-1]).resolve().is_relative_to(bundle.path.resolve())


def test_rebuild_without_changes_keeps_hashes_and_files(project):
    first = build(project)
    def mtimes(bundles) -> dict:  # the files deployed; the marker is onto's own record and may be re-recorded
        return {p: p.stat().st_mtime_ns for b in bundles.values() for p in b.path.rglob("*")
                if p.is_file() and p.name != MARKER}

    before = mtimes(first)
    second = build(project)
    assert {n: b.content_hash for n, b in first.items()} == {n: b.content_hash for n, b in second.items()}
    assert before == mtimes(second)


@pytest.mark.parametrize("removed", ["main.py", "onto_functions/store.py", "shop/orders.py"])
def test_a_file_removed_from_an_unchanged_bundle_is_written_again(project, removed):
    """An unchanged bundle is confirmed by its folders' times: a removal in any folder is seen."""
    bundle = build(project)["order-count"]
    (bundle.path / removed).unlink()
    build(project)
    assert (bundle.path / removed).is_file()


def test_hash_changes_exactly_for_the_triggers_that_import_a_changed_file(project):
    before = {n: b.content_hash for n, b in build(project).items()}
    with (project / "shop" / "pricing.py").open("a") as f:
        f.write("# a one-line change\n")
    after_pricing = {n: b.content_hash for n, b in build(project).items()}
    assert {n for n in before if before[n] != after_pricing[n]} == {"order-count"}
    with (project / "shop" / "models.py").open("a") as f:
        f.write("# shared by every mediator\n")
    after_models = {n: b.content_hash for n, b in build(project).items()}
    assert {n for n in before if after_pricing[n] != after_models[n]} == {"order-count", "stock-restock", "audit-record"}
    (project / "shop" / "unused.py").write_text("X = 2\n")  # imported by nobody
    assert {n: b.content_hash for n, b in build(project).items()} == after_models


def test_hash_does_not_depend_on_where_the_project_is(project, tmp_path):
    here = {n: b.content_hash for n, b in build(project).items()}
    elsewhere = shutil.copytree(project, tmp_path / "moved" / "proj")
    shutil.rmtree(elsewhere / "build")
    assert {n: b.content_hash for n, b in build(elsewhere).items()} == here


def test_option_change_changes_the_hash(project):
    before = build(project)["stock-restock"].content_hash
    stock = project / "shop" / "stock.py"
    stock.write_text(stock.read_text().replace("memory_mb = 512", "memory_mb = 1024"))
    assert build(project)["stock-restock"].content_hash != before


def test_removed_trigger_bundle_is_removed_but_other_folders_stay(project):
    bundles = build(project)
    (bundles["audit-record"].path / "venv").mkdir()  # a local venv in a bundle is left alone while it lives
    (project / "build" / "onto" / "notes.txt").write_text("mine")
    main = project / "shop" / "main.py"
    main.write_text(main.read_text().replace(", AuditMediator]", "]").replace("from shop.audit import AuditMediator\n", ""))
    assert sorted(build(project)) == ["order-count", "stock-restock"]
    assert not (project / "build" / "onto" / "audit-record").exists()
    assert (project / "build" / "onto" / "notes.txt").read_text() == "mine"


def test_a_file_no_longer_needed_leaves_the_bundle(project):
    orders = project / "shop" / "orders.py"
    assert "shop/pricing.py" in user_files(build(project)["order-count"])
    orders.write_text(orders.read_text().replace("from . import pricing\n", "").replace("pricing.ONE", "1"))
    assert "shop/pricing.py" not in user_files(build(project)["order-count"])


def test_importing_test_code_is_refused_with_the_file_named(project):
    (project / "tests" / "helpers.py").write_text("Y = 1\n")
    orders = project / "shop" / "orders.py"
    orders.write_text("import tests.helpers\n" + orders.read_text())
    with pytest.raises(BundleError, match=r"imports tests/helpers\.py, but it is inside tests/"):
        build(project)


def test_entry_points_are_python_names():
    from onto_functions.spec import EventKind, TriggerSpec

    def entry(name: str) -> str:
        return TriggerSpec(name=name, kind=EventKind.WRITTEN, document="a/{b}", module="m",
                           mediator="M", handler="h").entry_point

    assert entry("order-count") == "order_count"
    assert entry("if") == "if_fn"


def test_runtime_files_are_the_runtime_only():
    names = set(runtime_files())
    assert "onto_functions/executor.py" in names and "onto_functions/__init__.py" in names
    assert not {n for n in names if n.split("/")[1] in ("deploy", "local", "ops", "testing")}


def test_marker_records_the_hash(project):
    bundle = build(project)["order-count"]
    marker = json.loads((bundle.path / MARKER).read_text())
    assert marker["content_hash"] == bundle.content_hash and "main.py" in marker["files"]


def test_repo_firebase_json_is_in_step_with_the_meeting_room_example():
    """The repository's firebase.json is `onto bundle examples.meeting_room.main`'s: rerun it when this fails."""
    from onto_functions.discovery import discover

    repo = Path(__file__).resolve().parents[1]
    firebase = json.loads((repo / "firebase.json").read_text())
    names = sorted(s.name for s in discover("examples.meeting_room.main"))
    ours = {f["codebase"]: f for f in firebase["functions"] if f["source"].startswith("build/onto/")}
    assert sorted(ours) == names
    assert all(ours[n]["source"] == f"build/onto/{n}" and "venv" in ours[n]["ignore"] for n in names)
    assert {"firestore", "functions"} <= set(firebase["emulators"])


def test_a_mediator_outside_the_project_root_is_refused(tmp_path):
    with pytest.raises(BundleError, match="emulator_tests.apps.counter, which is not a module inside the project root"):
        build_bundles("emulator_tests.apps.counter", tmp_path / "build", project_root=tmp_path)


def test_project_region_applies_only_where_the_mediator_set_none(project):
    (project / "pyproject.toml").write_text('[tool.onto]\napp = "shop.main"\nregion = "europe-west1"\n')
    stock = project / "shop" / "stock.py"  # says us-central1 itself: the default's value, set on purpose
    stock.write_text(stock.read_text().replace("memory_mb = 512", "memory_mb = 512\n        region = \"us-central1\""))
    orders = project / "shop" / "orders.py"  # the decorator's keyword, too
    orders.write_text(orders.read_text().replace("@source.triggers.on_create", '@source.triggers.on_create(region="us-central1")'))
    regions = {name: b.spec.options.region for name, b in build(project).items()}
    assert regions == {"audit-record": "europe-west1", "order-count": "us-central1", "stock-restock": "us-central1"}
    assert '- "us-central1"' in (project / "build" / "onto" / "stock-restock" / "functions.yaml").read_text()


def test_a_module_of_a_shared_namespace_pins_the_distribution_that_provides_it(project):
    """`google` is shared by many distributions: `from google.cloud import storage` needs google-cloud-storage."""
    from importlib import metadata

    (project / "shop" / "pricing.py").write_text(
        "from google.cloud import storage\nimport google.protobuf.json_format\nfrom google.cloud import firestore\n"
        "ONE = 1\n")
    bundles = build(project)
    lines = (bundles["order-count"].path / "requirements.txt").read_text().splitlines()
    assert f"google-cloud-storage=={metadata.version('google-cloud-storage')}" in lines
    assert f"protobuf=={metadata.version('protobuf')}" in lines
    assert len([line for line in lines if line.startswith("google-cloud-firestore==")]) == 1  # the runtime's pin
    assert "google-cloud-storage" not in (bundles["stock-restock"].path / "requirements.txt").read_text()


def test_include_everything_takes_no_venv_egg_info_coverage_or_earlier_build_and_keeps_its_hash(tmp_path):
    from onto_functions.deploy.pipeline import bundle_project
    from onto_functions.deploy.project import load_project

    root = write_project(tmp_path / "proj", pyproject='[tool.onto]\napp = "shop.main"\ninclude = ["**/*"]\n')
    never = {
        ".venv-3.11/pyvenv.cfg": "home = /usr/bin\n", ".venv-3.11/lib/python3.11/site-packages/six.py": "X = 1\n",
        "shop.egg-info/PKG-INFO": "Name: shop\n", ".coverage": "", "coverage.xml": "<coverage/>",
        "htmlcov/index.html": "<html/>", "bundles-before/order-count/.onto-bundle.json": "{}",
        "bundles-before/order-count/main.py": "", ".firebaserc": '{"projects": {}}',
    }
    for name, text in {**never, "settings/app.json": '{"greeting": "hi"}'}.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    first = bundle_project(load_project(root))  # writes firebase.json, which the next run must not take in
    second = bundle_project(load_project(root))
    assert [b.content_hash for b in second.bundles] == [b.content_hash for b in first.bundles]
    for bundle in second.bundles:
        bundled = bundle_files(bundle)
        assert "settings/app.json" in bundled  # what the include is for
        leaked = {f for f in bundled if f in never or f.split("/")[0] in {n.split("/")[0] for n in never}}
        assert not leaked and "firebase.json" not in bundled, leaked


def requirement_names(bundle: Bundle) -> set[str]:
    lines = (bundle.path / "requirements.txt").read_text().splitlines()
    return {line.split("==")[0].lower().replace("_", "-") for line in lines if line and not line.startswith("#")}


def test_firebase_admin_is_installed_by_request_functions_and_by_triggers_that_import_it(project):
    """Token checks need firebase-admin; a trigger that never imports it does not install it."""
    (project / "shop" / "api.py").write_text(textwrap.dedent('''
        from onto_functions import Mediator, source

        class ApiMediator(Mediator):
            source = source.callable(allow="anyone")

            @source.triggers.on_call
            def ping(self, request, store):
                return "pong"
    '''))
    (project / "shop" / "admin_audit.py").write_text(textwrap.dedent('''
        import firebase_admin  # noqa: F401  (user code of its own)
        from onto_functions import Mediator, source

        class AdminAuditMediator(Mediator):
            source = source.document("admin/{id}")

            @source.triggers.on_create
            def record(self, change, store):
                pass
    '''))
    main = project / "shop" / "main.py"
    main.write_text(main.read_text() + "from shop.api import ApiMediator\nfrom shop.admin_audit import AdminAuditMediator\n")
    bundles = build(project)
    assert "firebase-admin" in requirement_names(bundles["api-ping"])
    assert "firebase-admin" not in requirement_names(bundles["order-count"])
    assert "firebase-admin" in requirement_names(bundles["admin-audit-record"])
    # The runtime speaks Firestore's REST API: a trigger installs no client library (nor gRPC) either.
    assert "google-cloud-firestore" in requirement_names(bundles["api-ping"])
    assert "google-cloud-firestore" not in requirement_names(bundles["order-count"])
