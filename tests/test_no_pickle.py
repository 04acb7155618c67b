"""No pickle anywhere in the library: an AST check over every module of src/pysavedmodel.

Refused: calling into pickle (``pickle.load``/``loads``/``Unpickler``..., only its
exception classes may be named, to report a refused file), modules built on it
(cPickle, _pickle, dill, cloudpickle, joblib, shelve, marshal), any
``allow_pickle=True``, and ``torch.load`` unless called with ``weights_only=True``
(PyTorch's restricted unpickler).  The checker is tested on snippets that break each rule.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "pysavedmodel"
PICKLE_MODULES = {"pickle", "cPickle", "_pickle"}
BANNED_MODULES = {"dill", "cloudpickle", "joblib", "shelve", "marshal"}
ALLOWED_PICKLE_NAMES = {"UnpicklingError", "PicklingError", "PickleError"}


def _is_true(node: ast.expr) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def pickle_findings(source: str, filename: str = "<src>") -> list[str]:
    """Every pickle use in ``source`` the rules refuse, as "file:line: what"."""
    tree = ast.parse(source, filename)
    found: list[str] = []
    pickle_aliases: set[str] = set()
    torch_load_calls: set[int] = set()

    def report(node: ast.AST, what: str) -> None:
        found.append(f"{filename}:{getattr(node, 'lineno', 0)}: {what}")

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root = alias.name.split(".")[0]
                if root in BANNED_MODULES:
                    report(node, f"imports {alias.name}")
                elif root in PICKLE_MODULES:
                    pickle_aliases.add(alias.asname or root)
        elif isinstance(node, ast.ImportFrom):
            root = (node.module or "").split(".")[0]
            if root in BANNED_MODULES:
                report(node, f"imports from {node.module}")
            elif root in PICKLE_MODULES:
                for alias in node.names:
                    if alias.name not in ALLOWED_PICKLE_NAMES:
                        report(node, f"imports {alias.name} from {node.module}")
        elif isinstance(node, ast.Call):
            for keyword in node.keywords:
                if keyword.arg == "allow_pickle" and not (
                        isinstance(keyword.value, ast.Constant) and keyword.value.value is False):
                    report(node, "allow_pickle not False")
            func = node.func
            if (isinstance(func, ast.Attribute) and func.attr == "load"
                    and isinstance(func.value, ast.Name) and func.value.id == "torch"):
                torch_load_calls.add(id(func))
                if not any(k.arg == "weights_only" and _is_true(k.value) for k in node.keywords):
                    report(node, "torch.load without weights_only=True")
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            if node.value.id in pickle_aliases and node.attr not in ALLOWED_PICKLE_NAMES:
                report(node, f"uses {node.value.id}.{node.attr}")
            if (node.value.id == "torch" and node.attr == "load"
                    and id(node) not in torch_load_calls):
                report(node, "torch.load referenced without a weights_only=True call")
    return found


def test_src_has_no_pickle() -> None:
    modules = sorted(SRC.rglob("*.py"))
    assert len(modules) > 20
    findings = [f for path in modules
                for f in pickle_findings(path.read_text(encoding="utf-8"), str(path))]
    assert findings == []


@pytest.mark.parametrize(("source", "what"), [
    ("import pickle\npickle.loads(b'')", "uses pickle.loads"),
    ("import pickle as p\np.Unpickler(f).load()", "uses p.Unpickler"),
    ("from pickle import loads", "imports loads from pickle"),
    ("import _pickle\n_pickle.load(f)", "uses _pickle.load"),
    ("import dill", "imports dill"),
    ("from joblib import load", "imports from joblib"),
    ("import marshal", "imports marshal"),
    ("import numpy as np\nnp.load(f, allow_pickle=True)", "allow_pickle not False"),
    ("np.load(f, allow_pickle=flag)", "allow_pickle not False"),
    ("import torch\ntorch.load(f)", "torch.load without weights_only=True"),
    ("torch.load(f, weights_only=False)", "torch.load without weights_only=True"),
    ("load = torch.load", "torch.load referenced without"),
])
def test_checker_catches(source: str, what: str) -> None:
    findings = pickle_findings(source)
    assert findings and what in findings[0], findings


@pytest.mark.parametrize("source", [
    "import pickle\ntry:\n    pass\nexcept pickle.UnpicklingError:\n    pass",
    "torch.load(f, map_location='cpu', weights_only=True)",
    "np.load(f)\nnp.load(f, allow_pickle=False)",
    "from pickle import UnpicklingError",
])
def test_checker_allows(source: str) -> None:
    assert pickle_findings(source) == []
