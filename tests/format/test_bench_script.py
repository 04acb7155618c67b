"""scripts/bench.py end to end with tiny sizes: every row and target is reported.

No timing assertions: only that each contender ran, was measured and landed in the
JSON document (and, with TensorFlow, that SaveV2 wrote the same bytes we did).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support import venvs

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "scripts" / "bench.py"
SMALL = ["--size-mib", "2", "--tensors", "4", "--tiny", "50", "--mlp-variables", "4",
         "--mlp-width", "8", "--graph-nodes", "10,20", "--rounds", "2", "--import-rounds", "1",
         "--json", "-q"]

CORE_ROWS = {
    "write": ["plain write, 1 thread", "plain write, {n} threads/files",
              "plain write + CRC32C, {n} threads/files",
              "write_checkpoint, 1 shard", "write_checkpoint, {n} shards",
              "write_checkpoint, 1 shard, durable=True", "safetensors save_file", "np.savez",
              "write_checkpoint, 1 shard, page-aligned arrays",
              "safetensors save_file, page-aligned arrays"],
    "read": ["plain read into new arrays", "plain read once, cut into views",
             "CheckpointReader.get_tensor (mmap, CRC)", "read_checkpoint (copies, CRC)"],
    "tiny write": ["plain write, 1 thread", "write_checkpoint, 1 shard",
                   "merge_shards of 4 shard bundles (merge only)"],
    "tiny read": ["plain read into new arrays", "plain read once, cut into views",
                  "CheckpointReader.get_tensor (mmap, CRC)", "read_checkpoint (copies, CRC)"],
    "mlp": ["pysavedmodel import+build+save (fresh process)",
            "pysavedmodel import+build+save, CPU time", "pysavedmodel import",
            "pysavedmodel build", "pysavedmodel save",
            "format='tf1': import+build+save (fresh process)"],
    "import": ["import pysavedmodel", "import pysavedmodel + public API",
               "import numpy (part of the above)",
               "import pysavedmodel + public API, numpy already imported"],
    # one group per --graph-nodes size (10 and 20 nodes)
    "graph": ["Graph.op", "Graph.from_dict (GraphDef)"] * 2,
}
TF_ROWS = {
    "write": ["TF SaveV2"], "read": ["TF load_checkpoint + get_tensor"],
    "tiny write": ["TF SaveV2"], "tiny read": ["TF load_checkpoint + get_tensor"],
    "mlp": ["TF graph + variables", "TF SavedModelBuilder save",
            "TF build+save (import excluded)"],
    "import": ["import tensorflow"],
    "graph": [],
}
RSS_ROWS = {("write", "plain write, 1 thread"), ("write", "plain write, {n} threads/files"),
            ("write", "write_checkpoint, 1 shard"),
            ("write", "write_checkpoint, {n} shards"), ("write", "safetensors save_file"),
            ("write", "np.savez"), ("write", "TF SaveV2"),
            ("tiny write", "write_checkpoint, 1 shard")}


def run_bench(tmp_path: Path, *extra: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, str(BENCH), *SMALL, "--dir", str(tmp_path), *extra],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "targets" in proc.stderr  # the table goes to stderr with --json
    assert list(tmp_path.iterdir()) == []  # the work directory is removed
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def group_kind(group: str) -> str:
    """'tiny write (50 float32[4] tensors)' -> 'tiny write'."""
    return group.split(" (")[0]


def check_rows(result: dict[str, Any], expected: dict[str, list[str]]) -> None:
    n = result["machine"]["cores"]
    got: dict[str, list[str]] = {}
    for row in result["rows"]:
        got.setdefault(group_kind(row["group"]), []).append(row["name"])
    want = {kind: sorted(name.format(n=n) for name in names)
            for kind, names in expected.items()}
    assert {kind: sorted(names) for kind, names in got.items()} == want
    rss_rows = {(kind, name.format(n=n)) for kind, name in RSS_ROWS}
    for row in result["rows"]:
        kind = group_kind(row["group"])
        assert row["samples"], row
        assert row["seconds"] is not None and row["seconds"] > 0, row
        assert row["min_seconds"] <= row["seconds"] <= row["max_seconds"], row
        if kind in ("write", "read"):
            assert row["nbytes"] == 2 << 20
            assert row["gbps"] > 0
        if kind in ("tiny write", "tiny read"):
            assert row["nbytes"] == 50 * 4 * 4
        assert (row["peak_rss_mb"] is not None) == ((kind, row["name"]) in rss_rows), row
        if kind == "graph":
            assert row["note"].endswith(" us/node"), row
        if row["name"].startswith(("write_checkpoint", "CheckpointReader")):
            assert row["ratio"] is not None and row["ratio"] > 0 and row["ratio_to"], row


def test_bench_reports_every_row_without_tensorflow(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--no-tf")
    check_rows(result, CORE_ROWS)
    assert result["config"]["size_mib"] == 2 and result["config"]["tiny"] == 50
    assert result["config"]["tf_python"] is None
    assert result["machine"]["cores"] >= 1
    assert "tmpfs" in result["machine"]["filesystem"] or result["machine"]["filesystem"]
    assert [t["target"] for t in result["targets"]] == [
        "1-shard write vs one-thread plain write",
        "multi-shard write vs per-core plain write",
        "1-shard write vs safetensors save_file (same run)",
        "verified read (get_tensor) GB/s",
        "peak RSS above inputs, 1-shard write (MB)",
        f"peak RSS above inputs, {result['machine']['cores']}-shard write (MB)",
        "tiny-tensor checkpoint written (s)",
        "import pysavedmodel + public API, numpy included (s)",
        "MLP build + save incl. import (s)",
        "MLP build + save incl. import, format='tf1' (s)",
        "tiny-tensor open + get_tensor vs one read cut into views",
        "tiny-tensor merge_shards, 4 shard bundles (s)",
        "Graph.op at 20 nodes (us/node, CPU)",
        "Graph.from_dict at 20 nodes (us/node, CPU)",
    ]
    assert all(isinstance(t["met"], bool) for t in result["targets"])
    (behind,) = [t for t in result["targets"] if "safetensors" in t["target"]]
    assert "x when both write page-aligned copies of the arrays" in behind["note"]
    # The checksummed plain write is the multi-shard write's floor, compared in its note.
    rows = {row["name"]: row for row in result["rows"] if row["group"].startswith("write (")}
    n = result["machine"]["cores"]
    floor = rows[f"plain write + CRC32C, {n} threads/files"]
    assert floor["ratio_to"] == f"plain write, {n} threads/files" and floor["ratio"] > 0
    (multi,) = [t for t in result["targets"] if t["target"].startswith("multi-shard")]
    assert multi["note"] == ("the per-core plain write plus a CRC32C of its bytes alone: "
                             f"{floor['ratio']:.2f}x")
    assert isinstance(result["machine"]["free_page_reporting"], bool)


def test_bench_only_selects_groups(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--no-tf", "--no-rss", "--only", "tiny")
    assert {group_kind(r["group"]) for r in result["rows"]} == {"tiny write", "tiny read"}
    assert all(r["peak_rss_mb"] is None for r in result["rows"])


def test_bert_group_is_opt_in_and_compares_with_the_plain_write(tmp_path: Path) -> None:
    # One encoder layer: the embeddings alone make a ~95 MB safetensors file.
    result = run_bench(tmp_path, "--no-tf", "--only", "bert", "--bert-layers", "1",
                       "--rounds", "1", "--repeat", "2")
    names = sorted(row["name"] for row in result["rows"])
    assert names == ["build_from_spec (imports done)",
                     "interpreter start + the command's imports (no work, fresh process)",
                     "plain write + fsync (arrays in memory)",
                     "pysavedmodel build (command, fresh process)",
                     "single data file: build_from_spec(num_shards=1)"]
    (plain,) = [r for r in result["rows"] if r["name"].startswith("plain")]
    for row in result["rows"]:
        assert row["group"].startswith("bert (1 layers, ") and row["seconds"] > 0, row
        if not row["name"].startswith("plain"):
            assert row["ratio_to"] == "plain write + fsync (arrays in memory)", row
            # notes state the pooled medians of the repeats, not the first run's
            assert row["note"].startswith(f"{row['seconds'] / plain['seconds']:.2f}x "), row
    (command,) = [t for t in result["targets"]
                  if t["target"].startswith("BERT-size build (command)")]
    assert "the command's floor is" in command["note"]  # interpreter start + imports + write
    default = run_bench(tmp_path, "--no-tf", "--only", "graph")
    assert not any(row["group"].startswith("bert") for row in default["rows"])


def test_repeat_pools_rounds_and_write_docs_renders_them(tmp_path: Path) -> None:
    work, docs = tmp_path / "work", tmp_path / "performance.md"
    work.mkdir()
    result = run_bench(work, "--no-tf", "--no-rss", "--only", "tiny", "--repeat", "2",
                       "--write-docs", str(docs))
    assert result["repeats"] == 2
    assert all(len(r["samples"]) == 2 * 2 for r in result["rows"])  # --rounds 2, twice
    text = docs.read_text()
    assert text.startswith("# Performance\n") and "generated by scripts/bench.py" in text
    assert "--repeat 2" in text and result["machine"]["cpu"] in text
    # The swings' likely cause is named where this machine has it, and only there.
    assert ("free page reporting" in text) == result["machine"]["free_page_reporting"]
    for row in result["rows"]:
        assert f"| {row['name']} | {row['seconds']:.3f} | {row['min_seconds']:.3f}–" in text


def test_bench_rejects_unknown_groups(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, str(BENCH), "--only", "write,bogus"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown group(s) ['bogus']" in proc.stderr


@pytest.mark.interop
def test_bench_with_tensorflow(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--tf-python", str(venvs.tf_python()))
    expected = {kind: CORE_ROWS[kind] + TF_ROWS[kind] for kind in CORE_ROWS}
    check_rows(result, expected)
    assert result["identical_to_tf"] == {"write": True, "tiny": True}
    names = [t["target"] for t in result["targets"]]
    assert "1-shard write vs TF SaveV2" in names
    assert "verified read vs TF load_checkpoint" in names


def test_million_scale_run_compares_time_per_tensor(tmp_path: Path) -> None:
    result = run_bench(tmp_path, "--no-tf", "--only", "million", "--million-tensors", "300",
                       "--scale-dir", str(tmp_path))
    assert [r["group"] for r in result["rows"]] == [
        "million (30 float32[4] tensors)"] * 2 + ["million (300 float32[4] tensors)"] * 2
    big = result["rows"][2:]
    assert all(r["ratio"] > 0 and "us/tensor" in r["note"] for r in big)
    assert [t["target"] for t in result["targets"]] == [
        "million tensors: write per tensor vs a tenth as many",
        "million tensors: open + read per tensor vs a tenth as many"]
