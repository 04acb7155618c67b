"""Run Python code under real TensorFlow 2.21, in its own venv, as a subprocess.

The core test process never imports TensorFlow.  Interop tests hand a script
(source text) to :func:`run_tf`; the script prints one JSON document on its
last stdout line, which :func:`run_tf` returns.  ``src/`` is on the
subprocess's ``PYTHONPATH`` so scripts can import pysavedmodel beside TF.
"""

from __future__ import annotations

import json
import os
import subprocess
import textwrap
from pathlib import Path
from typing import Any

from . import venvs

SRC = venvs.ROOT / "src"
SHARED = venvs.ROOT.parent / "shared"
FIXTURES = SHARED / "fixtures" / "tf-2.21"


def tf_python() -> Path:
    """The TF venv's python (set up by scripts/run_tests.py)."""
    return venvs.tf_python()


def run_tf(script: str, *args: str | os.PathLike[str], timeout: float = 600,
           pythonpath: bool = True) -> Any:
    """Run ``script`` under TensorFlow; return the JSON it printed last.

    Fails (AssertionError with TF's stderr) when the script exits non-zero.
    """
    env = dict(os.environ)
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = ""
    if pythonpath:
        env["PYTHONPATH"] = str(SRC)
    else:
        env.pop("PYTHONPATH", None)
    proc = subprocess.run(
        [str(tf_python()), "-c", textwrap.dedent(script), *map(str, args)],
        capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        raise AssertionError(
            f"TensorFlow subprocess failed ({proc.returncode}):\n"
            f"--- stdout\n{proc.stdout[-5000:]}\n--- stderr\n{proc.stderr[-10000:]}")
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    if not lines:
        raise AssertionError(
            f"TensorFlow subprocess printed nothing; stderr:\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1])
