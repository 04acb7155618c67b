"""Static checks: mypy (strict, configured in pyproject.toml) and ruff stay clean.

Both run as subprocesses from the repository root with their caches in the
system temp directory, so no ``.mypy_cache``/``.ruff_cache`` lands in the repo.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE_ROOT = Path(tempfile.gettempdir()) / "pysavedmodel-static-cache"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=600)


def _report(proc: subprocess.CompletedProcess[str]) -> str:
    return f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"


def test_mypy_strict_is_clean() -> None:
    proc = _run("mypy", "--cache-dir", str(CACHE_ROOT / "mypy"), "src/pysavedmodel")
    assert proc.returncode == 0, _report(proc)
    assert "Success" in proc.stdout, _report(proc)


def test_ruff_is_clean() -> None:
    proc = _run("ruff", "check", "--cache-dir", str(CACHE_ROOT / "ruff"), "--no-fix",
                "src", "scripts", "tests")
    assert proc.returncode == 0, _report(proc)
