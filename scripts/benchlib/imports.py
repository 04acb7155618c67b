"""Benchmark family ``import``: ``import pysavedmodel`` (bare, and with the public API
resolved, with and without numpy already imported) against ``import tensorflow``
(``--tf-import-rounds`` runs), each in a fresh interpreter.  It runs after the worker
processes have exited (``uses_workers=False``).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import TYPE_CHECKING

from .common import Family
from .report import Row

if TYPE_CHECKING:
    from .driver import Bench
    from .workers import Worker


def run(bench: Bench, only: set[str], core: Worker | None, tf: Worker | None) -> None:
    """Each snippet in a fresh interpreter, ``--import-rounds`` rounds after a warm-up."""
    group = "import (fresh interpreter)"
    snippets = {
        "import pysavedmodel": "import pysavedmodel",
        "import pysavedmodel + public API": (
            "import pysavedmodel\nfrom pysavedmodel import (Graph, SavedModelBuilder, "
            "write_checkpoint, read_checkpoint, predict_signature_def)"),
        "import numpy (part of the above)": "import numpy",
    }
    preloaded = "import pysavedmodel + public API, numpy already imported"
    snippets[preloaded] = snippets["import pysavedmodel + public API"]
    samples: dict[str, list[float]] = {name: [] for name in snippets}
    env = bench.env("core")
    for round_ in range(bench.args.import_rounds + 1):
        for name, code in snippets.items():
            script = ("import time\n" + ("import numpy\n" if name == preloaded else "") +
                      "start = time.perf_counter()\n" + code +
                      "\nprint(time.perf_counter() - start)\n")
            proc = subprocess.run([sys.executable, "-c", script], capture_output=True,
                                  text=True, env=env)
            if proc.returncode != 0:
                raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
            if round_:
                samples[name].append(float(proc.stdout.split()[-1]))
    rows = [Row(group, name, samples=values) for name, values in samples.items()]
    tf_row = None
    if bench.args.tf_python is not None:
        # TensorFlow's import is slow and steady: --tf-import-rounds runs, no warm-up
        # (the workers loaded it minutes ago, so its files are in the page cache).
        tf_samples = []
        for _ in range(bench.args.tf_import_rounds):
            script = ("import time\nstart = time.perf_counter()\nimport tensorflow\n"
                      "print(time.perf_counter() - start)\n")
            proc = subprocess.run([str(bench.args.tf_python), "-c", script],
                                  capture_output=True, text=True, env=bench.env("tf"))
            if proc.returncode != 0:
                raise SystemExit(f"import tensorflow failed:\n{proc.stderr[-3000:]}")
            tf_samples.append(float(proc.stdout.split()[-1]))
        tf_row = Row(group, "import tensorflow", samples=tf_samples)
        rows.append(tf_row)
    for row in rows:
        row.finish()
    if tf_row is not None and tf_row.seconds:
        for row in rows[:-1]:
            if row.seconds:
                row.ratio = tf_row.seconds / row.seconds
                row.ratio_to = tf_row.name
    bench.rows.extend(rows)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import-rounds", type=int, default=5)
    parser.add_argument("--tf-import-rounds", type=int, default=1,
                        help="fresh `import tensorflow` runs (~3-5 s each; default 1)")


FAMILY = Family("import", ("import",), run, add_arguments, uses_workers=False)
