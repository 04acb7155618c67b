"""Checkpoints against real TensorFlow 2.21 (one TF subprocess for the whole module).

(a) TF's tf.train.load_checkpoint reads everything we write, bit-exactly;
(b) for the same tensors, our files equal TF's SaveV2 (+ MergeV2Checkpoints) byte for byte.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from pysavedmodel.format.bundle import CheckpointWriter, write_checkpoint
from pysavedmodel.format.ordered_code import slice_key
from tests.interop.checkpoint_json import TF_PRELUDE, encode
from tests.support.bundle_files import index_entries
from tests.support.tf import run_tf

TF_SCRIPT = TF_PRELUDE + r"""

def decode(desc):
    if "b64" in desc:
        out = np.empty(len(desc["b64"]), dtype=object)
        out[:] = [base64.b64decode(x) for x in desc["b64"]]
        return tf.constant(out.reshape(desc["shape"]), dtype=tf.string)
    dtype = tf.as_dtype(desc["dtype"])
    array = np.frombuffer(bytes.fromhex(desc["hex"]), dtype=dtype.as_numpy_dtype)
    return tf.constant(array.reshape(desc["shape"]), dtype=dtype)

result = {"read": {}, "slices": {}}
# (a) read our checkpoints
for label, prefix in spec["read"].items():
    reader = tf.train.load_checkpoint(prefix)
    keys = sorted(reader.get_variable_to_shape_map())
    result["read"][label] = {"keys": keys,
                             "tensors": {k: encode(reader.get_tensor(k)) for k in keys}}
# ... and restore parts of a partitioned tensor through RestoreV2's slicing
for name, (prefix, shape_and_slice, dtype) in spec["restore_slices"].items():
    (value,) = tf.raw_ops.RestoreV2(prefix=prefix, tensor_names=[name],
                                    shape_and_slices=[shape_and_slice], dtypes=[tf.as_dtype(dtype)])
    result["slices"][name] = encode(value.numpy())

# (b) write with SaveV2 (+ MergeV2Checkpoints)
def save(prefix, items):
    tf.raw_ops.SaveV2(prefix=prefix, tensor_names=[i["name"] for i in items],
                      shape_and_slices=[i.get("slice", "") for i in items],
                      tensors=[decode(i["value"]) for i in items])

for job in spec["write"]:
    shards = job["shards"]
    if len(shards) == 1:
        save(job["prefix"], shards[0])
        continue
    temp = os.path.join(os.path.dirname(job["prefix"]), "tmp_merge", "part")
    parts = [tf.raw_ops.ShardedFilename(basename=temp, shard=i, num_shards=len(shards))
             .numpy().decode() for i in range(len(shards))]
    for part, items in zip(parts, shards):
        save(part, items)
    tf.raw_ops.MergeV2Checkpoints(checkpoint_prefixes=parts, destination_prefix=job["prefix"])
