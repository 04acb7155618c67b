"""Benchmark family ``checkpoints`` (groups ``write``, ``read``, ``tiny``): checkpoint writes and
reads against the plain write/read of the same bytes, TensorFlow, safetensors and numpy.

* ``write``: ``--size-mib`` of float32 in ``--tensors`` tensors.  Limit: a plain sequential
  write of the same buffers (one thread; one thread per core to separate files);
  contenders ``write_checkpoint`` with 1 shard (also ``durable=True``: fsync, which costs
  nothing on tmpfs) and one per core, TensorFlow's ``SaveV2``,
  ``safetensors.numpy.save_file`` (when installed) and ``np.savez``.
* ``read``: the files just written, from the page cache: a plain read into new arrays,
  ``CheckpointReader.get_tensor``, ``read_checkpoint`` and ``tf.train.load_checkpoint``.
* ``tiny``: the same for ``--tiny`` float32[4] tensors (index-bound).

Inputs are generated once into ``--dir`` and loaded by every worker (``load``); the
contenders are functions ``task(arrays, out, src)`` run by name in the worker (``run``).
Peak RSS of each write contender is measured in a fresh process
(``scripts/bench.py --rss-probe``).
"""

from __future__ import annotations

import argparse
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import GB, REPLY, TINY_ELEMENTS, Family, Task, WorkerOp, cores
from .driver import Contender

if TYPE_CHECKING:
    from .driver import Bench
    from .workers import Worker

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


def write_ours_1_durable(arrays: dict[str, Any], out: str, src: str) -> None:
    from pysavedmodel import write_checkpoint

    write_checkpoint(out, arrays, durable=True)


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

    def task(self, name: str) -> Task:
        return self.write if name == "write_tf" else self.read

    def write(self, arrays: dict[str, Any], out: str, src: str) -> None:
        self.tf.raw_ops.SaveV2(prefix=out, tensor_names=self.names,
                               shape_and_slices=self.slices, tensors=self.values)

    def read(self, arrays: dict[str, Any], out: str, src: str) -> None:
        reader = self.tf.train.load_checkpoint(src)
        for name in reader.get_variable_to_shape_map():
            reader.get_tensor(name)


CORE_TASKS: dict[str, Task] = {
    "write_plain": write_plain,
    "write_plain_per_core": write_plain_per_core,
    "write_ours_1": write_ours_1,
    "write_ours_1_durable": write_ours_1_durable,
    "write_ours_n": write_ours_n,
    "write_safetensors": write_safetensors,
    "write_npsavez": write_npsavez,
    "read_plain": read_plain,
    "read_ours_reader": read_ours_reader,
    "read_ours_read_checkpoint": read_ours_read_checkpoint,
}
TF_TASKS = ("write_tf", "read_tf")


# =========================================================================== worker side


def _load(kind: str, command: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    inputs = Inputs(**command["inputs"])
    arrays = state.setdefault("arrays", {})
    arrays[command["case"]] = load_arrays(inputs)
    if kind == "tf":
        side = state.setdefault("tf_sides", {})[command["case"]] = TFSide(arrays[command["case"]])
        if command.get("warm"):  # the first call with new list lengths is slow
            side.write(arrays[command["case"]], command["warm"], "")
    return {"ok": True}


def _unload(kind: str, command: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    state.get("arrays", {}).pop(command["case"], None)
    state.get("tf_sides", {}).pop(command["case"], None)
    return {"ok": True}


def _run(kind: str, command: dict[str, Any], state: dict[str, Any]) -> dict[str, Any]:
    import time

    case, task = command["case"], command["task"]
    action = state["tf_sides"][case].task(task) if kind == "tf" else CORE_TASKS[task]
    start = time.perf_counter()
    action(state["arrays"][case], command["out"], command["src"])
    return {"seconds": time.perf_counter() - start}


WORKER_OPS: dict[str, WorkerOp] = {"load": _load, "unload": _unload, "run": _run}


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

# =========================================================================== driver side


def io_groups(bench: Bench, case: str, inputs: Inputs, core: Worker, tf: Worker | None
              ) -> list[tuple[str, list[Contender]]]:
    """Time the writes, then the reads, of one case; return the write group for
    :meth:`Bench.probe_rss`.  TensorFlow must already hold the case (``load``)."""
    tiny = case == "tiny"
    write_group, read_group = ("tiny write", "tiny read") if tiny else ("write", "read")
    size = (f"{len(inputs.names)} float32[{TINY_ELEMENTS}] tensors" if tiny
            else f"{inputs.nbytes / GB:.2f} GB in {len(inputs.names)} tensors")
    bench.log(f"{case}: loading {size} into the core worker")
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
        # fsync's cost: nothing on tmpfs; run with --dir on a disk to see it.
        writers.append(Contender("write_checkpoint, 1 shard, durable=True",
                                 "write_ours_1_durable", core, limit=plain_1))
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
    bench.run_group(write_label, case, inputs, writers, {})
    if tf is not None:
        same = bench.digests[(case, "write_ours_1")] == bench.digests[(case, "write_tf")]
        row = bench.row(write_label, "TF SaveV2")
        assert row is not None
        row.note = ("files byte-identical to write_checkpoint's" if same
                    else "FILES DIFFER from write_checkpoint's")
        bench.identical_to_tf[case] = same
    # What the reads read: the plain file and our 1-shard checkpoint, written once more.
    plain_prefix = bench.workdir / f"{case}-source" / "plain"
    ours_prefix = bench.workdir / f"{case}-source" / "ckpt"
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
    bench.run_group(f"{read_group} ({size}, page cache)", case, inputs, readers, sources)
    core.call(op="unload", case=case)
    return [(write_label, writers)]


def run(bench: Bench, only: set[str], core: Worker | None, tf: Worker | None) -> None:
    """The write/read case (``write`` or ``read`` selected) and the tiny case."""
    assert core is not None
    args = bench.args
    cases = [case for case in ("write", "tiny")
             if case in only or (case == "write" and "read" in only)]
    inputs = {case: make_inputs(bench.workdir, case, args.size_mib, args.tensors,
                                args.tiny) for case in cases}
    if tf is not None and cases:
        bench.log(f"{cases[0]}: loading into the TensorFlow worker")
        tf.call(op="load", case=cases[0], inputs=asdict(inputs[cases[0]]))
    for i, case in enumerate(cases):
        groups = io_groups(bench, case, inputs[case], core, tf)
        following = cases[i + 1] if i + 1 < len(cases) else None
        if tf is not None:
            tf.call(op="unload", case=case)
            if following is not None:  # loads (and warms up) during the RSS probes
                bench.log(f"{following}: loading into the TensorFlow worker")
                tf.send(op="load", case=following, inputs=asdict(inputs[following]),
                        warm=str(bench.workdir / f"{following}-tf-warm"))
        if not args.no_rss:
            for group, contenders in groups:
                bench.probe_rss(group, case, inputs[case], contenders)
        if tf is not None and following is not None:
            tf.receive()
        os.unlink(inputs[case].path)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--size-mib", type=int, default=1024,
                        help="bytes of the bandwidth case, MiB (default 1024)")
    parser.add_argument("--tensors", type=int, default=64,
                        help="tensors of the bandwidth case (default 64)")
    parser.add_argument("--tiny", type=int, default=100_000,
                        help="tensors of the index-bound case (default 100000)")


FAMILY = Family("checkpoints", ("write", "read", "tiny"), run, add_arguments, WORKER_OPS,
                {"--rss-probe": lambda argv: rss_probe_main(*argv[:6])}, uses_tf=True)
