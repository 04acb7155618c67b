"""Opt-in scale runs of scripts/bench.py (``--only huge`` / ``--only million``).

* ``huge``: a ``--huge-gb`` checkpoint (default 20 GB) streamed from memory-mapped
  ``.npy`` files (loaders ``np.load(path, mmap_mode="r")``, called on the workers) and
  written by ``--huge-workers`` processes (default 2) through
  ``write_checkpoint(executor=ProcessPoolExecutor)``; throughput and the peak RSS
  (VmHWM) of each worker process.  The ``.npy`` inputs are created sparse (all zeros,
  no disk blocks), so only the checkpoint itself takes disk space; it is written to
  ``--scale-dir`` (a disk, default the system temp directory) and deleted afterwards.
* ``million``: ``--million-tensors`` float32[4] tensors (default 1,000,000) with
  names that do not share long prefixes, so the index exceeds 50 MB; written with
  ``write_checkpoint`` and read back (open + ``get_tensor`` of every tensor), beside
  the same for a tenth as many tensors, to compare the time per tensor.
"""

from __future__ import annotations

import functools
import gc
import hashlib
import os
import shutil
import time
from pathlib import Path
from typing import Any

from .common import GB
from .report import Row


def _peak_rss_mb(_: int = 0) -> tuple[int, float]:
    """(pid, VmHWM in MB) of the calling process."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return os.getpid(), int(line.split()[1]) * 1024 / 1e6
    return os.getpid(), -1.0


def _slow_peak_rss_mb(_: int) -> tuple[int, float]:
    time.sleep(0.2)  # long enough that every worker process takes one
    return _peak_rss_mb()


def huge(directory: str, gb: int, workers: int, log: Any) -> list[Row]:
    """The streamed checkpoint of ``gb`` GB; returns its rows."""
    import concurrent.futures
    import multiprocessing

    import numpy as np

    from pysavedmodel import write_checkpoint

    work = Path(directory) / f"pysavedmodel-huge-{os.getpid()}"
    work.mkdir(parents=True)
    group = f"huge ({gb} GB in 64 MiB tensors, {workers} worker processes, disk)"
    try:
        rows_per_tensor, cols = 16384, 1024  # 64 MiB of float32
        tensor_bytes = rows_per_tensor * cols * 4
        count = max(workers, gb * 10**9 // tensor_bytes)
        loaders = {}
        for i in range(count):
            path = work / f"input-{i:04d}.npy"
            np.lib.format.open_memmap(path, mode="w+", dtype=np.float32,
                                      shape=(rows_per_tensor, cols))  # sparse: no data
            loaders[f"model/layer_{i:04d}/kernel"] = functools.partial(
                np.load, str(path), mmap_mode="r")
        total = count * tensor_bytes
        log(f"huge: writing {total / GB:.1f} GB ({count} tensors) with {workers} processes "
            f"to {work}")
        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
            list(pool.map(_peak_rss_mb, range(workers)))  # start the workers first
            start = time.perf_counter()
            write_checkpoint(work / "ckpt" / "model", loaders, num_shards=workers,
                             executor=pool)
            seconds = time.perf_counter() - start
            peaks: dict[int, float] = {}
            for pid, peak in pool.map(_slow_peak_rss_mb, range(4 * workers)):
                peaks[pid] = peak
        written = sum(p.stat().st_size for p in (work / "ckpt").iterdir())
        row = Row(group, "write_checkpoint(executor=ProcessPoolExecutor), loaders "
                  "np.load(mmap_mode='r')", written, samples=[seconds])
        row.finish()
        row.peak_rss_mb = max(peaks.values())
        row.note = ("peak RSS per worker " + ", ".join(f"{v:.0f}" for v in peaks.values())
                    + " MB; inputs sparse .npy (zeros)")
        log(f"huge: {written / GB:.1f} GB in {seconds:.1f} s = {written / seconds / GB:.2f} "
            f"GB/s; peak RSS per worker {sorted(peaks.values())} MB")
        return [row]
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _names(count: int) -> list[str]:
    """Names whose sorted neighbours share little: a long index (> 50 MB for 1,000,000)."""
    return [f"model/{hashlib.blake2b(i.to_bytes(4, 'little'), digest_size=14).hexdigest()}"
            f"/kernel" for i in range(count)]


def million(directory: str, tensors: int, rounds: int, log: Any) -> list[Row]:
    """Writing and reading ``tensors`` float32[4] tensors and a tenth as many, the two
    sizes alternating round by round (a slow spell of the machine hits both)."""
    import numpy as np

    from pysavedmodel import CheckpointReader, write_checkpoint

    work = Path(directory) / f"pysavedmodel-million-{os.getpid()}"
    work.mkdir(parents=True)
    counts = (tensors // 10, tensors)
    try:
        inputs = {}
        for count in counts:
            data = np.random.default_rng(0).random(count * 4, dtype=np.float32)
            inputs[count] = {name: data[4 * i:4 * i + 4].copy()
                             for i, name in enumerate(_names(count))}
            del data
        gc.collect()
        rows = {}
        for count in counts:
            group = f"million ({count} float32[4] tensors)"
            rows[count] = (Row(group, "write_checkpoint, 1 shard", count * 16),
                           Row(group, "CheckpointReader open + get_tensor of each", count * 16))
        index_mb: dict[int, float] = {}
        for round_ in range(rounds + 1):  # round 0 is the warm-up
            for count in counts:
                prefix = work / f"ck{count}" / "model"
                shutil.rmtree(prefix.parent, ignore_errors=True)
                start = time.perf_counter()
                write_checkpoint(prefix, inputs[count])
                written = time.perf_counter() - start
                start = time.perf_counter()
                with CheckpointReader(prefix) as reader:
                    get = reader.get_tensor
                    for name in reader.keys():
                        get(name)
                read = time.perf_counter() - start
                index_mb[count] = Path(f"{prefix}.index").stat().st_size / 1e6
                if round_:
                    rows[count][0].samples.append(written)
                    rows[count][1].samples.append(read)
                log(f"million: {count} tensors, round {round_}: write {written:.2f} s, "
                    f"read {read:.2f} s, index {index_mb[count]:.1f} MB")
                shutil.rmtree(prefix.parent, ignore_errors=True)
        for count in counts:
            for row in rows[count]:
                row.finish()
                assert row.seconds is not None
                row.note = (f"{row.seconds / count * 1e6:.2f} us/tensor; index "
                            f"{index_mb[count]:.1f} MB")
        small, big = counts
        for mine, reference in zip(rows[big], rows[small]):
            assert mine.seconds and reference.seconds
            mine.ratio = (reference.seconds / small) / (mine.seconds / big)
            mine.ratio_to = f"{reference.name}, {small} tensors (per tensor)"
        return [*rows[small], *rows[big]]
    finally:
        shutil.rmtree(work, ignore_errors=True)
