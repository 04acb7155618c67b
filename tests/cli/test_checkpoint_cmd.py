"""``pysavedmodel checkpoint PREFIX``: listing and values of the TF fixtures and our writes."""

from __future__ import annotations

import base64
import json
import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pysavedmodel import write_checkpoint
from pysavedmodel.dtypes import by_name

from .cli_run import run, run_json, run_ok


def _manifest(fixtures_dir: Path, name: str) -> dict[str, Any]:
    return json.loads((fixtures_dir / name / "manifest.json").read_text())


def _expected_value(entry: dict[str, Any]) -> np.ndarray:
    if "values_b64" in entry:
        items = [base64.b64decode(v) for v in entry["values_b64"]]
        return np.array(items, dtype=object).reshape(entry["shape"])
    dtype = by_name(entry["dtype"]).numpy
    return np.frombuffer(bytes.fromhex(entry["values_hex"]), dtype=dtype).reshape(entry["shape"])


def _varint_len(n: int) -> int:
    return max(1, math.ceil(n.bit_length() / 7))


def _stored_bytes(entry: dict[str, Any]) -> int:
    """Fixed types: the raw bytes; strings: varint lengths + 4-byte length crc + bytes."""
    if "values_b64" in entry:
        items = [base64.b64decode(v) for v in entry["values_b64"]]
        return sum(_varint_len(len(b)) for b in items) + 4 + sum(len(b) for b in items)
    return len(bytes.fromhex(entry["values_hex"]))


def _table_rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    assert re.split(r"\s{2,}", lines[0]) == ["name", "dtype", "shape", "bytes", "shard"]
    rows = {}
    for line in lines[1:-1]:
        name, dtype, shape, size, shard = re.split(r"\s{2,}", line.strip())
        rows[name] = [dtype, shape, size, shard]
    return rows


def test_listing_matches_the_dtypes_manifest(fixtures_dir: Path) -> None:
    manifest = _manifest(fixtures_dir, "checkpoint_dtypes")["tensors"]
    text = run_ok("checkpoint", str(fixtures_dir / "checkpoint_dtypes" / "variables"))
    rows = _table_rows(text)
    assert sorted(rows) == sorted(manifest)
    for name, entry in manifest.items():
        shape = "[" + ", ".join(str(d) for d in entry["shape"]) + "]"
        assert rows[name] == [entry["dtype"], shape, str(_stored_bytes(entry)), "0"], name
    total = sum(_stored_bytes(e) for e in manifest.values())
    assert text.splitlines()[-1] == f"{len(manifest)} tensors, {total} bytes in 1 data file(s)"


def test_listing_reports_shards_and_slices(fixtures_dir: Path) -> None:
    sharded = _manifest(fixtures_dir, "checkpoint_sharded")
    rows = run_json("checkpoint", str(fixtures_dir / "checkpoint_sharded" / "variables"))
    assert {r["name"]: r["shards"] for r in rows["tensors"]} == {
        name: [int(shard)] for shard, names in sharded["shards"].items() for name in names}
    sliced = _manifest(fixtures_dir, "checkpoint_sliced")
    text = run_ok("checkpoint", str(fixtures_dir / "checkpoint_sliced" / "variables"))
    table = _table_rows(text)
    for name, entry in sliced["tensors"].items():
        saves = [s for s in sliced["saves"] if s["name"] == name]
        stored = sum(len(bytes.fromhex(s["values_hex"])) for s in saves)
        shard = f"0 ({len(saves)} slices)" if saves[0]["shape_and_slice"] else "0"
        assert table[name][1:] == ["[" + ", ".join(map(str, entry["shape"])) + "]",
                                   str(stored), shard]


def test_many_tensors_are_all_listed(fixtures_dir: Path) -> None:
    doc = run_json("checkpoint", str(fixtures_dir / "checkpoint_many" / "variables"))
    # The manifest describes the names in its note: layer_%05d/{kernel,bias} for 6000 layers.
    names = [f"model/encoder/layer_{i:05d}/{k}" for i in range(6000) for k in ("kernel", "bias")]
    assert [r["name"] for r in doc["tensors"]] == sorted(names)
    assert {(r["dtype"], tuple(r["shape"]), r["bytes"]) for r in doc["tensors"]} == {
        ("float32", (2,), 8)}


def test_tensor_values_json_equal_the_manifest(fixtures_dir: Path) -> None:
    manifest = _manifest(fixtures_dir, "checkpoint_dtypes")["tensors"]
    names = [n for n in manifest if not n.startswith("edge/nan")]
    args = [a for n in names for a in ("--tensor", n)]
    doc = run_json("checkpoint", str(fixtures_dir / "checkpoint_dtypes" / "variables"), *args)
    assert [t["name"] for t in doc["tensors"]] == names
    for tensor in doc["tensors"]:
        expected = _expected_value(manifest[tensor["name"]])
        if expected.dtype == object:
            want = np.vectorize(lambda b: b.decode("utf-8", "backslashreplace"),
                                otypes=[object])(expected) if expected.size else expected
            assert np.array(tensor["values"], dtype=object).reshape(expected.shape).tolist() \
                == want.tolist()
        elif expected.dtype.kind == "c":
            got = np.array(tensor["values"], dtype=np.float64).reshape(*expected.shape, 2)
            np.testing.assert_array_equal(got[..., 0] + 1j * got[..., 1], expected)
        else:
            got = np.array(tensor["values"]).reshape(expected.shape)
            np.testing.assert_array_equal(got, expected.astype(np.float64)
                                          if expected.dtype.kind in "fV" else expected)


