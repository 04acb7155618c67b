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
the table on stderr.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve()
ROOT = HERE.parents[1]
SRC = ROOT / "src"
REPLY = "@@bench "
GROUPS = ("write", "read", "tiny", "mlp", "import")
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


# =========================================================================== inputs


@dataclass
class Inputs:
    """Tensors of one case, stored back to back as raw float32 in ``path``."""

    path: str
    names: list[str]
    shapes: list[list[int]]

    @property
    def nbytes(self) -> int:
        total = 0
        for shape in self.shapes:
            count = 1
            for dim in shape:
                count *= dim
            total += count * 4
        return total


def make_inputs(directory: Path, case: str, size_mib: int, tensors: int, tiny: int) -> Inputs:
    import numpy as np

    rng = np.random.default_rng(0)
    path = directory / f"input-{case}.bin"
    names: list[str] = []
    shapes: list[list[int]] = []
    with open(path, "wb") as out:
        if case == "write":
            elements = max(1, (size_mib << 20) // 4 // tensors)
            cols = 1024 if elements % 1024 == 0 else 1
            for i in range(tensors):
                names.append(f"model/layer_{i:03d}/kernel")
                shapes.append([elements // cols, cols] if cols > 1 else [elements])
                out.write(rng.random(elements, dtype=np.float32).tobytes())
        else:
            data = rng.random(tiny * TINY_ELEMENTS, dtype=np.float32)
            out.write(data.tobytes())
            for i in range(tiny):
                names.append(f"model/block_{i // 100:04d}/unit_{i % 100:02d}/w")
                shapes.append([TINY_ELEMENTS])
    return Inputs(str(path), names, shapes)


def load_arrays(inputs: Inputs) -> dict[str, Any]:
    """One separate (C-contiguous, touched) array per tensor, read from the input file."""
    import numpy as np

    arrays = {}
    with open(inputs.path, "rb", buffering=0) as f:
        for name, shape in zip(inputs.names, inputs.shapes):
            array = np.empty(shape, dtype=np.float32)
            view = array.data.cast("B")
            got = 0
            while got < len(view):
                n = f.readinto(view[got:])
                if not n:
                    raise SystemExit(f"{inputs.path}: truncated")
                got += n
            arrays[name] = array
    return arrays


# =========================================================================== contenders
# Each takes (arrays, out, src) where ``out`` is a path prefix to write under and ``src``
# a prefix written earlier (for reads).  They run inside worker processes.


def write_plain(arrays: dict[str, Any], out: str, src: str) -> None:
    with open(out + ".bin", "wb") as f:
        for array in arrays.values():
            f.write(array.data.cast("B"))


def write_plain_per_core(arrays: dict[str, Any], out: str, src: str) -> None:
    n = cores()
    values = list(arrays.values())

    def one(i: int) -> None:
        with open(f"{out}.{i}.bin", "wb") as f:
            for array in values[i::n]:
                f.write(array.data.cast("B"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def write_ours_1(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays)


def write_ours_n(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays, num_shards=cores())


def write_safetensors(arrays: dict[str, Any], out: str, src: str) -> None:
    from safetensors.numpy import save_file

    save_file(arrays, out + ".safetensors")


def write_npsavez(arrays: dict[str, Any], out: str, src: str) -> None:
    import numpy as np

    np.savez(out + ".npz", **arrays)


def read_plain(arrays: dict[str, Any], out: str, src: str) -> None:
    import numpy as np

    with open(src + ".bin", "rb", buffering=0) as f:
        for value in arrays.values():
            array = np.empty(value.shape, value.dtype)
            f.readinto(array.data.cast("B"))


def read_ours_reader(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import CheckpointReader

    with CheckpointReader(src) as reader:
        for name in reader.keys():
            reader.get_tensor(name)


def read_ours_read_checkpoint(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import read_checkpoint

    read_checkpoint(src)


class TFSide:
    """TensorFlow's contenders; the inputs become EagerTensors (untimed) when loaded."""

    def __init__(self, arrays: dict[str, Any]) -> None:
        import tensorflow as tf  # type: ignore[import-untyped,unused-ignore]

        self.tf = tf
        self.names = tf.constant(list(arrays))
        self.slices = tf.constant([""] * len(arrays))
        self.values = [tf.constant(a) for a in arrays.values()]

    def task(self, name: str) -> Callable[[dict[str, Any], str, str], None]:
        return self.write if name == "write_tf" else self.read

    def write(self, arrays: dict[str, Any], out: str, src: str) -> None:
        self.tf.raw_ops.SaveV2(prefix=out, tensor_names=self.names,
                               shape_and_slices=self.slices, tensors=self.values)

    def read(self, arrays: dict[str, Any], out: str, src: str) -> None:
        reader = self.tf.train.load_checkpoint(src)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)


CORE_TASKS: dict[str, Callable[[dict[str, Any], str, str], None]] = {
    "write_plain": write_plain,
    "write_plain_per_core": write_plain_per_core,
    "write_ours_1": write_ours_1,
    "write_ours_n": write_ours_n,
    "write_safetensors": write_safetensors,
    "write_npsavez": write_npsavez,
    "read_plain": read_plain,
    "read_ours_reader": read_ours_reader,
    "read_ours_read_checkpoint": read_ours_read_checkpoint,
}
TF_TASKS = ("write_tf", "read_tf")


def has_module(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


# =========================================================================== MLP


def mlp_weights(variables: int, width: int) -> list[tuple[Any, Any]]:
    import numpy as np

    rng = np.random.default_rng(0)
    return [(rng.standard_normal((width, width), dtype=np.float32),
             rng.standard_normal(width, dtype=np.float32)) for _ in range(max(1, variables // 2))]


def mlp_ours(variables: int, width: int, export_dir: str) -> dict[str, float]:
    """In a fresh interpreter: import pysavedmodel, build the graph, save (the weights,
    numpy arrays, exist before the clock starts)."""
    weights = mlp_weights(variables, width)
    start = time.perf_counter()
    from pysavedmodel import Graph, SavedModelBuilder, predict_signature_def

    imported = time.perf_counter()
    graph = Graph()
    x = graph.placeholder("x", "float32", [None, width])
    h = x
    for i, (kernel, bias) in enumerate(weights):
        w = graph.variable(f"dense_{i}/kernel", kernel)
        b = graph.variable(f"dense_{i}/bias", bias)
        h = graph.op("BiasAdd", [graph.op("MatMul", [h, w]), b])
        if i < len(weights) - 1:
            h = graph.op("Relu", [h])
    builder = SavedModelBuilder(export_dir)
    builder.add_meta_graph_and_variables(
        graph, ["serve"],
        signature_def_map={"serving_default": predict_signature_def({"x": x}, {"y": h})})
    built = time.perf_counter()
    builder.save()
    saved = time.perf_counter()
    return {"import": imported - start, "build": built - imported, "save": saved - built,
            "total": saved - start}


def mlp_tf(tf: Any, weights: list[tuple[Any, Any]], width: int, export_dir: str
           ) -> dict[str, float]:
    """TF1-style graph with resource variables initialized from the same values; the
    SavedModel written by ``tf.compat.v1.saved_model.Builder``."""
    v1 = tf.compat.v1
    start = time.perf_counter()
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, width], name="x")
        h = x
        for i, (kernel, bias) in enumerate(weights):
            w = v1.get_variable(f"dense_{i}/kernel", initializer=kernel, use_resource=True)
            b = v1.get_variable(f"dense_{i}/bias", initializer=bias, use_resource=True)
            h = tf.nn.bias_add(tf.matmul(h, w), b)
            if i < len(weights) - 1:
                h = tf.nn.relu(h)
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
        signature = v1.saved_model.predict_signature_def({"x": x}, {"y": h})
        built = time.perf_counter()
        builder = v1.saved_model.Builder(export_dir)
        builder.add_meta_graph_and_variables(
            session, ["serve"], signature_def_map={"serving_default": signature})
        builder.save()
        saved = time.perf_counter()
    session.close()
    return {"build": built - start, "save": saved - built}


# =========================================================================== workers


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(REPLY + json.dumps(message) + "\n")
    sys.stdout.flush()


def worker_main(kind: str) -> int:
    """Serve commands (JSON lines on stdin) until "exit"; replies are REPLY-prefixed lines."""
    import_seconds = None
    if kind == "tf":
        start = time.perf_counter()
        import tensorflow  # noqa: F401

        import_seconds = time.perf_counter() - start
    reply({"ready": True, "import_seconds": import_seconds,
           "safetensors": has_module("safetensors")})
    arrays: dict[str, dict[str, Any]] = {}
    tf_sides: dict[str, TFSide] = {}
    for line in sys.stdin:
        command = json.loads(line)
        try:
            op = command["op"]
            if op == "exit":
                return 0
            if op == "load":
                inputs = Inputs(**command["inputs"])
                arrays[command["case"]] = load_arrays(inputs)
                if kind == "tf":
                    side = tf_sides[command["case"]] = TFSide(arrays[command["case"]])
                    if command.get("warm"):  # the first call with new list lengths is slow
                        side.write(arrays[command["case"]], command["warm"], "")
                reply({"ok": True})
            elif op == "unload":
                arrays.pop(command["case"], None)
                tf_sides.pop(command["case"], None)
                reply({"ok": True})
            elif op == "run":
                case, task = command["case"], command["task"]
                action = (tf_sides[case].task(task) if kind == "tf" else CORE_TASKS[task])
                start = time.perf_counter()
                action(arrays[case], command["out"], command["src"])
                reply({"seconds": time.perf_counter() - start})
            elif op == "mlp_tf":
                import tensorflow as tf

                width = command["width"]
                mlp_tf(tf, mlp_weights(4, width), width, command["out"] + "-warmup")
                weights = mlp_weights(command["variables"], width)
                results = []
                for i in range(command["rounds"]):
                    results.append(mlp_tf(tf, weights, width, f"{command['out']}-{i}"))
                reply({"runs": results})
            else:
                raise ValueError(f"unknown op {op!r}")
        except Exception:
            reply({"error": traceback.format_exc()})
    return 0


class Worker:
    """A worker subprocess and its command channel."""

    def __init__(self, python: str, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [python, str(HERE), "--worker", kind], stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL if kind == "tf" else None,
            text=True, env=env)
        self._hello: dict[str, Any] | None = None

    @property
    def hello(self) -> dict[str, Any]:
        """The worker's first message (waits for it: TensorFlow takes seconds to import)."""
        if self._hello is None:
            self._hello = self.receive()
        return self._hello

    def receive(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            if line.startswith(REPLY):
                message: dict[str, Any] = json.loads(line[len(REPLY):])
                if "error" in message:
                    raise SystemExit(f"{self.kind} worker failed:\n{message['error']}")
                return message
        raise SystemExit(f"{self.kind} worker exited (status {self.proc.wait()})")

    def send(self, **command: Any) -> None:
        assert self.proc.stdin is not None
        self.hello  # noqa: B018  (the first message must be read before any reply)
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()

    def call(self, **command: Any) -> dict[str, Any]:
        self.send(**command)
        return self.receive()

    def close(self) -> None:
        try:
            self.send(op="exit")
        except (BrokenPipeError, SystemExit):
            pass
        self.proc.wait()


# =========================================================================== peak RSS


def _status_kib(field_name: str) -> int | None:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def rss_probe_main(kind: str, case: str, task: str, inputs_json: str, out: str,
                   src: str) -> int:
    """Fresh process: load the inputs, reset the RSS high-water mark, run ``task`` once,
    print the peak RSS above what the inputs occupied (bytes)."""
    inputs = Inputs(**json.loads(Path(inputs_json).read_text()))
    arrays = load_arrays(inputs)
    if kind == "tf":
        action = TFSide(arrays).task(task)
    else:
        action = CORE_TASKS[task]
        if task.startswith("write_ours"):
            import pysavedmodel.format.bundle  # noqa: F401  (code, not data)
    try:  # "5" resets VmHWM to the current RSS (Linux >= 4.0)
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass
    before = _status_kib("VmRSS")
    if before is None:  # not Linux: ru_maxrss (never reset) is the best we have
        import resource

        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        action(arrays, out, src)
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    else:
        action(arrays, out, src)
        after = _status_kib("VmHWM") or before
    print(REPLY + json.dumps({"peak_bytes": max(0, after - before) * 1024}))
    return 0


# =========================================================================== driver


@dataclass
class Row:
    group: str
    name: str
    nbytes: int | None = None
    samples: list[float] = field(default_factory=list)
    seconds: float | None = None
    gbps: float | None = None
    ratio: float | None = None
    ratio_to: str | None = None
    peak_rss_mb: float | None = None
    note: str = ""

    def finish(self) -> None:
        if self.samples:
            self.seconds = statistics.median(self.samples)
            if self.nbytes and self.seconds > 0:
                self.gbps = self.nbytes / self.seconds / GB


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
        writers.append(Contender("write_checkpoint, 1 shard", "write_ours_1", core,
                                 limit=plain_1, rss=True))
        if not tiny:
            writers.append(Contender(f"write_checkpoint, {cores()} shards", "write_ours_n",
                                     core, limit=plain_n, rss=True))
        if tf is not None:
            # For 100,000 tensors TF's first call takes ~17 s: the worker made it on loading.
            writers.append(Contender("TF SaveV2", "write_tf", tf, limit=plain_1,
                                     rss=not tiny, prewarmed=tiny))
        if not tiny:
            if core.hello["safetensors"]:
                writers.append(Contender("safetensors save_file", "write_safetensors", core,
                                         limit=plain_1, rss=True))
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
        sources = {"read_plain": str(plain_prefix), "read_ours_reader": str(ours_prefix),
                   "read_ours_read_checkpoint": str(ours_prefix), "read_tf": str(ours_prefix)}
        plain_read = "plain read into new arrays"
        readers = [
            Contender(plain_read, "read_plain", core),
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
        env = self.env("core")
        for round_ in range(args.rounds + 1):
            self.log(f"mlp: pysavedmodel {'warm-up' if round_ == 0 else f'round {round_}'}")
            export = self.workdir / f"mlp-ours-{round_}"
            proc = subprocess.run(
                [sys.executable, str(HERE), "--mlp-ours", str(args.mlp_variables),
                 str(args.mlp_width), str(export)], capture_output=True, text=True, env=env)
            lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
            if proc.returncode != 0 or not lines:
                raise SystemExit(f"mlp (ours) failed:\n{proc.stderr[-3000:]}")
            if round_:
                ours.append(json.loads(lines[-1][len(REPLY):]))
            shutil.rmtree(export, ignore_errors=True)
        rows = {}
        for key, name in (("total", "pysavedmodel import+build+save (fresh process)"),
                          ("import", "pysavedmodel import"),
                          ("build", "pysavedmodel build"),
                          ("save", "pysavedmodel save")):
            rows[key] = Row(group, name, samples=[r[key] for r in ours])
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
            if args.tf_python is not None and only - {"import"}:
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
            for w in self.workers:
                w.close()
            self.workers.clear()
            if "import" in only:
                self.import_group()
        finally:
            for w in self.workers:
                w.close()
            if not args.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
        return {"machine": machine(args.dir), "config": config(args),
                "elapsed_seconds": time.perf_counter() - self.started,
                "rows": [asdict(r) for r in self.rows], "targets": targets(self.rows),
                "identical_to_tf": self.identical_to_tf}


# =========================================================================== report


def machine(directory: str) -> dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = None
    try:
        with open("/proc/meminfo") as f:
            memory = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    fs = "?"
    try:
        best = ""
        with open("/proc/mounts") as f:
            for line in f:
                _, mount, kind = line.split()[:3]
                if os.path.realpath(directory).startswith(mount) and len(mount) > len(best):
                    best, fs = mount, f"{kind} ({mount})"
    except OSError:
        pass
    import numpy

    return {"cpu": cpu, "cores": cores(), "memory_gb": memory and round(memory / GB, 1),
            "os": platform.platform(), "python": platform.python_version(),
            "numpy": numpy.__version__, "directory": directory, "filesystem": fs}


def config(args: argparse.Namespace) -> dict[str, Any]:
    return {"size_mib": args.size_mib, "tensors": args.tensors, "tiny": args.tiny,
            "mlp_variables": args.mlp_variables, "mlp_width": args.mlp_width,
            "rounds": args.rounds, "import_rounds": args.import_rounds,
            "tf_import_rounds": args.tf_import_rounds,
            "tf_mlp_rounds": args.tf_mlp_rounds, "only": args.only,
            "tf_python": str(args.tf_python) if args.tf_python else None,
            "command": " ".join([Path(sys.executable).name, "scripts/bench.py", *sys.argv[1:]])}


def targets(rows: list[Row]) -> list[dict[str, Any]]:
    """The issue's targets, evaluated on this run's rows (left out when a row is missing)."""

    def find(group_start: str, name: str, skip: Row | None = None) -> Row | None:
        for row in rows:
            if row.group.startswith(group_start) and row.name.startswith(name) and row is not skip:
                return row
        return None

    def speedup(slow: Row | None, fast: Row | None) -> float | None:
        if slow is None or fast is None or not slow.seconds or not fast.seconds:
            return None
        return slow.seconds / fast.seconds

    def get(row: Row | None, name: str) -> float | None:
        value = None if row is None else getattr(row, name)
        return None if value is None else float(value)

    one = find("write (", "write_checkpoint, 1 shard")
    many = find("write (", "write_checkpoint, ", skip=one)
    plain = find("write (", "plain write, 1 thread")
    tf_write = find("write (", "TF SaveV2")
    reader = find("read (", "CheckpointReader")
    tf_read = find("read (", "TF load_checkpoint")
    ceiling = speedup(tf_write, plain)
    table: list[tuple[str, float | None, str, float, str, str]] = [
        ("1-shard write vs one-thread plain write", get(one, "ratio"), ">=", 0.9, "x", ""),
        ("multi-shard write vs per-core plain write", get(many, "ratio"), ">=", 0.85, "x", ""),
        ("1-shard write vs TF SaveV2", speedup(tf_write, one), ">=", 4, "x",
         "" if ceiling is None else f"the plain write itself is {ceiling:.2f}x TF SaveV2"),
        ("verified read (get_tensor) GB/s", get(reader, "gbps"), ">=", 4, " GB/s", ""),
        ("verified read vs TF load_checkpoint", speedup(tf_read, reader), ">=", 2, "x", ""),
        ("peak RSS above inputs, 1-shard write (MB)", get(one, "peak_rss_mb"), "<=", 64, " MB",
         ""),
        (f"peak RSS above inputs, {cores()}-shard write (MB)", get(many, "peak_rss_mb"), "<=",
         64, " MB", ""),
        ("tiny-tensor checkpoint written (s)",
         get(find("tiny write", "write_checkpoint, 1 shard"), "seconds"), "<=", 1, " s", ""),
        ("import pysavedmodel (s)", get(find("import", "import pysavedmodel"), "seconds"), "<=",
         0.25, " s", ""),
        ("MLP build + save incl. import (s)",
         get(find("mlp", "pysavedmodel import+build+save"), "seconds"), "<=", 0.5, " s", ""),
    ]
    out = []
    for name, value, op, bound, unit, note in table:
        if value is None:
            continue
        met = value >= bound if op == ">=" else value <= bound
        out.append({"target": name, "value": round(value, 3), "bound": f"{op} {bound}{unit}",
                    "met": met, "note": note})
    return out


def fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def render(result: dict[str, Any]) -> str:
    m, c = result["machine"], result["config"]
    lines = [f"machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB RAM; {m['os']}; "
             f"Python {m['python']}, numpy {m['numpy']}",
             f"directory: {m['directory']} on {m['filesystem']}; medians of {c['rounds']} "
             f"rounds after a warm-up; command: {c['command']}", ""]
    group = None
    header = (f"  {'contender':<56} {'median s':>9} {'GB/s':>7} {'ratio':>7}  "
              f"{'peak RSS MB':>11}  ratio against")
    for row in result["rows"]:
        if row["group"] != group:
            group = row["group"]
            lines += ["" if group is None else "", group, header]
        ratio = fmt(row["ratio"], ".2f") + "x" if row["ratio"] is not None else "-"
        lines.append(
            f"  {row['name']:<56} {fmt(row['seconds'], '.3f'):>9} "
            f"{fmt(row['gbps'], '.2f'):>7} {ratio:>7}  {fmt(row['peak_rss_mb'], '.1f'):>11}  "
            f"{row['ratio_to'] or ''}{'  ' + row['note'] if row['note'] else ''}")
    lines += ["", "targets (ratio = reference time / contender time; higher is faster):"]
    for t in result["targets"]:
        lines.append(f"  [{'met' if t['met'] else 'MISSED'}] {t['target']}: {t['value']} "
                     f"(target {t['bound']}){'; ' + t['note'] if t['note'] else ''}")
    lines.append(f"\nelapsed {result['elapsed_seconds']:.0f} s")
    return "\n".join(lines)


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
    parser.add_argument("--only", default=",".join(GROUPS),
                        help=f"comma-separated groups among {','.join(GROUPS)}")
    parser.add_argument("--json", action="store_true",
                        help="print JSON on stdout (the table goes to stderr)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    parser.add_argument("-v", "--verbose", action="store_true", help="log every timed run")
    args = parser.parse_args(argv)
    unknown = set(args.only.split(",")) - set(GROUPS)
    if unknown:
        parser.error(f"unknown group(s) {sorted(unknown)}; choose from {', '.join(GROUPS)}")
    if args.no_tf:
        args.tf_python = None
    if min(args.size_mib, args.tensors, args.tiny, args.mlp_variables, args.mlp_width,
           args.rounds, args.import_rounds, args.tf_mlp_rounds, args.tf_import_rounds) < 1:
        parser.error("sizes and round counts must be >= 1")
    return args


def main(argv: Sequence[str]) -> int:
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1])
    if argv[:1] == ["--rss-probe"]:
        return rss_probe_main(*argv[1:7])
    if argv[:1] == ["--mlp-ours"]:
        print(REPLY + json.dumps(mlp_ours(int(argv[1]), int(argv[2]), argv[3])))
        return 0
    args = parse_args(argv)
    result = Bench(args).run()
    table = render(result)
    if args.json:
        print(table, file=sys.stderr)
        print(json.dumps(result, indent=1))
    else:
        print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
