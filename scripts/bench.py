"""pysavedmodel's speed against the hardware limit and against TensorFlow, in one run.

Usage (the defaults take about two minutes on an idle 2-core machine)::

    .venv/bin/python scripts/bench.py [--dir /dev/shm] [--size-mib 1024] [--tensors 64]
        [--tiny 100000] [--mlp-variables 1000] [--rounds 4] [--json] [--only GROUPS]

Groups (``--only write,read,tiny,mlp,import``; ``write`` and ``read`` run together, as
the reads read what was written):

* ``write``: ``--size-mib`` of float32 in ``--tensors`` tensors.  The limit is a plain
  sequential write of the same buffers (one thread; and one thread per core to
  separate files); contenders are ``write_checkpoint`` with 1 shard and with one
  shard per core, TensorFlow's ``SaveV2`` (when a TensorFlow venv is found),
  ``safetensors.numpy.save_file`` (when installed) and ``np.savez``.
* ``read``: the files just written, from the page cache: a plain read into new
  arrays, ``CheckpointReader.get_tensor`` (memory-mapped, CRC verified),
  ``read_checkpoint`` (independent arrays) and ``tf.train.load_checkpoint``.
* ``tiny``: the same writes and reads for ``--tiny`` float32[4] tensors (index-bound).
* ``mlp``: a SavedModel of an MLP with ``--mlp-variables`` variables (kernels and
  biases of ``--mlp-width`` units): ours in a fresh interpreter, import included;
  TensorFlow's graph building and ``SavedModelBuilder`` separately (import excluded).
* ``import``: ``import pysavedmodel`` (bare, and with the public API resolved, with
  and without numpy already imported) vs ``import tensorflow`` (``--tf-import-rounds``
  runs), each in a fresh interpreter.

Method: the input bytes are generated once into ``--dir`` and loaded by every
worker, so all contenders handle the same bytes.  Contenders live in long-running
worker processes (this file in ``--worker`` mode; TensorFlow's in its own venv's
python), are warmed up once, then run alternately round by round; outputs are
deleted (untimed) before each run and the median is reported.  A contender whose
timed runs reach ``--max-seconds`` sits out later rounds (TensorFlow reading 100,000
tensors: ~17 s a run; the row says so); TensorFlow's first SaveV2 of 100,000 tensors
(~17 s, its warm-up) runs while the worker loads them.  Peak RSS of each
write contender is measured once more in a fresh process (two such processes at a
time): VmHWM after the write minus VmRSS before it (the input arrays), with the
high-water mark reset first.
Writes to disk swing by up to 5x with kernel writeback, so the default ``--dir``
is tmpfs (``/dev/shm``), where what remains above the plain write is the library's
own overhead; pass a disk directory for secondary figures.

``--json`` prints one JSON document (machine, config, rows, targets) on stdout and
the table on stderr.  Every figure is the median of the timed rounds, reported with
their min and max.  ``--repeat N`` runs the whole benchmark N times and pools the
rounds; ``--write-docs [PATH]`` also writes the tables, with date, machine and command,
as markdown (default: docs/performance.md).

This file is the orchestration: flags, repeats, rendering.  The families of benchmarks
(one module each), the worker processes, the round-by-round driver and the reporting
live in scripts/benchlib/; its ``__init__`` registers the families and says how to add one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from benchlib import FAMILIES
from benchlib.common import ROOT, default_tf_python
from benchlib.driver import Bench
from benchlib.report import combine, render, render_markdown
from benchlib.workers import worker_main

GROUPS = tuple(group for family in FAMILIES for group in family.groups)


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else
                        tempfile.gettempdir(),
                        help="where files are written (default: tmpfs /dev/shm)")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds (default 4)")
    parser.add_argument("--max-seconds", type=float, default=8.0,
                        help="a contender whose timed runs reach this sits out later rounds")
    parser.add_argument("--tf-python", type=Path, default=default_tf_python(),
                        help="python of a TensorFlow venv (default: the test venv, if present)")
    parser.add_argument("--no-tf", action="store_true", help="leave TensorFlow out")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS probes")
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups among {','.join(GROUPS)}")
    parser.add_argument("--json", action="store_true",
                        help="print JSON on stdout (the table goes to stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run everything N times and pool the rounds (steadier medians)")
    parser.add_argument("--write-docs", nargs="?", const=str(ROOT / "docs" / "performance.md"),
                        default=None, metavar="PATH",
                        help="also write the tables as markdown (docs/performance.md)")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every timed run")
    for family in FAMILIES:
        if family.add_arguments is not None:
            family.add_arguments(parser)
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    if args.no_tf:
        args.tf_python = None
    if any(type(value) is int and value < 1 for value in vars(args).values()):
        parser.error("sizes and round counts must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1], {name: op for family in FAMILIES
                                     for name, op in family.worker_ops.items()})
    for family in FAMILIES:
        if argv[:1] and argv[0] in family.entry_points:
            return family.entry_points[argv[0]](list(argv[1:]))
    args = parse_args(argv)
    results = [Bench(args).run(FAMILIES) for _ in range(args.repeat)]
    result = results[0] if len(results) == 1 else combine(results)
    table = render(result)
    if args.write_docs:
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        Path(args.write_docs).write_text(render_markdown(result, date), encoding="utf-8")
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=1))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
