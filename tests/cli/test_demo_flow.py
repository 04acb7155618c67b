"""The demo's outputs inspected with ``show`` and ``checkpoint`` (was tests/test_cli.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pysavedmodel import read_checkpoint

from .cli_run import run, run_json, run_ok
from .show_parser import parse_all


def test_demo_then_show_and_checkpoint(tmp_path: Path) -> None:
    out = run("demo", str(tmp_path / "demo"))
    assert out.returncode == 0, out.stderr
    export = tmp_path / "demo" / "mlp" / "1"
    facts = parse_all(run_ok("show", str(export), "--all"))
    signature = facts["serve"]["signatures"]["serving_default"]
    assert signature["method_name"] == "tensorflow/serving/predict"
    assert signature["inputs"] == {"x": {"dtype": "DT_FLOAT", "shape": "(-1, 4)",
                                         "name": "serving_default_x:0"}}
    assert {k: v["dtype"] + v["shape"] for k, v in signature["outputs"].items()} == {
        "probs": "DT_FLOAT(-1, 3)"}
    prefix = tmp_path / "demo" / "checkpoint" / "ckpt"
    listed = run_json("checkpoint", str(prefix))["tensors"]
    written = read_checkpoint(prefix)
    assert [t["name"] for t in listed] == sorted(written)
    for row in listed:
        value = written[row["name"]]
        assert row["shape"] == list(value.shape)
        if value.dtype != object:
            assert row["bytes"] == value.nbytes
    step = run_ok("checkpoint", str(prefix), "--tensor", "step").splitlines()
    assert step == ["step: int64 []", str(written["step"])]
    kernel = run_json("checkpoint", str(prefix), "--tensor", "dense/kernel")["tensors"][0]
    np.testing.assert_array_equal(np.array(kernel["values"], np.float32), written["dense/kernel"])
    again = run("demo", str(tmp_path / "demo"))
    assert again.returncode == 1 and "not empty" in again.stderr
