"""scripts/ and tests/ do not import each other (checked on the source with ``ast``).

Code both need lives in the package (``pysavedmodel.testing``) or is handed over at
run time (scripts/run_tests.py passes the venvs' pythons in environment variables).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT_MODULES = {p.stem for p in (ROOT / "scripts").glob("*.py")} | {
    p.name for p in (ROOT / "scripts").iterdir() if (p / "__init__.py").exists()}


def _imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def _path_edits(path: Path) -> list[str]:
    """Source of every ``sys.path.insert/append(...)`` call in ``path``."""
    text = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(text)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in ("insert", "append")
                and ast.unparse(node.func.value) == "sys.path"):
            found.append(ast.unparse(node))
    return found


def test_scripts_do_not_import_tests() -> None:
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "scripts").rglob("*.py")
                 if "tests" in _imported(p)
                 or any("tests" in edit or edit.endswith("(0, str(ROOT))")
                        for edit in _path_edits(p))]
    assert offenders == []


def test_tests_do_not_import_scripts() -> None:
    assert "bench" in SCRIPT_MODULES and "venvs" in SCRIPT_MODULES
    offenders = []
    for path in (ROOT / "tests").rglob("*.py"):
        imported = _imported(path)
        if "scripts" in imported or imported & SCRIPT_MODULES:
            offenders.append(str(path.relative_to(ROOT)))
        if any("scripts" in edit for edit in _path_edits(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_the_checks_see_an_offender(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import sys\nsys.path.insert(0, 'scripts')\nfrom tests.support import tf\n")
    assert "tests" in _imported(bad)
    assert _path_edits(bad) == ["sys.path.insert(0, 'scripts')"]


def test_tests_find_a_venv_without_run_tests(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Run as ``.venv/bin/python -m pytest tests/x``, the tests use the cached venv."""
    from tests.support import venvs

    python = tmp_path / "tf" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    monkeypatch.delenv("PYSAVEDMODEL_TF_PYTHON", raising=False)
    monkeypatch.setenv("PYSAVEDMODEL_TF_VENV", str(tmp_path / "tf"))
    assert venvs.tf_python() == python
    monkeypatch.setenv("PYSAVEDMODEL_TF_PYTHON", "/elsewhere/python")
    assert venvs.tf_python() == Path("/elsewhere/python")