def test_non_finite_values_are_strict_json(fixtures_dir: Path) -> None:
    out = run_ok("checkpoint", str(fixtures_dir / "checkpoint_dtypes" / "variables"),
                 "--tensor", "edge/nan_inf", "--json")
    doc = json.loads(out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    assert doc["tensors"][0]["values"] == ["NaN", "Infinity", "-Infinity", -0.0]


def test_tensor_values_text_is_numpy_style(fixtures_dir: Path) -> None:
    manifest = _manifest(fixtures_dir, "checkpoint_dtypes")["tensors"]
    prefix = str(fixtures_dir / "checkpoint_dtypes" / "variables")
    for name in ("dtypes/float32", "dtypes/int64", "dtypes/bfloat16", "strings/vector"):
        expected = _expected_value(manifest[name])
        if name.endswith("bfloat16"):
            expected = expected.astype(np.float32)
        lines = run_ok("checkpoint", prefix, "--tensor", name).splitlines()
        shape = "[" + ", ".join(str(d) for d in manifest[name]["shape"]) + "]"
        assert lines[0] == f"{name}: {manifest[name]['dtype']} {shape}"
        assert "\n".join(lines[1:]) == np.array2string(expected, separator=" ")


def test_large_tensors_are_summarized(tmp_path: Path) -> None:
    prefix = tmp_path / "ckpt"
    write_checkpoint(prefix, {"big": np.arange(5000, dtype=np.int32),
                              "edge": np.arange(1000, dtype=np.int32)})
    big = run_ok("checkpoint", str(prefix), "--tensor", "big")
    assert "..." in big and len(big) < 200
    assert big.splitlines()[1] == "[   0    1    2 ... 4997 4998 4999]"
    edge = run_ok("checkpoint", str(prefix), "--tensor", "edge")
    assert "..." not in edge and " 999]" in edge


def test_prefix_spellings(tmp_path: Path, fixtures_dir: Path) -> None:
    prefix = tmp_path / "ck" / "model"
    write_checkpoint(prefix, {"a": np.ones(3, np.float32)}, num_shards=1)
    plain = run_ok("checkpoint", str(prefix))
    assert run_ok("checkpoint", f"{prefix}.index") == plain
    savedmodel = run_json("checkpoint", str(fixtures_dir / "savedmodel_v1_builder"))
    assert [t["name"] for t in savedmodel["tensors"]] == ["dense/bias", "dense/kernel"]


def test_errors_are_one_line_naming_the_input(tmp_path: Path, fixtures_dir: Path) -> None:
    missing = run("checkpoint", str(tmp_path / "absent"))
    assert missing.returncode == 1 and missing.stdout == ""
    assert missing.stderr.count("\n") == 1 and "absent.index" in missing.stderr
    unknown = run("checkpoint", str(fixtures_dir / "checkpoint_dtypes" / "variables"),
                  "--tensor", "no/such")
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert "'no/such'" in unknown.stderr and unknown.stderr.count("\n") == 1
    (tmp_path / "bad.index").write_bytes(b"not a table at all" * 4)
    corrupt = run("checkpoint", str(tmp_path / "bad"))
    assert corrupt.returncode == 1 and "bad.index" in corrupt.stderr
    assert "Traceback" not in corrupt.stderr


def test_partitioned_tensor_values_are_assembled(fixtures_dir: Path) -> None:
    sliced = _manifest(fixtures_dir, "checkpoint_sliced")["tensors"]
    doc = run_json("checkpoint", str(fixtures_dir / "checkpoint_sliced" / "variables"),
                   "--tensor", "part/cols", "--tensor", "part/rows")
    for tensor in doc["tensors"]:
        expected = _expected_value(sliced[tensor["name"]])
        np.testing.assert_array_equal(np.array(tensor["values"]), expected)
        assert tensor["slices"] > 1 and tensor["bytes"] == expected.nbytes


def test_tf2_checkpoint_lists_plain_variable_paths(fixtures_dir: Path) -> None:
    model = fixtures_dir / "savedmodel_v2_module"
    text = run_ok("checkpoint", str(model))
    lines = text.splitlines()
    assert lines[0].split() == ["name", "dtype", "shape", "bytes", "shard", "variable"]
    assert lines[1].split()[0] == "_CHECKPOINTABLE_OBJECT_GRAPH" and lines[1].split()[-1] == "-"
    assert lines[3].split()[0] == "w/.ATTRIBUTES/VARIABLE_VALUE" and lines[3].split()[-1] == "w"
    assert lines[-1] == "TF2 object-based checkpoint: 7 objects in its object graph"
    doc = run_json("checkpoint", str(model))
    assert doc["object_graph_nodes"] == 7
    assert {t["name"]: t["variable"] for t in doc["tensors"]} == {
        "_CHECKPOINTABLE_OBJECT_GRAPH": None, "b/.ATTRIBUTES/VARIABLE_VALUE": "b",
        "w/.ATTRIBUTES/VARIABLE_VALUE": "w"}
    # --tensor takes the plain path too
    by_plain = run_json("checkpoint", str(model), "--tensor", "b")["tensors"][0]
    assert by_plain["name"] == "b/.ATTRIBUTES/VARIABLE_VALUE" and by_plain["values"] == [0, 0]


def test_tf1_checkpoint_has_no_variable_column(tmp_path: Path) -> None:
    write_checkpoint(tmp_path / "c", {"dense/kernel": np.ones(2, np.float32)})
    text = run_ok("checkpoint", str(tmp_path / "c"))
    assert "variable" not in text.splitlines()[0] and "TF2" not in text
    assert "variable" not in run_json("checkpoint", str(tmp_path / "c"))["tensors"][0]
