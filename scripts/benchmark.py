"""Checkpoint write speed and memory: pysavedmodel vs TensorFlow's SaveV2, side by side.

Usage: python scripts/benchmark.py [--repeat N] [--tf-python PATH] [--cases large,many]

Each side runs in its own fresh subprocess (this same file in ``--worker`` mode):
ours under the current interpreter, TensorFlow under its venv's python
(default /root/.cache/pysavedmodel/tf-2.21/bin/python).  Both build the same tensors
before timing; TF's time excludes its import and the creation of its tensors.
Reported per case: best-of-N write time, peak RSS growth during the writes
(getrusage ru_maxrss), for ours also the tracemalloc peak, and whether both sides
wrote identical files.
"""

from __future__ import annotations

import argparse
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
from typing import Any, Dict, List

HERE = Path(__file__).resolve()
DEFAULT_TF_PYTHON = Path(os.environ.get(
    "PYSAVEDMODEL_TF_PYTHON",
    Path.home() / ".cache" / "pysavedmodel" / "tf-2.21" / "bin" / "python"))

CASES = {
    # name: (number of tensors, float32 elements per tensor)
    "large": (50, 1_000_000),     # 50 x 4 MB = 200 MB
    "many": (20_000, 64),         # 20,000 x 256 B = 5 MB, index-heavy
}


def make_tensors(case: str) -> Dict[str, Any]:
    import numpy as np

    count, elements = CASES[case]
    rng = np.random.default_rng(0)
    return {f"model/layer_{i:05d}/kernel": rng.standard_normal(elements, dtype=np.float32)
            for i in range(count)}


def maxrss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def digest(directory: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        h.update(path.name.encode())
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def worker(side: str, case: str, out_dir: Path, repeat: int) -> Dict[str, Any]:
    tensors = make_tensors(case)
    if side == "tf":
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        names = list(tensors)
        values = [tf.constant(tensors[n]) for n in names]
        del tensors

        def write(prefix: str) -> None:
            tf.raw_ops.SaveV2(prefix=prefix, tensor_names=names,
                              shape_and_slices=[""] * len(names), tensors=values)
    else:
        from pysavedmodel import write_checkpoint

        def write(prefix: str) -> None:
            write_checkpoint(prefix, tensors)

    rss_before = maxrss_bytes()  # the tensors exist; what follows is the writer's own memory
    write(str(out_dir / "warmup" / "ck"))  # first-call setup (TF op creation) is not write speed
    times = []
    for i in range(repeat):
        target = out_dir / f"run{i}"
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        start = time.perf_counter()
        write(str(target / "ck"))
        times.append(time.perf_counter() - start)
    result: Dict[str, Any] = {"seconds": min(times), "rss_delta": maxrss_bytes() - rss_before,
                              "digest": digest(out_dir / "run0")}
    if side == "ours":
        import tracemalloc

        target = out_dir / "traced"
        target.mkdir()
        tracemalloc.start()
        write(str(target / "ck"))
        result["tracemalloc_peak"] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return result


def run_worker(python: Path, side: str, case: str, repeat: int) -> Dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{side}-") as tmp:
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
        if side == "tf":
            env.pop("PYTHONPATH", None)
        proc = subprocess.run(
            [str(python), str(HERE), "--worker", side, "--case", case, "--out", tmp,
             "--repeat", str(repeat)], capture_output=True, text=True, env=env)
        if proc.returncode != 0:
            raise SystemExit(f"{side} worker failed:\n{proc.stderr[-4000:]}")
        return json.loads(proc.stdout.strip().splitlines()[-1])


def mib(n: float) -> str:
    return f"{n / (1 << 20):8.1f} MiB"


def main(argv: List[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tf-python", type=Path, default=DEFAULT_TF_PYTHON)
    parser.add_argument("--cases", default=",".join(CASES))
    parser.add_argument("--worker", choices=["ours", "tf"], help=argparse.SUPPRESS)
    parser.add_argument("--case", help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.case, args.out, args.repeat)))
        return 0
    for case in args.cases.split(","):
        count, elements = CASES[case]
        ours = run_worker(Path(sys.executable), "ours", case, args.repeat)
        theirs = run_worker(args.tf_python, "tf", case, args.repeat)
        total = count * elements * 4
        print(f"case {case!r}: {count} float32 tensors, {mib(total).strip()} total, "
              f"best of {args.repeat}")
        print(f"  write time   ours {ours['seconds']:8.3f} s   tf {theirs['seconds']:8.3f} s   "
              f"ratio ours/tf {ours['seconds'] / theirs['seconds']:.2f}")
        if theirs["rss_delta"] >= 1 << 20:
            ratio = f"ratio ours/tf {ours['rss_delta'] / theirs['rss_delta']:.2f}"
        else:
            ratio = "ratio n/a (tf grew < 1 MiB)"
        print(f"  peak RSS +   ours {mib(ours['rss_delta'])}   tf {mib(theirs['rss_delta'])}   "
              f"{ratio}")
        print(f"  ours tracemalloc peak during one write: {mib(ours['tracemalloc_peak']).strip()}")
        print(f"  identical files: {ours['digest'] == theirs['digest']}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
