"""The README's example runs as written and exports what it says."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from pysavedmodel import read_checkpoint
from pysavedmodel._proto import saved_model_pb2

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_mlp_example_exports_a_savedmodel(tmp_path: Path) -> None:
    text = README.read_text()
    match = re.search(r"## Export a numpy MLP in ten lines\n\n```python\n(.*?)```", text, re.S)
    assert match, "README lost its MLP example"
    code = match.group(1)
    body = [line for line in code.splitlines()
            if line.strip() and not line.startswith("import ") and not line.startswith("    ")]
    assert len(body) <= 10
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        exec(compile(code, str(README), "exec"), {})
    finally:
        os.chdir(cwd)
    export = tmp_path / "export" / "mlp" / "1"
    model = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    signature = model.meta_graphs[0].signature_def["serving_default"]
    assert signature.outputs["probs"].name == "probs:0"
    variables = read_checkpoint(export / "variables" / "variables")
    assert sorted(variables) == ["dense/bias", "dense/kernel", "out/kernel"]
    assert variables["dense/kernel"].shape == (4, 8)
    np.testing.assert_array_equal(variables["dense/bias"], np.zeros(8, np.float32))
