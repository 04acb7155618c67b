"""The benchmark's worker side: inputs, the timed contenders (ours, the plain write,
TensorFlow, safetensors, numpy), the MLP export, worker processes and peak-RSS probes.

Workers run ``scripts/bench.py --worker KIND`` (in the core venv or TensorFlow's) and
answer JSON commands on stdin, so every contender runs warm, in its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from .common import HERE, REPLY, TINY_ELEMENTS, cores

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


def _per_core(arrays: dict[str, Any], out: str,
              write: Callable[[BinaryIO, memoryview], object]) -> None:
    """One thread per core, thread ``i`` writing every ``cores()``-th array, in order, to
    its own file ``{out}.{i}.bin`` with ``write(file, the array's bytes)``."""
    n = cores()
    values = list(arrays.values())

    def one(i: int) -> None:
        with open(f"{out}.{i}.bin", "wb") as f:
            for array in values[i::n]:
                write(f, array.data.cast("B"))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def write_plain_per_core(arrays: dict[str, Any], out: str, src: str) -> None:
    _per_core(arrays, out, lambda f, data: f.write(data))


CRC_PIECE = 1 << 20
"""Piece size of :func:`write_plain_crc_per_core`: written, then checksummed while it is
still in the CPU cache, as the checkpoint writer's shard threads do."""


def write_plain_crc_per_core(arrays: dict[str, Any], out: str, src: str) -> None:
    """The per-core plain write plus a CRC32C of every byte (the library's backend): what
    any writer of checksummed files must do at least, so the multi-shard write's floor."""
    from pysavedmodel.format.crc32c import crc32c

    def write(f: BinaryIO, data: memoryview) -> None:
        crc = 0
        for start in range(0, len(data), CRC_PIECE):
            piece = data[start:start + CRC_PIECE]
            f.write(piece)
            crc = crc32c(piece, crc)

    _per_core(arrays, out, write)


def write_ours_1(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays)


def write_ours_1_durable(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays, durable=True)


def write_ours_n(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays, num_shards=cores())


def write_safetensors(arrays: dict[str, Any], out: str, src: str) -> None:
    from safetensors.numpy import save_file

    save_file(arrays, out + ".safetensors")


_ALIGNED: list[tuple[dict[str, Any], dict[str, Any], Any]] = []
"""One cached :func:`page_aligned` copy: (the arrays it copies, the copy, its mmap)."""


def page_aligned(arrays: dict[str, Any]) -> dict[str, Any]:
    """The same values, each array starting on a page boundary of one anonymous mapping
    (numpy's own large arrays start 16 bytes into a page: glibc's chunk header).  Made
    on first use (the untimed warm-up) and kept for the loaded case only.

    Why it matters: the kernel's copy into the page cache runs 5-10% slower when the
    source sits a few bytes past the destination modulo 4096 (a TensorBundle data file
    starts its first tensor at offset 0, so numpy's +16 lands there; safetensors'
    header length moves its data elsewhere).  The ``page-aligned arrays`` rows show
    each writer without that effect."""
    import mmap

    import numpy as np

    if _ALIGNED and _ALIGNED[0][0] is arrays:
        return _ALIGNED[0][1]
    _ALIGNED.clear()
    page = mmap.PAGESIZE
    sizes = [-(-value.nbytes // page) * page for value in arrays.values()]
    region = mmap.mmap(-1, max(page, sum(sizes)))
    copies: dict[str, Any] = {}
    offset = 0
    for (name, value), size in zip(arrays.items(), sizes):
        copy = np.frombuffer(region, value.dtype, value.size, offset).reshape(value.shape)
        copy[...] = value
        copies[name] = copy
        offset += size
    _ALIGNED.append((arrays, copies, region))
    return copies


def write_ours_1_aligned(arrays: dict[str, Any], out: str, src: str) -> None:
    write_ours_1(page_aligned(arrays), out, src)


def write_safetensors_aligned(arrays: dict[str, Any], out: str, src: str) -> None:
    write_safetensors(page_aligned(arrays), out, src)


def write_npsavez(arrays: dict[str, Any], out: str, src: str) -> None:
    import numpy as np

    np.savez(out + ".npz", **arrays)


def read_plain(arrays: dict[str, Any], out: str, src: str) -> None:
    import numpy as np

    with open(src + ".bin", "rb", buffering=0) as f:
        for value in arrays.values():
            array = np.empty(value.shape, value.dtype)
            f.readinto(array.data.cast("B"))


def read_plain_views(arrays: dict[str, Any], out: str, src: str) -> None:
    """The floor of reading many small tensors: the file read once, cut into views."""
    import numpy as np

    with open(src + ".bin", "rb") as f:
        data = f.read()
    offset = 0
    for value in arrays.values():
        count = value.size
        np.frombuffer(data, value.dtype, count, offset).reshape(value.shape)
        offset += count * value.itemsize


def merge_ours_4(arrays: dict[str, Any], out: str, src: str) -> float:
    """merge_shards of 4 shard bundles (written first, untimed); returns its seconds."""
    from pysavedmodel.format.distributed import merge_shards, shard_prefix, write_shard

    names = list(arrays)
    for shard in range(4):
        write_shard(out, {name: arrays[name] for name in names[shard::4]}, shard=shard,
                    num_shards=4)
    start = time.perf_counter()
    merge_shards([shard_prefix(out, shard, 4) for shard in range(4)], out)
    return time.perf_counter() - start


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


CORE_TASKS: dict[str, Callable[[dict[str, Any], str, str], float | None]] = {
    "write_plain": write_plain,
    "write_plain_per_core": write_plain_per_core,
    "write_plain_crc_per_core": write_plain_crc_per_core,
    "write_ours_1": write_ours_1,
    "write_ours_1_durable": write_ours_1_durable,
    "write_ours_n": write_ours_n,
    "write_safetensors": write_safetensors,
    "write_ours_1_aligned": write_ours_1_aligned,
    "write_safetensors_aligned": write_safetensors_aligned,
    "write_npsavez": write_npsavez,
    "read_plain": read_plain,
    "read_plain_views": read_plain_views,
    "merge_ours_4": merge_ours_4,
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


def mlp_ours(variables: int, width: int, export_dir: str,
             format: str = "auto") -> dict[str, float]:
    """In a fresh interpreter: import pysavedmodel, build the graph, save (the weights,
    numpy arrays, exist before the clock starts); ``format`` as SavedModelBuilder takes
    it (the default writes a TF2 export)."""
    weights = mlp_weights(variables, width)
    start = time.perf_counter()
    start_cpu = time.process_time()
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
    builder = SavedModelBuilder(export_dir, format=format)
    builder.add_meta_graph_and_variables(
        graph, ["serve"],
        signature_def_map={"serving_default": predict_signature_def({"x": x}, {"y": h})})
    built = time.perf_counter()
    builder.save()
    saved = time.perf_counter()
    return {"import": imported - start, "build": built - imported, "save": saved - built,
            "total": saved - start, "total_cpu": time.process_time() - start_cpu}


def graph_ours(nodes: int, rounds: int) -> dict[str, list[float]]:
    """Seconds to add ``nodes`` nodes with ``Graph.op`` (a chain alternating MatMul and
    Relu from one placeholder and one shared constant) and to rebuild the same graph
    with ``Graph.from_dict`` from its GraphDef; a warm-up, then ``rounds`` timed runs.
    CPU time of this process (``time.process_time``): on a shared machine the wall clock
    counts other processes' turns too."""
    import numpy as np

    from pysavedmodel import Graph

    out: dict[str, list[float]] = {"op": [], "from_dict": []}
    for round_ in range(rounds + 1):
        graph = Graph()
        h = graph.placeholder("x", "float32", [None, 8])
        w = graph.constant(np.ones((8, 8), np.float32), name="w")
        start = time.process_time()
        for i in range(nodes - 2):
            h = graph.op("MatMul" if i % 2 == 0 else "Relu", [h, w] if i % 2 == 0 else [h])
        built = time.process_time()
        graph_def = graph.as_graph_def()
        start_import = time.process_time()
        Graph.from_dict(graph_def)
        imported = time.process_time()
        if round_:
            out["op"].append(built - start)
            out["from_dict"].append(imported - start_import)
    return out


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
                _ALIGNED.clear()
                tf_sides.pop(command["case"], None)
                reply({"ok": True})
            elif op == "run":
                case, task = command["case"], command["task"]
                action = (tf_sides[case].task(task) if kind == "tf" else CORE_TASKS[task])
                start = time.perf_counter()
                timed = action(arrays[case], command["out"], command["src"])
                # a task that times itself (part of it) returns its seconds
                reply({"seconds": timed if isinstance(timed, float)
                       else time.perf_counter() - start})
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
    action: Callable[[dict[str, Any], str, str], object]
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
