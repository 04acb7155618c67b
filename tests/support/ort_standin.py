"""onnxruntime references for the ONNX converter tests, in ONE subprocess per call.

Stand-in for the ONNX-CORPUS engineer's ``tests/support/onnx_env.ort_run`` (same signature);
to be replaced by it once merged.  Arrays travel through .npz files in a temp dir.  Sessions
run on the CPU execution provider with graph optimisations disabled, so ORT computes each op as
the ONNX spec defines it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from . import venvs

_SCRIPT = r"""
import json, sys
import numpy as np
import onnxruntime as ort
spec = json.loads(sys.argv[1])
opts = ort.SessionOptions()
opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
for i, path in enumerate(spec["models"]):
    sess = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])
    feeds = dict(np.load(f"{spec['dir']}/in_{i}.npz"))
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    np.savez(f"{spec['dir']}/out_{i}.npz", **dict(zip(names, outs)))
print(json.dumps({"ok": len(spec["models"])}))
"""


def ort_run(model_paths: list[Path], feeds: list[dict[str, np.ndarray[Any, Any]]]
            ) -> list[dict[str, np.ndarray[Any, Any]]]:
    """Run each model on its feeds through onnxruntime; outputs by name, in model order."""
    with tempfile.TemporaryDirectory() as tmp:
        for i, feed in enumerate(feeds):
            np.savez(os.path.join(tmp, f"in_{i}.npz"), **feed)
        spec = json.dumps({"models": [str(p) for p in model_paths], "dir": tmp})
        proc = subprocess.run([str(venvs.ort_python()), "-c", _SCRIPT, spec],
                              capture_output=True, text=True, timeout=600)
        if proc.returncode != 0:
            raise AssertionError(f"onnxruntime failed:\n{proc.stderr[-5000:]}")
        return [dict(np.load(os.path.join(tmp, f"out_{i}.npz")))
                for i in range(len(model_paths))]
