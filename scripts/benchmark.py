"""pysavedmodel vs TensorFlow, side by side: checkpoint write/read, SavedModel export, import.

Usage: python scripts/benchmark.py [--repeat N] [--tf-python PATH]
                                   [--cases large,many,mlp,import]

Each side runs in its own fresh subprocess (this same file in ``--worker`` mode):
ours under the current interpreter, TensorFlow under its venv's python
(default /root/.cache/pysavedmodel/tf-2.21/bin/python).  Both build the same inputs
before timing; TF's times exclude its import and the creation of its tensors/graph.
Everything is measured in the same run, one side right after the other, so the
printed ratios (ours/tf, below 1 = we are faster) are comparable on a noisy machine.
Before each timed write or export, ``os.sync()`` (untimed) flushes the previous runs'
dirty pages, so disk writeback of one run does not slow the next one down.

Cases:
  large, many  checkpoint write (ours: write_checkpoint; TF: raw SaveV2), best of N, with
               peak RSS growth (getrusage ru_maxrss), ours' tracemalloc peak and whether
               both sides wrote identical files; then checkpoint read of that checkpoint
               (ours: CheckpointReader + get_tensor for every key, and read_checkpoint;
               TF: tf.train.load_checkpoint + get_tensor for every key).
  mlp          SavedModel export of a 4-layer 1024x1024 float32 MLP (kernels + biases):
               ours: Graph + SavedModelBuilder + save(); TF: a TF1 graph with resource
               variables holding the same values, tf.compat.v1.saved_model.Builder +
               add_meta_graph_and_variables + save() (graph and session set-up untimed).
  import       fresh interpreter: ``import pysavedmodel`` + a first tiny write_checkpoint
               vs ``import tensorflow`` (time measured inside the process, and the whole
               process' wall time).
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve()
DEFAULT_TF_PYTHON = Path(os.environ.get(
    "PYSAVEDMODEL_TF_PYTHON",
    Path.home() / ".cache" / "pysavedmodel" / "tf-2.21" / "bin" / "python"))

CHECKPOINT_CASES = {
    # name: (number of tensors, float32 elements per tensor)
    "large": (50, 1_000_000),     # 50 x 4 MB = 200 MB
    "many": (20_000, 64),         # 20,000 x 256 B = 5 MB, index-heavy
}
MLP_LAYERS = 4
MLP_WIDTH = 1024
ALL_CASES = [*CHECKPOINT_CASES, "mlp", "import"]
IMPORT_RUNS = 2


def make_tensors(case: str) -> dict[str, Any]:
    import numpy as np

    count, elements = CHECKPOINT_CASES[case]
    rng = np.random.default_rng(0)
    return {f"model/layer_{i:05d}/kernel": rng.standard_normal(elements, dtype=np.float32)
            for i in range(count)}


def make_mlp_weights() -> list[Any]:
    """(kernel, bias) per layer."""
    import numpy as np

    rng = np.random.default_rng(0)
    return [(rng.standard_normal((MLP_WIDTH, MLP_WIDTH), dtype=np.float32),
             rng.standard_normal(MLP_WIDTH, dtype=np.float32))
            for _ in range(MLP_LAYERS)]


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def best_time(action: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


# --------------------------------------------------------------------------- workers


def checkpoint_worker(side: str, case: str, out_dir: Path, repeat: int) -> dict[str, Any]:
    tensors = make_tensors(case)
    if side == "tf":
        import tensorflow as tf

        names = list(tensors)
        values = [tf.constant(tensors[n]) for n in names]
        del tensors

        def write(prefix: str) -> None:
            tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                              shape_and_slices=[""] * len(names), tensors=values)

        def read(prefix: str) -> None:
            reader = tf.train.load_checkpoint(prefix)
            for name in reader.get_variable_to_shape_map():
                reader.get_tensor(name)

        extra_reads: dict[str, Callable[[str], None]] = {}
    else:
        from pysavedmodel import CheckpointReader, read_checkpoint, write_checkpoint

        def write(prefix: str) -> None:
            write_checkpoint(prefix, tensors)

        def read(prefix: str) -> None:
            with CheckpointReader(prefix) as reader:
                for name in reader.keys():
                    reader.get_tensor(name)

        extra_reads = {"read_checkpoint": read_checkpoint}

    rss_before = maxrss_bytes()  # the tensors exist; what follows is the writer's own memory
    write(str(out_dir / "warmup" / "ck"))  # first-call setup (TF op creation) is not write speed
    times = []
    for i in range(repeat):
        if i > 1:
            shutil.rmtree(out_dir / f"run{i - 1}")  # keep run0 for the digest and the reads
        target = out_dir / f"run{i}"
        target.mkdir(parents=True)
        os.sync()  # flush earlier runs' dirty pages, so writeback does not throttle this one
        start = time.perf_counter()
        write(str(target / "ck"))
        times.append(time.perf_counter() - start)
    result: dict[str, Any] = {"seconds": min(times), "rss_delta": maxrss_bytes() - rss_before,
                              "digest": digest(out_dir / "run0")}
    prefix = str(out_dir / "run0" / "ck")
    read(prefix)  # warm-up, as for writing
    result["read_seconds"] = best_time(lambda: read(prefix), repeat)
    for label, reader in extra_reads.items():
        result[f"{label}_seconds"] = best_time(functools.partial(reader, prefix), repeat)
    if side == "ours":
        import tracemalloc

        target = out_dir / "traced"
        target.mkdir()
        tracemalloc.start()
        write(str(target / "ck"))
        result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def mlp_export_ours(export_dir: Path, weights: list[Any]) -> None:
    from pysavedmodel import Graph, SavedModelBuilder, predict_signature_def

    graph = Graph()
    x = graph.placeholder("x", "float32", [None, MLP_WIDTH])
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
    builder.save()


def mlp_tf_exporter(weights: list[Any]) -> Callable[[Path], None]:
    """Build the TF1 graph + session holding ``weights`` (untimed); return the export step."""
    import tensorflow as tf

    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        x = v1.placeholder(tf.float32, [None, MLP_WIDTH], name="x")
        h = x
        variables = []
        for i, (kernel, bias) in enumerate(weights):
            w = v1.get_variable(f"dense_{i}/kernel", shape=kernel.shape, dtype=tf.float32,
                                initializer=v1.zeros_initializer(), use_resource=True)
            b = v1.get_variable(f"dense_{i}/bias", shape=bias.shape, dtype=tf.float32,
                                initializer=v1.zeros_initializer(), use_resource=True)
            variables += [(w, kernel), (b, bias)]
            h = tf.nn.bias_add(tf.matmul(h, w), b)
            if i < len(weights) - 1:
                h = tf.nn.relu(h)
        session = v1.Session(graph=graph)
        session.run(v1.global_variables_initializer())
        for variable, value in variables:  # fed, so the values are not graph constants
            feed = v1.placeholder(tf.float32, value.shape)
            session.run(variable.assign(feed), {feed: value})
        signature = v1.saved_model.predict_signature_def({"x": x}, {"y": h})

    def export(export_dir: Path) -> None:
        with graph.as_default():
            builder = v1.saved_model.Builder(str(export_dir))
            builder.add_meta_graph_and_variables(
                session, ["serve"], signature_def_map={"serving_default": signature})
            builder.save()

    return export


def mlp_worker(side: str, out_dir: Path, repeat: int) -> dict[str, Any]:
    weights = make_mlp_weights()
    if side == "tf":
        export = mlp_tf_exporter(weights)
    else:
        def export(export_dir: Path) -> None:
            mlp_export_ours(export_dir, weights)

    export(out_dir / "warmup")
    times = []
    for i in range(repeat):
        os.sync()
        start = time.perf_counter()
        export(out_dir / f"run{i}")
        times.append(time.perf_counter() - start)
    size = sum(p.stat().st_size for p in (out_dir / "run0").rglob("*") if p.is_file())
    return {"seconds": min(times), "bytes": size}


def worker(side: str, case: str, out_dir: Path, repeat: int) -> dict[str, Any]:
    if side == "tf":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    if case == "mlp":
        return mlp_worker(side, out_dir, repeat)
    return checkpoint_worker(side, case, out_dir, repeat)


# --------------------------------------------------------------------------- driver


def subprocess_env(side: str) -> dict[str, str]:
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    if side == "tf":
        env.pop("PYTHONPATH", None)
    return env


def run_worker(python: Path, side: str, case: str, repeat: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        proc = subprocess.run(
            [str(python), str(HERE), "--worker", side, "--case", case, "--out", tmp,
             "--repeat", str(repeat)], capture_output=True, text=True, env=subprocess_env(side))
        if proc.returncode != 0:
            raise SystemExit(f"{side} worker failed:\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


IMPORT_OURS = """\
import sys, time
start = time.perf_counter()
import pysavedmodel
import numpy as np
pysavedmodel.write_checkpoint(sys.argv[1], {"w": np.zeros(4, np.float32)})
print(time.perf_counter() - start)
"""

IMPORT_TF = """\
import time
start = time.perf_counter()
import tensorflow
print(time.perf_counter() - start)
"""


def time_import(python: Path, side: str) -> dict[str, float]:
    """Best in-process and whole-process times over IMPORT_RUNS fresh interpreters."""
    inside, whole = [], []
    for _ in range(IMPORT_RUNS):
        with tempfile.TemporaryDirectory(prefix="bench-import-") as tmp:
            start = time.perf_counter()
            proc = subprocess.run(
                [str(python), "-c", IMPORT_TF if side == "tf" else IMPORT_OURS,
                 str(Path(tmp) / "ck")], capture_output=True, text=True,
                env=subprocess_env(side))
            whole.append(time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"{side} import failed:\n{proc.stderr[-4000:]}")
        inside.append(float(proc.stdout.strip().splitlines()[-1]))
    return {"inside": min(inside), "whole": min(whole)}


def mib(n: float) -> str:
    return f"{n / (1 << 20):8.1f} MiB"


def timing_line(label: str, ours: float, theirs: float) -> str:
    return (f"  {label:<22s} ours {ours:8.3f} s   tf {theirs:8.3f} s   "
            f"ratio ours/tf {ours / theirs:.2f}")


def report_checkpoint(case: str, ours: dict[str, Any], theirs: dict[str, Any],
                      repeat: int) -> None:
    count, elements = CHECKPOINT_CASES[case]
    total = count * elements * 4
    print(f"case {case!r}: {count} float32 tensors, {mib(total).strip()} total, "
          f"best of {repeat}")
    print(timing_line("write", ours["seconds"], theirs["seconds"]))
    if theirs["rss_delta"] >= 1 << 20:
        ratio = f"ratio ours/tf {ours['rss_delta'] / theirs['rss_delta']:.2f}"
    else:
        ratio = "ratio n/a (tf grew < 1 MiB)"
    print(f"  write peak RSS +       ours {mib(ours['rss_delta'])}   "
          f"tf {mib(theirs['rss_delta'])}   {ratio}")
    print(f"  ours tracemalloc peak during one write: {mib(ours['tracemalloc_peak']).strip()}")
    print(f"  identical files: {ours['digest'] == theirs['digest']}")
    print(timing_line("read (get_tensor loop)", ours["read_seconds"], theirs["read_seconds"]))
    print(timing_line("read_checkpoint vs loop", ours["read_checkpoint_seconds"],
                      theirs["read_seconds"]))
    print("    (ours' get_tensor returns views of the mapped file; read_checkpoint returns new\n"
          "     arrays, so for big tensors its time is mostly first-touch faults of new memory,\n"
          "     which TF's allocator reuses between runs)")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tf-python", type=Path, default=DEFAULT_TF_PYTHON)
    parser.add_argument("--cases", default=",".join(ALL_CASES))
    parser.add_argument("--worker", choices=["ours", "tf"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.case, args.out, args.repeat)))
        return 0
    cases = args.cases.split(",")
    unknown = sorted(set(cases) - set(ALL_CASES))
    if unknown:
        parser.error(f"unknown case(s) {unknown}; choose from {ALL_CASES}")
    for case in cases:
        if case == "import":
            ours = time_import(Path(sys.executable), "ours")
            theirs = time_import(args.tf_python, "tf")
            print(f"case 'import': fresh interpreter, best of {IMPORT_RUNS}")
            print(timing_line("import + first use", ours["inside"], theirs["inside"]))
            print(timing_line("whole process", ours["whole"], theirs["whole"]))
            continue
        ours = run_worker(Path(sys.executable), "ours", case, args.repeat)
        theirs = run_worker(args.tf_python, "tf", case, args.repeat)
        if case == "mlp":
            print(f"case 'mlp': SavedModel export, {MLP_LAYERS} x {MLP_WIDTH}x{MLP_WIDTH} "
                  f"float32 layers (+ biases), best of {args.repeat}")
            print(timing_line("export", ours["seconds"], theirs["seconds"]))
            print(f"  SavedModel size        ours {mib(ours['bytes'])}   "
                  f"tf {mib(theirs['bytes'])}")
        else:
            report_checkpoint(case, ours, theirs, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
