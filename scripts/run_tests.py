"""Run every test: set up what they need, then run pytest once.

    python3 scripts/run_tests.py [pytest args...]

Creates (and caches) the core virtualenv ``.venv`` with the project and its
test extras, and the TensorFlow 2.21 virtualenv the interop tests drive as a
subprocess; then runs the whole suite in the core venv, which has no
TensorFlow.  Standard library only.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support import venvs  # noqa: E402


def main() -> int:
    core = venvs.core_python()
    env = dict(os.environ)
    env["PYSAVEDMODEL_TF_PYTHON"] = str(venvs.tf_python())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [str(core), "-m", "pytest", "-p", "no:cacheprovider", *sys.argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
