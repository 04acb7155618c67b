"""Run every test: set up what they need, then run pytest once.

    python3 scripts/run_tests.py [pytest args...]

Creates (and caches) the core virtualenv ``.venv`` with the project and its
test extras, and the venvs some tests drive as subprocesses (TensorFlow 2.21,
torch, the ends of the protobuf range: scripts/venvs.py), hands their pythons to
pytest as ``PYSAVEDMODEL_<NAME>_PYTHON``, then runs the whole suite in the core
venv, which has no TensorFlow.  Standard library only.
"""

from __future__ import annotations

import os
import subprocess
import sys

import venvs  # scripts/venvs.py, beside this file

ROOT = venvs.ROOT


def main() -> int:
    core = venvs.core_python()
    env = dict(os.environ)
    env.update(venvs.environment())
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    cmd = [str(core), "-m", "pytest", "-p", "no:cacheprovider", *sys.argv[1:]]
    return subprocess.run(cmd, cwd=ROOT, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
