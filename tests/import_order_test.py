"""The import graph of the production code, checked from source (ast; nothing is imported).

Rules:
  1. Component packages (`components/<pkg>`) are layered (LAYERS, bottom first). A package
     imports its own modules and packages of lower layers only; packages of one layer are
     peers that do not import each other. The graph stays acyclic by construction, and a
     contract (events, names) never learns about the code built on it.
  2. Production code imports no test code: not `components.testing`, `tests`, `benchmarks`,
     a `conftest` or any `*_test` module (test support may hold fakes, loose credentials or
     heavy dependencies a service image does not ship).
  3. `components/` imports neither `services/` nor `pipelines/`: those are the entry points
     built on the components.

Production code: every `*.py` under components/, services/, pipelines/ and feature_repo/,
except `*_test.py`, `conftest.py` and components/testing/ (test support: rule 1 still applies
to it, at the top layer). A violation names the file, the line and the rule it breaks.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_ROOTS = ("components", "services", "pipelines", "feature_repo")

# Bottom first. Move a package up (or a function down) rather than import across a layer.
LAYERS: tuple[tuple[str, ...], ...] = (
    # Contracts: event schema and codec; shared names (aliases, Redis keys). Also the text
    # helpers that splice generated blocks into documents, and reco.js as a resource (they
    # import nothing).
    ("docs", "events", "names", "webclient"),
    # Settings, read by nearly everything.
    ("config",),
    # Leaf libraries: each needs at most the settings and the contracts (online: reco's codec
    # and reader of Feast's online rows; content: article text to vectors).
    (
        "alerts",
        "content",
        "datasets",
        "edge",
        "evaluation",
        "exploration",
        "health",
        "logs",
        "online",
        "validation",
    ),
    # The learned ranker's numpy parts (point-in-time features, intraday signals, candidate
    # sources, tree scoring) and its training; built on the article vectors and the evaluator.
    ("ranking",),
    # Recommendation models behind one interface (the ranker kind scores with `ranking`).
    ("models",),
    # Kafka clients.
    ("streaming",),
    # Built on Kafka: the lake (bronze/silver), intake, feedback state, local runtime, simulator.
    ("feedback", "intake", "lake", "runtime", "simulator"),
    # Built on the lake, the models and the runtime: features, registry, orchestration, the
    # bulk importer (bronze, silver, the catalogue).
    ("features", "importer", "orchestration", "registry"),
    # Drift monitoring (reads features, registry; starts retrains); erasure (tombstones in the
    # lake, the reader's Redis and Feast online rows, the lake rewritten without them).
    ("erasure", "monitoring"),
    # The two applications of it all: online serving and training; and the operator console's
    # readings (the registry, the stream's readout, the services' metrics, the lake).
    ("console", "serving", "training"),
    # Test support: real services on loopback, built worlds. Never imported by production code.
    ("testing",),
)
TEST_SUPPORT = "testing"
TEST_ONLY_ROOTS = ("components.testing", "tests", "benchmarks", "conftest")
ENTRY_POINT_ROOTS = ("services", "pipelines")

RULE_TEST_CODE = "production code must not import test code (components.testing, tests, benchmarks, *_test)"
RULE_ENTRY_POINTS = "components/ must not import services/ or pipelines/ (the entry points built on them)"


@dataclass(frozen=True)
class Violation:
    path: str
    line: int
    module: str
    rule: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: imports {self.module}: {self.rule}"


def layer_of(layers: Sequence[Sequence[str]] = LAYERS) -> dict[str, int]:
    return {package: i for i, layer in enumerate(layers) for package in layer}


def _module_parts(path: str) -> list[str]:
    parts = path.removesuffix(".py").split("/")
    return parts[:-1] if parts[-1] == "__init__" else parts


def imported_modules(path: str, source: str) -> Iterator[tuple[int, str]]:
    """(line, absolute module) of every import in `source`, wherever it sits (functions,
    TYPE_CHECKING blocks), relative ones resolved against `path`; `from a import b` yields
    `a.b` (b may be a module); `importlib.import_module("<literal>")` counts as an import."""
    package = _module_parts(path) if path.endswith("__init__.py") else _module_parts(path)[:-1]
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            for alias in node.names:
                found.append((node.lineno, module if alias.name == "*" else f"{module}.{alias.name}"))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute | ast.Name)
            and (node.func.attr if isinstance(node.func, ast.Attribute) else node.func.id)
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    # ast.walk is breadth-first: report in source order.
    yield from sorted(found, key=lambda item: item[0])


def _within(module: str, roots: Sequence[str]) -> bool:
    return any(module == root or module.startswith(root + ".") for root in roots)


def _component_package(path_or_module: str, sep: str) -> str | None:
    parts = path_or_module.split(sep)
    if len(parts) < 2 or parts[0] != "components" or parts[1] in ("__init__.py", "BUILD"):
        return None
    return parts[1]


def is_test_file(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.endswith("_test.py") or name == "conftest.py"


def check_module(path: str, source: str, layers: Sequence[Sequence[str]] = LAYERS) -> list[Violation]:
    """The rules `path` (relative to the repository root, with /) breaks."""
    rank = layer_of(layers)
    importer = _component_package(path, "/")
    in_test_support = importer == TEST_SUPPORT
    violations = []
    for line, module in imported_modules(path, source):
        leaf = module.rsplit(".", 1)[-1]
        test_only = _within(module, TEST_ONLY_ROOTS) or leaf.endswith("_test")
        if test_only and not (in_test_support and _within(module, ("components.testing",))):
            violations.append(Violation(path, line, module, RULE_TEST_CODE))
        if path.startswith("components/") and _within(module, ENTRY_POINT_ROOTS):
            violations.append(Violation(path, line, module, RULE_ENTRY_POINTS))
        imported = _component_package(module, ".")
        if importer is None or imported is None or imported == importer:
            continue
        if importer not in rank or imported not in rank:
            missing = importer if importer not in rank else imported
            rule = f"package {missing!r} is not in LAYERS (tests/import_order_test.py): give it a layer"
            violations.append(Violation(path, line, module, rule))
        elif rank[imported] >= rank[importer]:
            where = "the same layer" if rank[imported] == rank[importer] else f"layer {rank[imported]}"
            rule = (
                f"{importer} (layer {rank[importer]}) may import only lower layers of LAYERS, and "
                f"{imported} is in {where}: move the code it needs down, or {importer} up"
            )
            violations.append(Violation(path, line, module, rule))
    return violations


def production_files(root: Path = ROOT) -> list[str]:
    """Relative paths of the modules the rules apply to (components/testing included: rule 1)."""
    found = []
    for top in SOURCE_ROOTS:
        for file in sorted((root / top).rglob("*.py")):
            relative = file.relative_to(root).as_posix()
            if not is_test_file(relative):
                found.append(relative)
    return found


# --- the repository ---------------------------------------------------------------------


def test_every_source_root_is_present() -> None:
    # Under Pants the sandbox holds only what tests/BUILD depends on (the `python-files`
    # targets): an empty root would make every other check here pass vacuously.
    files = production_files()
    for top in SOURCE_ROOTS:
        present = any(f.startswith(top + "/") for f in files)
        assert present, f"no {top}/*.py under {ROOT}: tests/BUILD must depend on {top}:python-files"


def test_layers_name_each_component_package_once() -> None:
    listed = [package for layer in LAYERS for package in layer]
    assert len(listed) == len(set(listed)), f"a package is in LAYERS twice: {sorted(listed)}"
    on_disk = {p.parent.name for p in (ROOT / "components").glob("*/*.py")}  # serving has no __init__
    unlisted, gone = sorted(on_disk - set(listed)), sorted(set(listed) - on_disk)
    assert not unlisted, f"component packages with no layer (add them to LAYERS): {unlisted}"
    assert not gone, f"LAYERS names packages that do not exist: {gone}"


def test_production_imports_follow_the_rules() -> None:
    violations = [
        str(v) for path in production_files() for v in check_module(path, (ROOT / path).read_text())
    ]
    assert not violations, "import rules broken:\n" + "\n".join(violations)


# --- the checker itself ---------------------------------------------------------------------


def test_a_lower_layer_importing_a_higher_one_is_named() -> None:
    source = "import json\n\n\ndef late():\n    from components.serving.service import RecommendService\n"
    [violation] = check_module("components/events/codec.py", source)
    assert (violation.path, violation.line, violation.module) == (
        "components/events/codec.py",
        5,
        "components.serving.service.RecommendService",
    )
    assert "events (layer 0) may import only lower layers" in violation.rule and "serving" in str(violation)
    assert str(violation).startswith("components/events/codec.py:5: imports components.serving.service")


def test_peers_of_one_layer_may_not_import_each_other() -> None:
    [violation] = check_module("components/names/x.py", "from components.events import Event\n")
    assert "the same layer" in violation.rule


def test_test_code_in_production_is_named_in_every_spelling() -> None:
    source = (
        "from components.testing.s3 import MotoS3\n"  # 1
        "import tests.fuzz_hooks\n"  # 2
        "from components.lake import silver_test\n"  # 3
        "from ..testing import lake\n"  # 4: relative, resolved against the file
        "import importlib\n"  # 5
        "importlib.import_module('components.testing.fixtures')\n"  # 6
        "from benchmarks.serving import main\n"  # 7
    )
    violations = check_module("components/orchestration/render.py", source)
    assert [(v.line, v.rule) for v in violations if v.rule == RULE_TEST_CODE] == [
        (1, RULE_TEST_CODE),
        (2, RULE_TEST_CODE),
        (3, RULE_TEST_CODE),
        (4, RULE_TEST_CODE),
        (6, RULE_TEST_CODE),
        (7, RULE_TEST_CODE),
    ]
    # The relative import resolved to the package it names (also above orchestration's layer).
    relative = [v for v in violations if v.line == 4]
    assert {v.module for v in relative} == {"components.testing.lake"}
    assert any("layer" in v.rule for v in relative)
    # Services and flows are production code too.
    [violation] = check_module("services/recommender/app.py", "from components.testing import services\n")
    assert violation.rule == RULE_TEST_CODE


def test_components_may_not_import_the_entry_points() -> None:
    source = "from services.recommender.app import build_app\nimport pipelines.cli\n"
    violations = check_module("components/serving/service.py", source)
    assert [(v.line, v.rule) for v in violations] == [(1, RULE_ENTRY_POINTS), (2, RULE_ENTRY_POINTS)]


def test_an_unlisted_package_is_named() -> None:
    [violation] = check_module("components/newpkg/a.py", "from components.names import CHAMPION\n")
    assert "'newpkg' is not in LAYERS" in violation.rule


@pytest.mark.parametrize(
    ("path", "source"),
    [
        ("components/serving/service.py", "from components.names import CHAMPION\nfrom . import routing\n"),
        ("components/serving/service.py", "from components.registry.rollout import read_rollout\n"),
        ("components/testing/fixtures.py", "from components.testing.services import mlflow_store\n"),
        ("components/testing/fixtures.py", "from components.training.pipeline import train_and_register\n"),
        ("services/recommender/app.py", "from components.serving.service import RecommendService\n"),
        ("pipelines/daily/flow.py", "import services.recommender.app\nfrom pipelines.cli import utc_time\n"),
        ("components/lake/__init__.py", "from .layout import SILVER\nfrom components.config import Settings"),
    ],
)
def test_allowed_imports_pass(path: str, source: str) -> None:
    assert check_module(path, source) == []
