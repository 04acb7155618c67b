"""pysavedmodel's speed against the hardware limit and against TensorFlow, in one run.

Usage (the defaults take about two minutes on an idle 2-core machine)::

    .venv/bin/python scripts/bench.py [--dir /dev/shm] [--size-mib 1024] [--tensors 64]
        [--tiny 100000] [--mlp-variables 1000] [--rounds 4] [--json] [--only GROUPS]

Groups (``--only write,read,tiny,mlp,import``; ``write`` and ``read`` run together, as
the reads read what was written):

* ``write``: ``--size-mib`` of float32 in ``--tensors`` tensors.  The limit is a plain
  sequential write of the same buffers (one thread; and one thread per core to
  separate files; and that per-core write checksumming each 1 MiB piece with CRC32C,
  the least a writer of checksummed files can do); contenders are
  ``write_checkpoint`` with 1 shard and with one shard per core, TensorFlow's
  ``SaveV2`` (when a TensorFlow venv is found), ``safetensors.numpy.save_file`` (when
  installed) and ``np.savez``; then
  ``write_checkpoint`` and ``save_file`` once more from page-aligned copies of the
  arrays (the kernel's copy is slower when the source lies a few bytes past the file
  offset modulo 4096, as numpy's arrays do at a data file's offset 0: see
  docs/design.md, "Where the time of a large write goes").
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
* ``bert`` (opt-in: ``--only bert``): a BERT-base-size safetensors file (199 tensors,
  ~440 MB) to a SavedModel by ``pysavedmodel build`` (durable, its default), as a command
  and in-process, against a plain write + fsync of the same bytes (benchlib/bert.py).
* opt-in scale runs, only when named in ``--only`` (scripts/benchlib/scale.py):
  ``huge`` (a ``--huge-gb`` checkpoint streamed from memory-mapped ``.npy`` loaders by
  ``--huge-workers`` processes, throughput and peak RSS per worker) and ``million``
  (``--million-tensors`` tiny tensors written and read back, per tensor against a
  tenth as many), both under ``--scale-dir``.
* opt-in, not run by default: ``onnx`` (``from_onnx`` of ResNet-50 and BERT-base-size
  models in fresh processes: time and peak RSS) and ``serve`` (the converted ResNet-50
  served by TensorFlow against native NHWC/NCHW and onnxruntime); see
  scripts/benchlib/onnx_bench.py.  ``--only onnx,serve --write-docs`` writes their
  tables into docs/onnx.md (and leaves docs/performance.md alone).

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
as markdown (default: docs/performance.md).  The workers and the reporting live in
scripts/benchlib/ (see its ``__init__`` for how to add a benchmark).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchlib import onnx_bench, scale
from benchlib.bert import (
    ONE_FILE_ROW,
    STARTUP_ROW,
    build_in_process,
    make_bert_inputs,
    plain_write,
)
from benchlib.common import (
    ALIGNED,
    GB,
    GROUPS,
    HERE,
    MB,
    OPT_IN_GROUPS,
    PLAIN_CRC_PREFIX,
    REPLY,
    ROOT,
    SRC,
    TINY_ELEMENTS,
    cores,
    default_tf_python,
)
from benchlib.report import (
    Row,
    bert_notes,
    combine,
    config,
    machine,
    render,
    render_markdown,
    targets,
)
from benchlib.workers import (
    Inputs,
    Worker,
    graph_ours,
    make_inputs,
    mlp_ours,
    rss_probe_main,
    worker_main,
)

# =========================================================================== driver


@dataclass
class Contender:
    label: str
    task: str
    worker: Worker
    limit: str | None = None       # label of the row its ratio is taken against
    rss: bool = False              # probe its peak RSS
    prewarmed: bool = False        # its first-call costs were paid already (no warm-up run)


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rows: list[Row] = []
        self.workdir = Path(tempfile.mkdtemp(prefix="pysavedmodel-bench-", dir=args.dir))
        self.workers: list[Worker] = []
        self.identical_to_tf: dict[str, bool] = {}
        self.digests: dict[tuple[str, str], str] = {}
        self.started = time.perf_counter()

    def env(self, kind: str) -> dict[str, str]:
        """Environment of a child process.  Bytecode is cached (under the work directory,
        not the source tree) even if PYTHONDONTWRITEBYTECODE is set here: installed
        packages have their .pyc files, and compiling on every import would dominate
        the import and MLP timings.  Warm-up runs fill the cache.  TensorFlow's venv
        keeps its own (installed) bytecode."""
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", CUDA_VISIBLE_DEVICES="")
        if kind == "core":
            env.update(PYTHONPATH=str(SRC), PYTHONPYCACHEPREFIX=str(self.workdir / "pycache"))
            env.pop("PYTHONDONTWRITEBYTECODE", None)
        else:
            env.pop("PYTHONPATH", None)
        return env

    def log(self, message: str) -> None:
        if not self.args.quiet:
            elapsed = time.perf_counter() - self.started
            print(f"[bench {elapsed:5.0f} s] {message}", file=sys.stderr, flush=True)

    def row(self, group: str, name: str) -> Row | None:
        for row in self.rows:
            if row.group == group and row.name == name:
                return row
        return None

    # -- timing rounds

    @staticmethod
    def digest(directory: Path) -> str:
        h = hashlib.sha256()
        for path in sorted(directory.iterdir()):
            h.update(path.name.encode())
            with open(path, "rb") as f:
                h.update(hashlib.file_digest(f, "sha256").digest()
                         if hasattr(hashlib, "file_digest") else
                         hashlib.sha256(f.read()).digest())
        return h.hexdigest()

    def _clear(self, prefix: Path) -> None:
        for path in prefix.parent.glob(prefix.name + "*"):
            if path.is_dir():
                shutil.rmtree(path)
            else:
                path.unlink()

    def run_group(self, group: str, case: str, inputs: Inputs, contenders: list[Contender],
                  src_of: dict[str, str]) -> None:
        """Warm up each contender once, then ``--rounds`` rounds in alternation.

        A contender whose timed runs add up to ``--max-seconds`` sits out the remaining
        rounds (TensorFlow on 100,000 tensors takes ~17 s per read).
        """
        rows = {c.label: Row(group, c.label, inputs.nbytes) for c in contenders}
        self.rows.extend(rows.values())
        for round_ in range(self.args.rounds + 1):  # round 0 is the warm-up
            self.log(f"{group}: {'warm-up' if round_ == 0 else f'round {round_}'}")
            for c in contenders:
                row = rows[c.label]
                if round_ == 0 and c.prewarmed:
                    continue
                if row.samples and sum(row.samples) >= self.args.max_seconds:
                    continue
                prefix = self.workdir / f"{case}-{c.task}" / "out"
                prefix.parent.mkdir(exist_ok=True)
                self._clear(prefix)
                result = c.worker.call(op="run", case=case, task=c.task, out=str(prefix),
                                       src=src_of.get(c.task, ""))
                if round_:
                    row.samples.append(result["seconds"])
                if c.task in ("write_ours_1", "write_tf"):  # compared once the group is done
                    self.digests.setdefault((case, c.task), self.digest(prefix.parent))
                self._clear(prefix)  # a tmpfs holds only the inputs and one output at a time
                if self.args.verbose:
                    self.log(f"  {c.label}: {result['seconds']:.3f} s")
        for c in contenders:
            row = rows[c.label]
            row.finish()
            if len(row.samples) < self.args.rounds:
                row.note = f"{len(row.samples)} timed run(s): slow"
            if c.limit is not None:
                limit = rows[c.limit]
                if limit.seconds and row.seconds:
                    row.ratio = limit.seconds / row.seconds
                    row.ratio_to = c.limit

    def probe_rss(self, group: str, case: str, inputs: Inputs, contenders: list[Contender]
                  ) -> None:
        """Peak RSS of each contender marked ``rss``, each in a fresh process, two at a time
        (memory, unlike time, does not depend on what else runs)."""
        from concurrent.futures import ThreadPoolExecutor

        inputs_json = self.workdir / f"inputs-{case}.json"
        inputs_json.write_text(json.dumps(asdict(inputs)))
        probed = [c for c in contenders if c.rss]
        probed.sort(key=lambda c: c.worker.kind != "tf")  # the slowest first

        def probe(index: int, c: Contender) -> float:
            python = self.args.tf_python if c.worker.kind == "tf" else sys.executable
            prefix = self.workdir / f"rss-{case}-{index}" / "out"
            prefix.parent.mkdir(exist_ok=True)
            proc = subprocess.run(
                [str(python), str(HERE), "--rss-probe", c.worker.kind, case, c.task,
                 str(inputs_json), str(prefix), ""],
                capture_output=True, text=True, env=self.env(c.worker.kind))
            shutil.rmtree(prefix.parent, ignore_errors=True)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"RSS probe {c.label} failed:\n{proc.stderr[-3000:]}")
            peak: float = json.loads(lines[-1][len(REPLY):])["peak_bytes"]
            return peak

        self.log(f"{group}: peak RSS of {len(probed)} contenders")
        with ThreadPoolExecutor(2) as pool:
            peaks = list(pool.map(probe, range(len(probed)), probed))
        for c, peak in zip(probed, peaks):
            row = self.row(group, c.label)
            assert row is not None
            row.peak_rss_mb = peak / MB

    # -- groups

    def io_groups(self, case: str, inputs: Inputs, core: Worker, tf: Worker | None
                  ) -> list[tuple[str, list[Contender]]]:
        """Time the writes, then the reads, of one case; return the write group for
        :meth:`probe_rss`.  TensorFlow must already hold the case (``load``)."""
        tiny = case == "tiny"
        write_group, read_group = ("tiny write", "tiny read") if tiny else ("write", "read")
        size = (f"{len(inputs.names)} float32[{TINY_ELEMENTS}] tensors" if tiny
                else f"{inputs.nbytes / GB:.2f} GB in {len(inputs.names)} tensors")
        self.log(f"{case}: loading {size} into the core worker")
        core.call(op="load", case=case, inputs=asdict(inputs))
        plain_1 = "plain write, 1 thread"
        plain_n = f"plain write, {cores()} threads/files"
        writers = [Contender(plain_1, "write_plain", core, rss=not tiny)]
        if not tiny:
            writers.append(Contender(plain_n, "write_plain_per_core", core, rss=True))
            # The least a writer of checksummed files can take: report.targets compares it.
            writers.append(Contender(f"{PLAIN_CRC_PREFIX}, {cores()} threads/files",
                                     "write_plain_crc_per_core", core, limit=plain_n))
        writers.append(Contender("write_checkpoint, 1 shard", "write_ours_1", core,
                                 limit=plain_1, rss=True))
        if not tiny:
            writers.append(Contender(f"write_checkpoint, {cores()} shards", "write_ours_n",
                                     core, limit=plain_n, rss=True))
            # fsync's cost: nothing on tmpfs; run with --dir on a disk to see it.
            writers.append(Contender("write_checkpoint, 1 shard, durable=True",
                                     "write_ours_1_durable", core, limit=plain_1))
        if tiny:  # shard bundles written untimed, then only the merge timed
            writers.append(Contender("merge_shards of 4 shard bundles (merge only)",
                                     "merge_ours_4", core))
        if tf is not None:
            # For 100,000 tensors TF's first call takes ~17 s: the worker made it on loading.
            writers.append(Contender("TF SaveV2", "write_tf", tf, limit=plain_1,
                                     rss=not tiny, prewarmed=tiny))
        if not tiny:
            if core.hello["safetensors"]:
                writers.append(Contender("safetensors save_file", "write_safetensors", core,
                                         limit=plain_1, rss=True))
            # The same two writers from page-aligned copies of the arrays (workers.py,
            # page_aligned): what the source's placement in memory costs each of them.
            writers.append(Contender(f"write_checkpoint, 1 shard, {ALIGNED}",
                                     "write_ours_1_aligned", core, limit=plain_1))
            if core.hello["safetensors"]:
                writers.append(Contender(f"safetensors save_file, {ALIGNED}",
                                         "write_safetensors_aligned", core, limit=plain_1))
            writers.append(Contender("np.savez", "write_npsavez", core, limit=plain_1,
                                     rss=True))
        write_label = f"{write_group} ({size})"
        self.run_group(write_label, case, inputs, writers, {})
        if tf is not None:
            same = self.digests[(case, "write_ours_1")] == self.digests[(case, "write_tf")]
            row = self.row(write_label, "TF SaveV2")
            assert row is not None
            row.note = ("files byte-identical to write_checkpoint's" if same
                        else "FILES DIFFER from write_checkpoint's")
            self.identical_to_tf[case] = same
        # What the reads read: the plain file and our 1-shard checkpoint, written once more.
        plain_prefix = self.workdir / f"{case}-source" / "plain"
        ours_prefix = self.workdir / f"{case}-source" / "ckpt"
        plain_prefix.parent.mkdir(exist_ok=True)
        core.call(op="run", case=case, task="write_plain", out=str(plain_prefix), src="")
        core.call(op="run", case=case, task="write_ours_1", out=str(ours_prefix), src="")
        sources = {"read_plain": str(plain_prefix), "read_plain_views": str(plain_prefix),
                   "read_ours_reader": str(ours_prefix),
                   "read_ours_read_checkpoint": str(ours_prefix), "read_tf": str(ours_prefix)}
        plain_read = "plain read into new arrays"
        readers = [
            Contender(plain_read, "read_plain", core),
            Contender("plain read once, cut into views", "read_plain_views", core),
            Contender("CheckpointReader.get_tensor (mmap, CRC)", "read_ours_reader", core,
                      limit=plain_read),
            Contender("read_checkpoint (copies, CRC)", "read_ours_read_checkpoint", core,
                      limit=plain_read),
        ]
        if tf is not None:
            # Warmed on the bandwidth case; on 100,000 tensors one read takes ~17 s.
            readers.append(Contender("TF load_checkpoint + get_tensor", "read_tf", tf,
                                     limit=plain_read, prewarmed=tiny))
        self.run_group(f"{read_group} ({size}, page cache)", case, inputs, readers, sources)
        core.call(op="unload", case=case)
        return [(write_label, writers)]

    def mlp_group(self, tf: Worker | None) -> None:
        args = self.args
        group = f"mlp ({args.mlp_variables} variables, width {args.mlp_width})"
        ours: list[dict[str, float]] = []
        tf1: list[dict[str, float]] = []
        env = self.env("core")
        for round_ in range(args.rounds + 1):
            self.log(f"mlp: pysavedmodel {'warm-up' if round_ == 0 else f'round {round_}'}")
            for fmt, runs in (("auto", ours), ("tf1", tf1)):  # interleaved, round by round
                export = self.workdir / f"mlp-ours-{fmt}-{round_}"
                proc = subprocess.run(
                    [sys.executable, str(HERE), "--mlp-ours", str(args.mlp_variables),
                     str(args.mlp_width), str(export), fmt],
                    capture_output=True, text=True, env=env)
                lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
                if proc.returncode != 0 or not lines:
                    raise SystemExit(f"mlp (ours, {fmt}) failed:\n{proc.stderr[-3000:]}")
                if round_:
                    runs.append(json.loads(lines[-1][len(REPLY):]))
                shutil.rmtree(export, ignore_errors=True)
        rows = {}
        for key, name in (("total", "pysavedmodel import+build+save (fresh process)"),
                          ("total_cpu", "pysavedmodel import+build+save, CPU time"),
                          ("import", "pysavedmodel import"),
                          ("build", "pysavedmodel build"),
                          ("save", "pysavedmodel save")):
            rows[key] = Row(group, name, samples=[r[key] for r in ours])
        rows["tf1_total"] = Row(group, "format='tf1': import+build+save (fresh process)",
                                samples=[r["total"] for r in tf1])
        if tf is not None:
            self.log(f"mlp: TensorFlow ({args.tf_mlp_rounds} round(s) after a small warm-up)")
            runs = tf.call(op="mlp_tf", variables=args.mlp_variables, width=args.mlp_width,
                           rounds=args.tf_mlp_rounds,
                           out=str(self.workdir / "mlp-tf"))["runs"]
            rows["tf_build"] = Row(group, "TF graph + variables",
                                   samples=[r["build"] for r in runs])
            rows["tf_save"] = Row(group, "TF SavedModelBuilder save",
                                  samples=[r["save"] for r in runs])
            rows["tf_total"] = Row(group, "TF build+save (import excluded)",
                                   samples=[r["build"] + r["save"] for r in runs])
        for row in rows.values():
            row.finish()
        if tf is not None:
            for key, ref in (("total", "tf_total"), ("build", "tf_build"), ("save", "tf_save")):
                ours_s, tf_s = rows[key].seconds, rows[ref].seconds
                if ours_s and tf_s:
                    rows[key].ratio = tf_s / ours_s
                    rows[key].ratio_to = rows[ref].name
        self.rows.extend(rows.values())

    def graph_group(self) -> None:
        """Graph.op and Graph.from_dict at each size of --graph-nodes, each size in a
        fresh process; the note gives microseconds per node (linear means it stays flat)."""
        env = self.env("core")
        for nodes in self.args.graph_nodes:
            group = f"graph ({nodes} nodes)"
            self.log(f"{group}: warm-up + {self.args.rounds} rounds in a fresh process")
            proc = subprocess.run(
                [sys.executable, str(HERE), "--graph-ours", str(nodes), str(self.args.rounds)],
                capture_output=True, text=True, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"graph ({nodes} nodes) failed:\n{proc.stderr[-3000:]}")
            samples = json.loads(lines[-1][len(REPLY):])
            for key, name in (("op", "Graph.op"), ("from_dict", "Graph.from_dict (GraphDef)")):
                row = Row(group, name, samples=samples[key])
                row.finish()
                assert row.seconds is not None
                row.note = f"{row.seconds / nodes * 1e6:.1f} us/node"
                self.rows.append(row)

    def bert_group(self) -> None:
        """A BERT-base-size safetensors file to a SavedModel with ``pysavedmodel build``
        (see benchlib/bert.py), against writing the same bytes; each contender in a fresh
        process per round, interleaved; every write durable (fsync), as the command's
        default."""
        args = self.args
        self.log(f"bert: writing the safetensors file and spec ({args.bert_layers} layers)")
        weights, spec, nbytes = make_bert_inputs(self.workdir, args.bert_layers)
        group = f"bert ({args.bert_layers} layers, {nbytes / MB:.0f} MB, durable)"
        env = self.env("core")
        names = {"plain": "plain write + fsync (arrays in memory)",
                 "cli": "pysavedmodel build (command, fresh process)",
                 "inproc": "build_from_spec (imports done)",
                 "inproc1": ONE_FILE_ROW,
                 "startup": STARTUP_ROW}
        samples: dict[str, list[float]] = {key: [] for key in names}
        keys = list(names)
        for round_ in range(args.rounds + 1):
            self.log(f"bert: {'warm-up' if round_ == 0 else f'round {round_}'}")
            # Each round starts with the next contender: none always runs first after the
            # previous round's outputs were deleted.
            for key in keys[round_ % len(keys):] + keys[:round_ % len(keys)]:
                out = self.workdir / f"bert-out-{key}"
                if key in ("cli", "startup"):
                    command = [sys.executable, "-m", "pysavedmodel", "build", str(spec),
                               "-o", str(out)] if key == "cli" else \
                        [sys.executable, "-c", "import numpy, pysavedmodel.cli, pysavedmodel.spec"]
                    start = time.perf_counter()
                    proc = subprocess.run(command, capture_output=True, text=True, env=env)
                    seconds = time.perf_counter() - start
                    if proc.returncode != 0:
                        raise SystemExit(f"bert (command) failed:\n{proc.stderr[-3000:]}")
                else:
                    mode = "--bert-plain" if key == "plain" else "--bert-ours"
                    source = weights if key == "plain" else spec
                    proc = subprocess.run([sys.executable, str(HERE), mode, str(source), str(out),
                                           *(["1"] if key == "inproc1" else [])],
                                          capture_output=True, text=True, env=env)
                    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
                    if proc.returncode != 0 or not lines:
                        raise SystemExit(f"bert ({key}) failed:\n{proc.stderr[-3000:]}")
                    seconds = float(json.loads(lines[-1][len(REPLY):])["seconds"])
                if round_:
                    samples[key].append(seconds)
                if out.is_dir():
                    shutil.rmtree(out)
                elif out.exists():
                    out.unlink()
        rows = {key: Row(group, name, 0 if key == "startup" else nbytes, samples=samples[key])
                for key, name in names.items()}
        for row in rows.values():
            row.finish()
        plain = rows["plain"]
        for key in ("cli", "inproc", "inproc1", "startup"):
            if plain.seconds and rows[key].seconds:
                rows[key].ratio = plain.seconds / rows[key].seconds  # type: ignore[operator]
                rows[key].ratio_to = plain.name
        bert_notes(list(rows.values()))
        self.rows.extend(rows.values())
        weights.unlink()

    def import_group(self) -> None:
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
        env = self.env("core")
        for round_ in range(self.args.import_rounds + 1):
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
        if self.args.tf_python is not None:
            # TensorFlow's import is slow and steady: --tf-import-rounds runs, no warm-up
            # (the workers loaded it minutes ago, so its files are in the page cache).
            tf_samples = []
            for _ in range(self.args.tf_import_rounds):
                script = ("import time\nstart = time.perf_counter()\nimport tensorflow\n"
                          "print(time.perf_counter() - start)\n")
                proc = subprocess.run([str(self.args.tf_python), "-c", script],
                                      capture_output=True, text=True, env=self.env("tf"))
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
        self.rows.extend(rows)

    # -- the run

    def run(self) -> dict[str, Any]:
        args = self.args
        only = set(args.only.split(","))
        try:
            core = Worker(sys.executable, "core", self.env("core"))
            self.workers.append(core)
            tf = None
            if args.tf_python is not None and only - {"import", "bert", *onnx_bench.GROUPS}:
                self.log(f"starting the TensorFlow worker ({args.tf_python})")
                # It imports TensorFlow while the inputs are generated.
                tf = Worker(str(args.tf_python), "tf", self.env("tf"))
                self.workers.append(tf)
            cases = [case for case in ("write", "tiny")
                     if case in only or (case == "write" and "read" in only)]
            inputs = {case: make_inputs(self.workdir, case, args.size_mib, args.tensors,
                                        args.tiny) for case in cases}
            if tf is not None and cases:
                self.log(f"{cases[0]}: loading into the TensorFlow worker")
                tf.call(op="load", case=cases[0], inputs=asdict(inputs[cases[0]]))
            for i, case in enumerate(cases):
                groups = self.io_groups(case, inputs[case], core, tf)
                following = cases[i + 1] if i + 1 < len(cases) else None
                if tf is not None:
                    tf.call(op="unload", case=case)
                    if following is not None:  # loads (and warms up) during the RSS probes
                        self.log(f"{following}: loading into the TensorFlow worker")
                        tf.send(op="load", case=following, inputs=asdict(inputs[following]),
                                warm=str(self.workdir / f"{following}-tf-warm"))
                if not args.no_rss:
                    for group, contenders in groups:
                        self.probe_rss(group, case, inputs[case], contenders)
                if tf is not None and following is not None:
                    tf.receive()
                os.unlink(inputs[case].path)
            if "mlp" in only:
                self.mlp_group(tf)
            if "graph" in only:
                self.graph_group()
            if "bert" in only:
                self.bert_group()
            for w in self.workers:
                w.close()
            self.workers.clear()
            if "onnx" in only:
                onnx_bench.convert_group(self)
            if "serve" in only:
                onnx_bench.serve_group(self)
            if "import" in only:
                self.import_group()
            if "million" in only:
                self.rows += scale.million(args.scale_dir, args.million_tensors, args.rounds,
                                           self.log)
            if "huge" in only:
                self.rows += scale.huge(args.scale_dir, args.huge_gb, args.huge_workers,
                                        self.log)
        finally:
            for w in self.workers:
                w.close()
            if not args.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return {"machine": machine(args.dir), "config": config(args),
                "elapsed_seconds": time.perf_counter() - self.started,
                "rows": [asdict(r) for r in self.rows],
                "targets": targets(self.rows) + onnx_bench.targets(
                    [asdict(r) for r in self.rows], getattr(self, "onnx_info", {})),
                "onnx": getattr(self, "onnx_info", {}),
                "identical_to_tf": self.identical_to_tf}



def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else
                        tempfile.gettempdir(),
                        help="where files are written (default: tmpfs /dev/shm)")
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="bytes of the bandwidth case, MiB (default 1024)")
    parser.add_argument("--tensors", type=int, default=64,
                        help="tensors of the bandwidth case (default 64)")
    parser.add_argument("--tiny", type=int, default=100_000,
                        help="tensors of the index-bound case (default 100000)")
    parser.add_argument("--mlp-variables", type=int, default=1000)
    parser.add_argument("--mlp-width", type=int, default=64)
    parser.add_argument("--graph-nodes", default="1000,10000,100000",
                        help="graph sizes of the graph group, comma-separated "
                             "(default 1000,10000,100000)")
    parser.add_argument("--rounds", type=int, default=4, help="timed rounds (default 4)")
    parser.add_argument("--max-seconds", type=float, default=8.0,
                        help="a contender whose timed runs reach this sits out later rounds")
    parser.add_argument("--import-rounds", type=int, default=5)
    parser.add_argument("--tf-import-rounds", type=int, default=1,
                        help="fresh `import tensorflow` runs (~3-5 s each; default 1)")
    parser.add_argument("--tf-mlp-rounds", type=int, default=1,
                        help="TensorFlow MLP rounds (slow: default 1)")
    parser.add_argument("--tf-python", type=Path, default=default_tf_python(),
                        help="python of a TensorFlow venv (default: the test venv, if present)")
    parser.add_argument("--no-tf", action="store_true", help="leave TensorFlow out")
    parser.add_argument("--no-rss", action="store_true", help="skip the peak-RSS probes")
    parser.add_argument("--only", default=",".join(g for g in GROUPS if g not in OPT_IN_GROUPS),
                        help=f"comma-separated groups among {','.join(GROUPS)} (default: "
                             f"all but {','.join(OPT_IN_GROUPS)}) and the opt-in "
                             f"{','.join(onnx_bench.GROUPS)}")
    parser.add_argument("--bert-layers", type=int, default=12,
                        help="encoder layers of the bert group (default 12: BERT-base)")
    parser.add_argument("--scale-dir", default=tempfile.gettempdir(),
                        help="where the scale runs write (a disk; default the temp dir)")
    parser.add_argument("--huge-gb", type=int, default=20,
                        help="size of the huge run's checkpoint, GB (default 20)")
    parser.add_argument("--huge-workers", type=int, default=2,
                        help="worker processes of the huge run (default 2)")
    parser.add_argument("--million-tensors", type=int, default=1_000_000,
                        help="tensors of the million run (and a tenth as many beside)")
    parser.add_argument("--onnx-small", action="store_true",
                        help="onnx and serve groups on toy-width models (the bench's own "
                             "test)")
    parser.add_argument("--onnx-docs", type=Path, default=onnx_bench.DOCS,
                        help="where --write-docs puts the onnx/serve tables (a marked "
                             "section; default docs/onnx.md)")
    parser.add_argument("--serve-threads", type=int, default=2,
                        help="intra-op threads of TensorFlow and onnxruntime in the serve "
                             "group (default 2)")
    parser.add_argument("--serve-iterations", default="4,1",
                        help="inferences per timed round at batch 1 and batch 32 "
                             "(default 4,1)")
    parser.add_argument("--serve-rounds", type=int, default=8,
                        help="timed rounds of the serve group (default 8)")
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
    args = parser.parse_args(argv)
    opt_in = tuple(onnx_bench.GROUPS) + tuple(OPT_IN_GROUPS)
    unknown = set(args.only.split(",")) - set(GROUPS) - set(opt_in)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from "
                     f"{', '.join(dict.fromkeys(GROUPS + opt_in))}")
    try:
        args.serve_iterations = [int(n) for n in args.serve_iterations.split(",")]
    except ValueError:
        parser.error(f"--serve-iterations takes two integers, got {args.serve_iterations!r}")
    if len(args.serve_iterations) != 2 or min(args.serve_iterations) < 1 \
            or args.serve_threads < 1 or args.serve_rounds < 1:
        parser.error("--serve-iterations takes two counts >= 1; --serve-threads and "
                     "--serve-rounds >= 1")
    if args.no_tf:
        args.tf_python = None
    try:
        args.graph_nodes = [int(n) for n in args.graph_nodes.split(",")]
    except ValueError:
        parser.error(f"--graph-nodes takes comma-separated integers, got {args.graph_nodes!r}")
    if min(args.graph_nodes) < 3:
        parser.error("--graph-nodes sizes must be >= 3 (a placeholder, a constant, an op)")
    if min(args.size_mib, args.tensors, args.tiny, args.mlp_variables, args.mlp_width,
           args.rounds, args.import_rounds, args.tf_mlp_rounds, args.tf_import_rounds,
           args.repeat) < 1:
        parser.error("sizes and round counts must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1])
    if argv[:1] == ["--rss-probe"]:
        return rss_probe_main(*argv[1:7])
    if argv[:1] == ["--graph-ours"]:
        print(REPLY + json.dumps(graph_ours(int(argv[1]), int(argv[2]))))
        return 0
    if argv[:1] == ["--bert-plain"]:
        print(REPLY + json.dumps({"seconds": plain_write(argv[1], argv[2])}))
        return 0
    if argv[:1] == ["--bert-ours"]:
        shards = int(argv[3]) if len(argv) > 3 else None
        print(REPLY + json.dumps({"seconds": build_in_process(argv[1], argv[2],
                                                              shards)["build"]}))
        return 0
    if argv[:1] == ["--mlp-ours"]:
        print(REPLY + json.dumps(mlp_ours(int(argv[1]), int(argv[2]), argv[3], *argv[4:5])))
        return 0
    args = parse_args(argv)
    results = [Bench(args).run() for _ in range(args.repeat)]
    result = results[0] if len(results) == 1 else combine(results)
    if len(results) > 1:
        result["targets"] += onnx_bench.targets(result["rows"], result.get("onnx"))
    table = render(result)
    if args.write_docs:
        date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        if any(onnx_bench.is_onnx_row(row) for row in result["rows"]):
            onnx_bench.write_docs(result, date, args.onnx_docs)
        rest = [row for row in result["rows"] if not onnx_bench.is_onnx_row(row)]
        if rest:
            core = dict(result, rows=rest, targets=[
                t for t in result["targets"] if not t["target"].startswith(
                    onnx_bench.TARGET_PREFIXES)])
            Path(args.write_docs).write_text(render_markdown(core, date), encoding="utf-8")
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=1))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
