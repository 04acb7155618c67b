"""Run the real entry points as subprocesses: ``python -m pysavedmodel`` and the script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

CONSOLE_SCRIPT = Path(sys.executable).with_name("pysavedmodel")
"""The console script pip installed next to the test interpreter (.venv/bin/pysavedmodel)."""


def run(*args: str, script: bool = False, env: dict[str, str] | None = None,
        timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """``pysavedmodel ARGS`` via ``-m`` (default) or the installed console script."""
    command = [str(CONSOLE_SCRIPT)] if script else [sys.executable, "-m", "pysavedmodel"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout,
                          env=None if env is None else {**os.environ, **env})


def run_ok(*args: str) -> str:
    """stdout of a run that must succeed with nothing on stderr."""
    out = run(*args)
    assert out.returncode == 0, out.stderr
    assert out.stderr == "", out.stderr
    return out.stdout


def run_json(*args: str) -> Any:
    return json.loads(run_ok(*args, "--json"))
