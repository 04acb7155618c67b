"""Checkpoints written by many workers, against real TensorFlow 2.21 (one TF subprocess).

(a) checkpoints written through a ProcessPoolExecutor and through a dask.distributed
    cluster read back equal in tf.train.load_checkpoint;
(b) TF's own MergeV2Checkpoints on our shard bundles gives the same bytes as our merge
    (a partitioned tensor with slices in two shards included).
"""

from __future__ import annotations

import concurrent.futures
import functools
import json
import multiprocessing
import shutil
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from pysavedmodel.format.bundle import CheckpointWriter
from pysavedmodel.format.distributed import (
    merge_shards,
    shard_prefix,
    write_checkpoint_distributed,
    write_shard,
)
from tests.interop.checkpoint_json import TF_PRELUDE, encode
from tests.support.tf import run_tf

TF_SCRIPT = TF_PRELUDE + r"""

tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=spec["merge"]["shards"],
                              destination_prefix=spec["merge"]["prefix"])
result = {}
for label, prefix in spec["read"].items():
    reader = tf.train.load_checkpoint(prefix)
    result[label] = {k: encode(reader.get_tensor(k))
                     for k in sorted(reader.get_variable_to_shape_map())}
print(json.dumps(result))
"""


def strings(*items: bytes) -> np.ndarray:
    out = np.empty(len(items), dtype=object)
    out[:] = list(items)
    return out


def tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(31)
    return {
        "layer0/kernel": rng.standard_normal((128, 64)).astype(np.float32),
        "layer0/bias": rng.standard_normal(64).astype(np.float16),
        "layer1/kernel": rng.standard_normal((64, 8)).astype(ml_dtypes.bfloat16),
        "embed": rng.integers(-2**40, 2**40, (50, 4)).astype(np.int64),
        "complex": (rng.standard_normal(5) + 1j * rng.standard_normal(5)).astype(np.complex64),
        "vocab": strings(b"", b"alpha", b"\x00\xff" * 150),
        "mask": np.array([[True, False], [False, True]]),
        "step": np.array(7, np.uint32),
        "empty": np.zeros((0, 2), np.float64),
    }


def npy_loaders(directory: Path, values: dict[str, np.ndarray]) -> dict[str, Any]:
    """Picklable loaders reading .npy files from shared storage (run on the workers)."""
    directory.mkdir(parents=True)
    loaders: dict[str, Any] = {}
    for i, (name, value) in enumerate(values.items()):
        if value.dtype == np.dtype(ml_dtypes.bfloat16):  # .npy cannot hold it: pass the array
            loaders[name] = value
            continue
        path = directory / f"{i}.npy"
        np.save(path, value, allow_pickle=value.dtype == object)
        loaders[name] = functools.partial(np.load, str(path), allow_pickle=value.dtype == object)
    return loaders


@pytest.fixture(scope="module")
def tf_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from distributed import Client, LocalCluster  # a test-only extra

    root = tmp_path_factory.mktemp("distributed_interop")
    values = tensors()
    with concurrent.futures.ProcessPoolExecutor(
            2, mp_context=multiprocessing.get_context("spawn")) as pool:
        write_checkpoint_distributed(root / "pool" / "ck", values, num_shards=3, executor=pool)
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        write_checkpoint_distributed(root / "dask" / "ck", npy_loaders(root / "npy", values),
                                     num_shards=4, executor=client.get_executor())

    # shard bundles, merged by us and (a copy) by TF; "part" has a slice in shards 0 and 2
    full = np.arange(40, dtype=np.float32).reshape(8, 5)
    shards_src = root / "shards" / "ck"
    names = list(values)
    write_shard(shards_src, {n: values[n] for n in names[:4]}, shard=0, num_shards=3)
    write_shard(shards_src, {n: values[n] for n in names[4:]}, shard=1, num_shards=3)
    with CheckpointWriter(shard_prefix(shards_src, 2, 3)) as writer:
        writer.add_slice("part", (8, 5), "5,3:-", full[5:])
        writer.add("zzz/last", np.int8([1, 2]))
    with CheckpointWriter(f"{shard_prefix(shards_src, 0, 3)}_extra") as writer:
        writer.add_slice("part", (8, 5), "0,5:-", full[:5])  # a 4th bundle: TF's names differ
    shard_list = [shard_prefix(shards_src, s, 3) for s in range(3)]
    shard_list.append(Path(f"{shard_prefix(shards_src, 0, 3)}_extra"))
    tf_dir = root / "tf_merge"
    shutil.copytree(root / "shards", tf_dir)
    merge_shards(shard_list, root / "ours" / "ck")

    spec = {
        "merge": {"shards": [str(tf_dir / p.relative_to(root / "shards")) for p in shard_list],
                  "prefix": str(root / "theirs" / "ck")},
        "read": {"pool": str(root / "pool" / "ck"), "dask": str(root / "dask" / "ck"),
                 "theirs": str(root / "theirs" / "ck"), "ours": str(root / "ours" / "ck")},
    }
    spec_path = root / "spec.json"
    spec_path.write_text(json.dumps(spec))
    result: dict[str, Any] = run_tf(TF_SCRIPT, spec_path)
    result["root"] = str(root)
    result["expected_merge"] = {**values, "part": full, "zzz/last": np.int8([1, 2])}
    return result


@pytest.mark.parametrize("label", ["pool", "dask"])
def test_tensorflow_reads_checkpoints_written_by_workers(tf_run: dict[str, Any],
                                                         label: str) -> None:
    expected = {name: encode(value) for name, value in tensors().items()}
    assert tf_run[label] == expected


def test_tensorflow_merge_equals_ours_byte_for_byte(tf_run: dict[str, Any]) -> None:
    root = Path(tf_run["root"])
    ours = {p.name: p.read_bytes() for p in (root / "ours").iterdir()}
    theirs = {p.name: p.read_bytes() for p in (root / "theirs").iterdir()}
    assert sorted(ours) == ["ck.data-00000-of-00004", "ck.data-00001-of-00004",
                            "ck.data-00002-of-00004", "ck.data-00003-of-00004", "ck.index"]
    assert ours == theirs
    expected = {name: encode(value) for name, value in tf_run["expected_merge"].items()}
    assert tf_run["ours"] == expected
    assert tf_run["theirs"] == expected
