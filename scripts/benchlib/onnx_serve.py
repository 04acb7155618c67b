"""Served-speed worker of the ONNX benchmark (``python onnx_serve.py tf|ort``).

Runs in TensorFlow's venv (``tf``: the converted SavedModel through
``tf.saved_model.load(...).signatures``, and the same ResNet-50 written natively with
``tf.nn`` ops in NHWC and in NCHW) or in the ONNX venv (``ort``: onnxruntime on the
``.onnx`` file).  Commands are JSON lines on stdin, replies ``@@bench``-prefixed JSON
lines on stdout (like scripts/benchlib/workers.py), so the driver can interleave the
contenders of both venvs round by round:

* ``{"op": "load", ...}``: build the contenders (see :class:`TFSide` / :class:`ORTSide`);
* ``{"op": "run", "contender": C, "batch": B, "iterations": N}``: N inferences of a
  float32 batch of B images; replies ``{"seconds": per-inference mean}``;
* ``{"op": "output", "contender": C, "input": NPY, "output": NPY}``: one inference on the
  array in NPY, its output saved (the driver checks the converted model against
  onnxruntime);
* ``{"op": "exit"}``.

Standard library + numpy + the venv's framework only; it imports nothing from the project.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from typing import Any

import numpy as np

REPLY = "@@bench "
THREADS = int(os.environ.get("PYSAVEDMODEL_BENCH_THREADS", "2"))


def reply(message: dict[str, Any]) -> None:
    sys.stdout.write(REPLY + json.dumps(message) + "\n")
    sys.stdout.flush()


# ----------------------------------------------------------------------------- TensorFlow


class NativeResNet50:
    """torchvision's ResNet-50 (stride on the 3x3 conv) with BatchNorm folded into the
    convolutions, as the exported model has it, written with tf.nn ops in ``layout``
    ("NHWC" or "NCHW"): convolutions padded symmetrically like PyTorch's (explicit padding;
    ``"SAME"`` would pad stride-2 convolutions asymmetrically, and measured slower at
    batch 1), 3x3/2 max pool ``"SAME"``; He-initialised random weights (speed does not
    depend on them)."""

    def __init__(self, tf: Any, layout: str) -> None:
        self.tf = tf
        self.layout = layout
        rng = np.random.default_rng(0)
        self.variables: list[Any] = []

        def conv(cin: int, cout: int, k: int, stride: int) -> tuple[Any, Any, int, int]:
            w = rng.standard_normal((k, k, cin, cout), dtype=np.float32)
            w *= np.float32(np.sqrt(2.0 / (k * k * cin)))
            b = (0.01 * rng.standard_normal(cout)).astype(np.float32)
            wv, bv = tf.Variable(w), tf.Variable(b)
            self.variables += [wv, bv]
            return wv, bv, stride, k

        self.stem = conv(3, 64, 7, 2)
        self.blocks: list[tuple[list[Any], Any]] = []
        cin = 64
        for stage, count in enumerate([3, 4, 6, 3]):
            width = 64 * 2 ** stage
            for j in range(count):
                stride = 2 if j == 0 and stage > 0 else 1
                body = [conv(cin, width, 1, 1), conv(width, width, 3, stride),
                        conv(width, width * 4, 1, 1)]
                down = (conv(cin, width * 4, 1, stride)
                        if stride != 1 or cin != width * 4 else None)
                self.blocks.append((body, down))
                cin = width * 4
        fc = rng.standard_normal((cin, 1000), dtype=np.float32) * np.float32(1 / np.sqrt(cin))
        self.fc_w = tf.Variable(fc)
        self.fc_b = tf.Variable(np.zeros(1000, np.float32))
        shape = [None, 224, 224, 3] if layout == "NHWC" else [None, 3, 224, 224]
        self.function = tf.function(self.forward,
                                    input_signature=[tf.TensorSpec(shape, tf.float32)])

    def _conv(self, x: Any, spec: tuple[Any, Any, int, int], relu: bool) -> Any:
        tf = self.tf
        w, b, stride, k = spec
        p = (k - 1) // 2
        pads = ([[0, 0], [p, p], [p, p], [0, 0]] if self.layout == "NHWC"
                else [[0, 0], [0, 0], [p, p], [p, p]])
        y = tf.nn.conv2d(x, w, stride, pads, data_format=self.layout)
        y = tf.nn.bias_add(y, b, data_format=self.layout)
        return tf.nn.relu(y) if relu else y

    def forward(self, x: Any) -> Any:
        tf = self.tf
        x = self._conv(x, self.stem, True)
        x = tf.nn.max_pool2d(x, 3, 2, "SAME", data_format=self.layout)
        for body, down in self.blocks:
            y = self._conv(x, body[0], True)
            y = self._conv(y, body[1], True)
            y = self._conv(y, body[2], False)
            shortcut = x if down is None else self._conv(x, down, False)
            x = tf.nn.relu(y + shortcut)
        x = tf.reduce_mean(x, axis=[1, 2] if self.layout == "NHWC" else [2, 3])
        return tf.matmul(x, self.fc_w) + self.fc_b


class TFSide:
    """Contenders: ``converted`` (our SavedModel, its serving signature), ``native_nhwc``,
    ``native_nchw`` (both traced tf.functions); inputs are NCHW for the converted model
    (its signature keeps ONNX's layout) and in each native model's own layout."""

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(THREADS)
        tf.config.threading.set_inter_op_parallelism_threads(1)
        self.tf = tf
        self.runners: dict[str, Any] = {}
        self.layouts: dict[str, str] = {}

    def load(self, command: dict[str, Any]) -> dict[str, Any]:
        tf = self.tf
        loaded = tf.saved_model.load(command["converted"])
        signature = loaded.signatures["serving_default"]
        self._keep = loaded
        (name,) = signature.structured_input_signature[1]
        (output,) = signature.structured_outputs
        self.runners["converted"] = lambda x: signature(**{name: x})[output]
        self.layouts["converted"] = "NCHW"
        for layout in ("NHWC", "NCHW"):
            model = NativeResNet50(tf, layout)
            function = model.function.get_concrete_function()
            self.runners[f"native_{layout.lower()}"] = function
            self.layouts[f"native_{layout.lower()}"] = layout
            setattr(self, f"_keep_{layout}", model)
        return {"contenders": sorted(self.runners), "tf": tf.__version__,
                "threads": THREADS}

    def images(self, contender: str, batch: int) -> Any:
        rng = np.random.default_rng(batch)
        x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
        if self.layouts[contender] == "NHWC":
            x = np.ascontiguousarray(x.transpose(0, 2, 3, 1))
        return self.tf.constant(x)

    def run(self, contender: str, batch: int, iterations: int) -> float:
        runner = self.runners[contender]
        x = self.images(contender, batch)
        start = time.perf_counter()
        for _ in range(iterations):
            runner(x).numpy()
        return (time.perf_counter() - start) / iterations

    def output(self, contender: str, source: str, target: str) -> None:
        x = np.load(source)
        np.save(target, self.runners[contender](self.tf.constant(x)).numpy())


# ----------------------------------------------------------------------------- onnxruntime


class ORTSide:
    """Contender ``ort``: an onnxruntime CPU session of the ``.onnx`` file, default graph
    optimisations, ``THREADS`` intra-op threads."""

    def __init__(self) -> None:
        import onnxruntime as ort

        self.ort = ort
        self.session: Any = None

    def load(self, command: dict[str, Any]) -> dict[str, Any]:
        options = self.ort.SessionOptions()
        options.intra_op_num_threads = THREADS
        options.inter_op_num_threads = 1
        self.session = self.ort.InferenceSession(command["model"], options,
                                                 providers=["CPUExecutionProvider"])
        self.input = self.session.get_inputs()[0].name
        return {"contenders": ["ort"], "onnxruntime": self.ort.__version__,
                "threads": THREADS}

    def run(self, contender: str, batch: int, iterations: int) -> float:
        rng = np.random.default_rng(batch)
        x = rng.standard_normal((batch, 3, 224, 224), dtype=np.float32)
        start = time.perf_counter()
        for _ in range(iterations):
            self.session.run(None, {self.input: x})
        return (time.perf_counter() - start) / iterations

    def output(self, contender: str, source: str, target: str) -> None:
        np.save(target, self.session.run(None, {self.input: np.load(source)})[0])


def main(kind: str) -> int:
    try:
        side: Any = TFSide() if kind == "tf" else ORTSide()
    except Exception:
        reply({"error": traceback.format_exc()})
        return 1
    reply({"kind": kind, "pid": os.getpid()})
    for line in sys.stdin:
        command = json.loads(line)
        try:
            op = command["op"]
            if op == "exit":
                break
            if op == "load":
                reply(side.load(command))
            elif op == "run":
                reply({"seconds": side.run(command["contender"], command["batch"],
                                           command["iterations"])})
            elif op == "output":
                side.output(command["contender"], command["input"], command["output"])
                reply({})
            else:
                reply({"error": f"unknown op {op!r}"})
        except Exception:
            reply({"error": traceback.format_exc()})
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
