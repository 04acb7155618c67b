"""Constants and helpers shared by the benchmark driver (scripts/bench.py) and its
worker processes."""

from __future__ import annotations

import os
from pathlib import Path

HERE = Path(__file__).resolve().parents[1] / "bench.py"
"""The driver script; workers are this script run with ``--worker`` / ``--rss-probe``."""
ROOT = HERE.parents[1]
SRC = ROOT / "src"
REPLY = "@@bench "
GROUPS = ("write", "read", "tiny", "mlp", "graph", "import", "bert")
OPT_IN_GROUPS = ("bert", "huge", "million")
"""Groups left out unless ``--only`` names them: ``bert`` (large inputs) and the scale runs
``huge`` / ``million`` (scripts/benchlib/scale.py)."""
TINY_ELEMENTS = 4
ALIGNED = "page-aligned arrays"
"""Suffix of the write rows whose sources are page-aligned copies (workers.page_aligned)."""
PLAIN_CRC_PREFIX = "plain write + CRC32C"
"""Start of the write row that checksums as it writes (workers.write_plain_crc_per_core)."""
MB = 1e6
GB = 1e9


def default_tf_python() -> Path | None:
    venv = os.environ.get("PYSAVEDMODEL_TF_VENV",
                          str(Path.home() / ".cache" / "pysavedmodel" / "tf-2.21"))
    python = Path(venv) / "bin" / "python"
    return python if python.exists() else None


def cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
