"""A converted CNN goes through TF's TFLite converter and saved_model_cli, and the TFLite
interpreter gives onnxruntime's outputs (one TF subprocess)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest

import pysavedmodel
from tests.onnx.test_models import RESNET
from tests.support.onnx_env import ort_run
from tests.support.tf import run_tf

SCRIPT = r"""
import json, subprocess, sys
import numpy as np
import tensorflow as tf
export, feeds_path, out_path = sys.argv[1:4]
converter = tf.lite.TFLiteConverter.from_saved_model(export)
flat = converter.convert()
interp = tf.lite.Interpreter(model_content=flat)
x = np.load(feeds_path)["x"]
detail = interp.get_input_details()[0]
interp.resize_tensor_input(detail["index"], list(x.shape))
interp.allocate_tensors()
interp.set_tensor(detail["index"], x)
interp.invoke()
out = interp.get_tensor(interp.get_output_details()[0]["index"])
np.save(out_path, out)
cli = subprocess.run([sys.executable, "-m", "tensorflow.python.tools.saved_model_cli", "show",
                      "--dir", export, "--tag_set", "serve", "--signature_def",
                      "serving_default"], capture_output=True, text=True)
print(json.dumps({"cli_rc": cli.returncode, "cli": cli.stdout[-3000:] + cli.stderr[-2000:]}))
"""


@pytest.mark.interop
def test_tflite_converter_and_saved_model_cli(tmp_path: Path) -> None:
    x = np.random.default_rng(7).standard_normal((1, 3, 32, 32)).astype(np.float32)
    onnx.save(RESNET, str(tmp_path / "m.onnx"))
    (expected,) = ort_run([tmp_path / "m.onnx"], [{"x": x}])
    export = pysavedmodel.from_onnx(RESNET, tmp_path / "sm")
    np.savez(tmp_path / "feeds.npz", x=x)
    report = run_tf(SCRIPT, export, tmp_path / "feeds.npz", tmp_path / "out.npy")
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), expected["logits"], rtol=1e-3,
                               atol=1e-4)
    assert report["cli_rc"] == 0, report["cli"]
    assert "inputs['x'] tensor_info" in report["cli"], json.dumps(report)
    assert "shape: (-1, 3, 32, 32)" in report["cli"]
    assert "outputs['logits'] tensor_info" in report["cli"]
