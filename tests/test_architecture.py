"""The import rules of docs/architecture.md, checked on the source with ``ast``.

* no import cycle between modules of ``src/pysavedmodel`` — imports inside functions
  count too, so a run-time import cannot hide a cycle;
* no ``from X import _private`` across modules of the package;
* imports run down the layers: ``_proto`` and the leaf modules → ``format`` → ``graph``
  → ``builder`` → ``savedmodel`` → ``weights`` → importers (``onnx``) → ``cli``;
* ``import pysavedmodel`` and resolving the main entry points import neither
  ml_dtypes nor TensorFlow, torch or onnx.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "pysavedmodel"

LEAVES = {"_proto", "errors", "aliases", "names", "fileio", "remote", "dtypes", "constants",
          "gcpause"}
"""Modules below every layer: they import nothing of the package but each other."""
LAYERS = [{"format"}, {"graph"}, {"builder"}, {"savedmodel"}, {"weights"},
          {"onnx", "spec", "demo", "testing"}, {"cli"}]
"""Bottom-up; a module may import its own layer and the ones below.  The importers
(ONNX, the JSON build spec, the demo) share a layer and do not import each other."""
TOP = {"", "__main__"}
"""The package façade and ``python -m pysavedmodel``: above everything."""


def _modules() -> dict[str, tuple[Path, bool]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        found[".".join(parts)] = (path, is_package)
    return found


MODULES = _modules()


def _imports(module: str) -> list[tuple[str, str, int]]:
    """``(target module, imported name or "", line)`` for every import in ``module``."""
    path, is_package = MODULES[module]
    package = module if is_package else module.rpartition(".")[0]
    found: list[tuple[str, str, int]] = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.extend((alias.name, "", node.lineno) for alias in node.names
                         if alias.name.startswith("pysavedmodel"))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "pysavedmodel":
                continue
            for alias in node.names:
                full = f"{target}.{alias.name}"
                if full in MODULES:  # "from package import module"
                    found.append((full, "", node.lineno))
                else:
                    found.append((target, alias.name, node.lineno))
    return found


def _edges() -> dict[str, set[str]]:
    edges: dict[str, set[str]] = {module: set() for module in MODULES}
    for module in MODULES:
        for target, _, _ in _imports(module):
            if target in MODULES and target != module:
                edges[module].add(target)
    return edges


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _layer(module: str) -> int:
    parts = module.split(".")[1:]
    first = parts[0] if parts else ""
    if first in LEAVES:
        return 0
    for rank, layer in enumerate(LAYERS, 1):
        if first in layer:
            return rank
    assert first in TOP, f"{module}: not placed in a layer; add it to tests/test_architecture.py"
    return len(LAYERS) + 1


def test_there_are_modules_to_check() -> None:
    assert "pysavedmodel.graph.graph" in MODULES and "pysavedmodel.format.bundle" in MODULES
    assert sum(len(_imports(m)) for m in MODULES) > 100


def test_no_import_cycles() -> None:
    assert _cycles(_edges()) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(edges) == [["a", "b", "c"]]


def test_no_private_names_imported_across_modules() -> None:
    offenders = [f"{MODULES[module][0].relative_to(SRC)}:{line} imports {name} from {target}"
                 for module in MODULES for target, name, line in _imports(module)
                 if name.startswith("_") and target != module]
    assert offenders == []


def test_imports_run_down_the_layers() -> None:
    offenders = [f"{module} (layer {_layer(module)}) imports {target} (layer {_layer(target)})"
                 for module, targets in _edges().items() for target in targets
                 if _layer(target) > _layer(module)]
    assert offenders == []


def test_importers_do_not_import_each_other() -> None:
    importers = LAYERS[-2]
    for module, targets in _edges().items():
        here = module.split(".")[1] if "." in module else ""
        if here in importers:
            others = [t for t in targets if t.split(".")[1] in importers - {here}]
            assert others == [], (module, others)


def test_leaf_modules_import_only_leaves() -> None:
    for module, targets in _edges().items():
        if _layer(module) == 0:
            assert all(_layer(t) == 0 for t in targets), (module, targets)


def _python(code: str) -> str:
    """What ``code`` prints, run in a fresh interpreter (nothing imported yet)."""
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout


@pytest.mark.parametrize("heavy", ["ml_dtypes", "tensorflow", "torch", "onnx"])
def test_the_main_entry_points_import_no_heavy_dependency(heavy: str) -> None:
    code = (
        "import sys, pysavedmodel as p\n"
        "p.Graph, p.SavedModelBuilder, p.write_checkpoint, p.read_checkpoint\n"
        f"print({heavy!r} in sys.modules)\n"
    )
    assert _python(code).strip() == "False"


def test_the_builder_imports_the_serving_warmup_protos_only_when_used() -> None:
    code = (
        "import sys, pysavedmodel as p\n"
        "p.Graph, p.SavedModelBuilder, p.predict_signature_def\n"
        "names = ['pysavedmodel.builder.warmup', 'pysavedmodel._proto.prediction_log_pb2']\n"
        "print([n in sys.modules for n in names])\n"
        "from pysavedmodel.builder import warmup\n"
        "print([n in sys.modules for n in names])\n"
    )
    assert _python(code).split("\n")[:2] == ["[False, False]", "[True, True]"]


def test_the_public_api_defines_only_its_public_dataclasses() -> None:
    """Each ``@dataclass`` costs ~0.5 ms at import (docs/design.md, lazy imports): the
    modules the public API and the ``build`` command load define records as NamedTuples
    or plain classes."""
    code = (
        "import dataclasses, sys, pysavedmodel as p\n"
        "p.Graph, p.SavedModelBuilder, p.predict_signature_def, p.write_checkpoint\n"
        "import pysavedmodel.cli, pysavedmodel.spec, pysavedmodel.weights  # build\n"
        "found = sorted(f'{m.__name__}.{k}' for m in list(sys.modules.values())\n"
        "               if m.__name__.startswith('pysavedmodel')\n"
        "               for k, v in vars(m).items() if isinstance(v, type)\n"
        "               and v.__module__ == m.__name__ and dataclasses.is_dataclass(v))\n"
        "print(' '.join(found))\n"
    )
    assert _python(code).split() == ["pysavedmodel.dtypes.DType",
                                  "pysavedmodel.graph.graph.AssetSpec",
                                  "pysavedmodel.graph.graph.VariableSpec"]


def test_ml_dtypes_is_imported_when_a_low_precision_type_is_used() -> None:
    code = (
        "import sys\n"
        "from pysavedmodel import dtypes\n"
        "before = 'ml_dtypes' in sys.modules\n"
        "row = dtypes.by_name('bfloat16')\n"
        "numpy, itemsize = row.numpy, row.itemsize\n"
        "print(before, 'ml_dtypes' in sys.modules, numpy, itemsize)\n"
    )
    assert _python(code).split() == ["False", "True", "bfloat16", "2"]