result["written"] = True
print(json.dumps(result))
"""


# --------------------------------------------------------------------------- values


def strings(values: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out.reshape(shape)


FIXED = ["float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
         "uint32", "uint64", "complex64", "complex128", "bfloat16", "bool"]


def random_value(rng: np.random.Generator, dtype_name: str, shape: tuple[int, ...]) -> np.ndarray:
    if dtype_name == "string":
        count = int(np.prod(shape, dtype=np.int64))
        return strings([rng.bytes(int(rng.integers(0, 300))) for _ in range(count)], shape)
    dtype = np.dtype(ml_dtypes.bfloat16) if dtype_name == "bfloat16" else np.dtype(dtype_name)
    size = int(np.prod(shape, dtype=np.int64))
    if dtype == np.bool_:
        return rng.integers(0, 2, size).astype(bool).reshape(shape)
    raw = rng.bytes(size * dtype.itemsize)  # any bit pattern, NaN payloads included
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


def all_dtypes_tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(2026)
    tensors: dict[str, np.ndarray] = {}
    for name in FIXED + ["string"]:
        tensors[f"{name}/matrix"] = random_value(rng, name, (3, 5))
        tensors[f"{name}/scalar"] = random_value(rng, name, ())
        tensors[f"{name}/empty"] = random_value(rng, name, (0, 4))
    tensors["float32/nan_payloads"] = np.array(
        [0x7FC00001, 0xFFBFFFFF, 0x7F800001, 0x7F800000, 0x80000000], np.uint32).view(np.float32)
    tensors["float64/nan_payloads"] = np.array(
        [0x7FF0000000000001, 0xFFF8DEADBEEF0000], np.uint64).view(np.float64)
    tensors["string/special"] = strings([b"", b"\x00", "ünï".encode(), b"\xff" * 200], (2, 2))
    tensors["python/str"] = np.array(["a", "bé"])  # written as UTF-8
    tensors["rank7"] = random_value(rng, "float32", (1, 2, 1, 2, 1, 2, 3))
    return tensors


def expected_of(value: np.ndarray) -> dict[str, Any]:
    value = np.asarray(value)
    if value.dtype.kind == "U":
        return encode(strings([s.encode() for s in value.reshape(-1).tolist()], value.shape))
    return encode(value)


# --------------------------------------------------------------------------- the TF run


@pytest.fixture(scope="module")
def tf_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("ckpt_interop")
    ours = root / "ours"
    theirs = root / "theirs"
    jobs: list[dict[str, Any]] = []
    reads: dict[str, str] = {}
    expected: dict[str, dict[str, np.ndarray]] = {}

    # (a) everything we write: all dtypes, a 3-shard one, a partitioned one
    all_dtypes = all_dtypes_tensors()
    write_checkpoint(ours / "all" / "ck", all_dtypes)
    reads["all"] = str(ours / "all" / "ck")
    expected["all"] = all_dtypes
    write_checkpoint(ours / "sharded" / "ck", all_dtypes, num_shards=3)
    reads["sharded"] = str(ours / "sharded" / "ck")
    expected["sharded"] = all_dtypes
    rng = np.random.default_rng(5)
    rows = random_value(rng, "float32", (7, 3))
    cols = random_value(rng, "int64", (2, 9))
    flags = random_value(rng, "bool", (4, 2))
    with CheckpointWriter(ours / "sliced" / "ck") as writer:
        writer.add_slice("part/rows", (7, 3), "0,3:-", rows[:3])
        writer.add("plain", np.float32(2))
        writer.add_slice("part/rows", (7, 3), "7 3 3,4:-", rows[3:])
        for start in (6, 0, 3):
            writer.add_slice("part/cols", (2, 9), [(0, -1), (start, 3)], cols[:, start:start + 3])
        writer.add_slice("part/flags", (4, 2), "0,2:-", flags[:2])
        writer.add_slice("part/flags", (4, 2), "2,2:-", flags[2:])
    reads["sliced"] = str(ours / "sliced" / "ck")
    expected["sliced"] = {"part/rows": rows, "part/cols": cols, "part/flags": flags,
                          "plain": np.array(2, np.float32)}
    restore_slices = {"part/rows": [reads["sliced"], "7 3 2,3:1,2", "float32"]}

    # (b) the same random tensors through SaveV2: one shard; two merged shards with a
    # partitioned tensor split across them (the assignment is read back from our index)
    rng = np.random.default_rng(11)
    random_tensors: dict[str, np.ndarray] = {}
    for i, dtype_name in enumerate(rng.permutation(FIXED + ["string"] * 3)):
        shape = tuple(int(d) for d in rng.integers(0, 5, size=int(rng.integers(0, 4))))
        random_tensors[f"rnd/{i:02d}_{dtype_name}"] = random_value(rng, str(dtype_name), shape)
    write_checkpoint(ours / "single" / "variables", random_tensors)
    jobs.append({"prefix": str(theirs / "single" / "variables"),
                 "shards": [[{"name": n, "value": encode(v)} for n, v in random_tensors.items()]]})

    big = random_value(rng, "float64", (800, 5))  # its two slices are the largest items
    by_key: dict[bytes, dict[str, Any]] = {}
    with CheckpointWriter(ours / "merged" / "variables", num_shards=2) as writer:
        for n, v in random_tensors.items():
            writer.add(n, v)
            by_key[n.encode()] = {"name": n, "value": encode(v)}
        for start, length in ((0, 500), (500, 300)):
            writer.add_slice("big", (800, 5), [(start, length), (0, -1)], big[start:start + length])
            by_key[slice_key("big", [(start, length), (0, -1)])] = {
                "name": "big", "slice": f"800 5 {start},{length}:-",
                "value": encode(big[start:start + length])}
    entries = index_entries(ours / "merged" / "variables")
    shards: list[list[dict[str, Any]]] = [[], []]
    for key, entry in sorted(entries.items(), key=lambda kv: (kv[1].shard_id, kv[1].offset)):
        if key in by_key:
            shards[entry.shard_id].append(by_key[key])
    slice_shards = {entries[slice_key("big", [(s, n), (0, -1)])].shard_id
                    for s, n in ((0, 500), (500, 300))}
    jobs.append({"prefix": str(theirs / "merged" / "variables"), "shards": shards})

    for job in jobs:  # SaveV2 creates only the last directory level
        Path(job["prefix"]).parent.mkdir(parents=True, exist_ok=True)
    spec_path = root / "spec.json"
    spec_path.write_text(json.dumps({"read": reads, "write": jobs,
                                     "restore_slices": restore_slices}))
    result = run_tf(TF_SCRIPT, spec_path)
    return {"result": result, "expected": expected, "ours": ours, "theirs": theirs,
            "rows": rows, "slice_shards": slice_shards}


# --------------------------------------------------------------------------- (a)


@pytest.mark.parametrize("label", ["all", "sharded", "sliced"])
def test_tensorflow_reads_what_we_write(tf_run: dict[str, Any], label: str) -> None:
    read = tf_run["result"]["read"][label]
    expected = tf_run["expected"][label]
    assert read["keys"] == sorted(expected)
    for name, value in expected.items():
        assert read["tensors"][name] == expected_of(value), name


def test_tensorflow_restores_a_slice_of_our_partitioned_tensor(tf_run: dict[str, Any]) -> None:
    rows = tf_run["rows"]
    assert tf_run["result"]["slices"]["part/rows"] == encode(rows[2:5, 1:3])


# --------------------------------------------------------------------------- (b)


@pytest.mark.parametrize("label", ["single", "merged"])
def test_byte_identical_to_savev2(tf_run: dict[str, Any], label: str) -> None:
    assert tf_run["result"]["written"]
    ours = tf_run["ours"] / label
    theirs = tf_run["theirs"] / label
    names = sorted(p.name for p in theirs.iterdir() if p.is_file())
    assert sorted(p.name for p in ours.iterdir()) == names
    assert len(names) == (2 if label == "single" else 3)
    for name in names:
        assert (ours / name).read_bytes() == (theirs / name).read_bytes(), name


def test_merged_case_splits_a_partitioned_tensor_across_shards(tf_run: dict[str, Any]) -> None:
    # Otherwise the merge of slice entries would not be exercised by the comparison above.
    assert tf_run["slice_shards"] == {0, 1}
