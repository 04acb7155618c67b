"""Run the main job on a fresh machine: set up the venv, then ``pysavedmodel demo``.

    python3 scripts/demo.py [OUT_DIR]     (default: a new temporary directory)

Then inspects what it wrote with ``pysavedmodel checkpoint`` and ``pysavedmodel show --all``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import venvs  # scripts/venvs.py, beside this file


def main() -> int:
    if len(sys.argv) > 1:
        out = Path(sys.argv[1])
    else:
        out = Path(tempfile.mkdtemp(prefix="pysavedmodel-demo-"))
    python = venvs.core_python()
    demo = subprocess.run([str(python), "-m", "pysavedmodel", "demo", str(out)])
    if demo.returncode != 0:
        return demo.returncode
    for args in (["checkpoint", str(out / "checkpoint" / "ckpt")],
                 ["show", str(out / "mlp" / "1"), "--all"],
                 ["validate", str(out / "mlp" / "1")]):
        print("\n$ pysavedmodel", " ".join(args), flush=True)
        status = subprocess.run([str(python), "-m", "pysavedmodel", *args]).returncode
        if status != 0:
            return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
