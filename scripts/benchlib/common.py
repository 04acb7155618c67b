"""Constants and helpers shared by the benchmark driver (scripts/bench.py) and its
worker processes."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: driver and workers import this module
    from .driver import Bench
    from .workers import Worker

HERE = Path(__file__).resolve().parents[1] / "bench.py"
"""The driver script; workers are this script run with ``--worker`` / ``--rss-probe``."""
ROOT = HERE.parents[1]
SRC = ROOT / "src"
REPLY = "@@bench "
TINY_ELEMENTS = 4
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


WorkerOp = Callable[[str, dict[str, Any], dict[str, Any]], dict[str, Any]]
"""A command a worker process serves: ``handler(kind, command, state) -> reply``."""

Task = Callable[[dict[str, Any], str, str], None]
"""A timed contender: ``task(arrays, out, src)`` (see benchlib/io.py)."""


@dataclass(frozen=True)
class Family:
    """One benchmark family: what ``--only`` names it answers to and how it runs.

    ``run(bench, only, core, tf)`` adds its rows to ``bench.rows`` (``core`` and ``tf`` are
    the worker processes, ``tf`` None without TensorFlow; both None when ``uses_workers``
    is False: such a family runs after the workers have exited, on a quieter machine).
    """

    name: str
    groups: tuple[str, ...]
    run: Callable[[Bench, set[str], Worker | None, Worker | None], None]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None
    worker_ops: Mapping[str, WorkerOp] = field(default_factory=dict)
    """Commands its worker processes serve (benchlib/workers.py)."""
    entry_points: Mapping[str, Callable[[list[str]], int]] = field(default_factory=dict)
    """``scripts/bench.py --FLAG ARGS...`` modes for the fresh processes it starts."""
    uses_workers: bool = True
    uses_tf: bool = False
    """Its ``run`` wants the TensorFlow worker (started only if some selected family does)."""
