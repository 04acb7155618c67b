"""GraphDefs built with Graph, imported and run by real TensorFlow 2.21.

Every graph is imported with ``tf.import_graph_def`` into a ``tf.compat.v1``
Graph and run in a Session on fixed inputs; the results are compared with
numpy references computed here (one graph comes from ``Graph.from_dict`` on
hand-written dicts that leave out every inferable attr).  TF's own shape and
dtype inference on the imported nodes is compared with ours.  The same subprocess also
checks that TF rejects the graphs our validation rejects, gives the same node names for random
name-scope programs, encodes constants to the same TensorProto bytes, and
registers exactly the OpDefs we package.  All cases run in one TF subprocess.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import random
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from pysavedmodel._proto import attr_value_pb2, graph_pb2, tensor_pb2, tensor_shape_pb2
from pysavedmodel.errors import GraphError
from pysavedmodel.graph import Graph, op_registry
from pysavedmodel.graph.attrs import make_tensor_proto
from pysavedmodel.graph.shapes import SUPPORTED_OPS
from tests.support.tf import run_tf

RUN_GRAPHS = r"""
import json, sys
import numpy as np
import tensorflow as tf

spec = json.load(open(sys.argv[1]))
out = {}
for case, info in spec.items():
    graph_def = tf.compat.v1.GraphDef.FromString(open(info["graph"], "rb").read())
    g = tf.Graph()
    with g.as_default():
        tf.import_graph_def(graph_def, name="")
    shapes = {}
    for op in g.get_operations():
        shapes[op.name] = [
            [None if t.shape.rank is None else t.shape.as_list(), t.dtype.name]
            for t in op.outputs]
    feeds = {}
    for name, feed in info["feeds"].items():
        tensor = g.get_tensor_by_name(name)
        if feed["dtype"] == "string":
            value = np.array([s.encode() for s in feed["value"]], dtype=object)
        else:
            value = np.array(feed["value"], dtype=feed["dtype"])
        feeds[tensor] = value
    fetches = [g.get_tensor_by_name(name) for name in info["fetches"]]
    with tf.compat.v1.Session(graph=g) as sess:
        for target in info.get("targets", []):
            sess.run(g.get_operation_by_name(target))
        values = sess.run(fetches, feed_dict=feeds)
    results = {}
    for name, value in zip(info["fetches"], values):
        if isinstance(value, bytes):
            value = np.array([value], dtype=object).reshape(())
        value = np.asarray(value)
        if value.dtype == object:
            results[name] = {"kind": "bytes", "value": [v.hex() for v in value.reshape(-1)],
                             "shape": list(value.shape)}
        elif value.dtype.kind == "c":
            results[name] = {"kind": "complex", "value": [[v.real, v.imag] for v in
                             value.reshape(-1).tolist()], "shape": list(value.shape)}
        else:
            results[name] = {"kind": str(value.dtype),
                             "value": value.astype(np.float64).reshape(-1).tolist()
                             if value.dtype.kind == "V" or "bfloat16" in str(value.dtype)
                             else value.reshape(-1).tolist(),
                             "shape": list(value.shape)}
    out[case] = {"shapes": shapes, "results": results}

# Graphs we reject: TF must reject them too (at import, or when the graph is run).
rejections = {}
for name, path in json.load(open(sys.argv[4])).items():
    graph_def = tf.compat.v1.GraphDef.FromString(open(path, "rb").read())
    g = tf.Graph()
    try:
        with g.as_default():
            tf.import_graph_def(graph_def, name="")
        with tf.compat.v1.Session(graph=g) as sess:
            sess.run([op for op in g.get_operations() if op.type != "Placeholder"])
        rejections[name] = None
    except Exception as exc:
        rejections[name] = f"{type(exc).__name__}: {str(exc)[:300]}"
out["rejections"] = rejections

# Naming programs: the node names TF gives for the same scopes and names.
import contextlib
naming = []
for program in json.load(open(sys.argv[5])):
    g = tf.Graph()
    names = []
    with g.as_default(), contextlib.ExitStack() as stack:
        scopes = []
        for action, arg in program:
            if action == "enter":
                scopes.append(stack.enter_context(contextlib.ExitStack()))
                scopes[-1].enter_context(g.name_scope(arg))
            elif action == "exit":
                scopes.pop().close()
            else:
                names.append(tf.constant(1, name=arg).op.name)
    naming.append(names)
out["naming"] = naming

# The op registry as TF reports it, each OpDef hashed without its prose.
import hashlib
from tensorflow.core.framework import op_def_pb2
from tensorflow.python.client import pywrap_tf_session
buf = pywrap_tf_session.TF_GetAllOpList()
op_list = op_def_pb2.OpList.FromString(pywrap_tf_session.TF_GetBuffer(buf))
registry = {}
for op in op_list.op:
    op.ClearField("summary")
    op.ClearField("description")
    for arg in list(op.input_arg) + list(op.output_arg) + list(op.attr):
        arg.ClearField("description")
    registry[op.name] = hashlib.sha256(op.SerializeToString(deterministic=True)).hexdigest()
out["registry"] = registry
out["graph_def_version"] = tf.compat.v1.GRAPH_DEF_VERSION

# TF's own encoding of the same values (make_tensor_proto), for a byte comparison.
from tensorflow.python.framework import tensor_util
protos = {}
for name, value in json.load(open(sys.argv[2])).items():
    protos["py:" + name] = tensor_util.make_tensor_proto(value).SerializeToString().hex()
arrays = np.load(sys.argv[3], allow_pickle=False)
for name in arrays.files:
    protos["np:" + name] = tensor_util.make_tensor_proto(arrays[name]).SerializeToString().hex()
out["protos"] = protos
print(json.dumps(out))
"""

RNG = np.random.default_rng(1234)


def _conv2d_ref(x: np.ndarray, k: np.ndarray, stride: int, padding: str,
                dilation: int = 1) -> np.ndarray:
    n, h, w, _ = x.shape
    kh, kw, _, cout = k.shape
    eh, ew = (kh - 1) * dilation + 1, (kw - 1) * dilation + 1
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max((oh - 1) * stride + eh - h, 0)
        pw = max((ow - 1) * stride + ew - w, 0)
        x = np.pad(x, ((0, 0), (ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2), (0, 0)))
    else:
        oh, ow = (h - eh) // stride + 1, (w - ew) // stride + 1
    out = np.zeros((n, oh, ow, cout), np.float64)
    for i in range(oh):
        for j in range(ow):
            rows = slice(i * stride, i * stride + eh, dilation)
            cols = slice(j * stride, j * stride + ew, dilation)
            patch = x[:, rows, cols, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


def _pool_ref(x: np.ndarray, size: int, stride: int, padding: str, kind: str) -> np.ndarray:
    n, h, w, c = x.shape
    if padding == "SAME":
        oh, ow = -(-h // stride), -(-w // stride)
        ph = max((oh - 1) * stride + size - h, 0)
        pw = max((ow - 1) * stride + size - w, 0)
        top, left = ph // 2, pw // 2
    else:
        oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
        top = left = 0
    out = np.zeros((n, oh, ow, c))
    for i in range(oh):
        for j in range(ow):
            r0, c0 = i * stride - top, j * stride - left
            rs = slice(max(r0, 0), min(r0 + size, h))
            cs = slice(max(c0, 0), min(c0 + size, w))
            window = x[:, rs, cs, :]
            out[:, i, j, :] = window.max(axis=(1, 2)) if kind == "max" else \
                window.mean(axis=(1, 2))
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _mlp() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    x_val = RNG.standard_normal((5, 3)).astype(np.float32)
    w1 = RNG.standard_normal((3, 4)).astype(np.float32)
    b1 = RNG.standard_normal(4).astype(np.float32)
    w2 = RNG.standard_normal((2, 4)).astype(np.float32)
    x = g.placeholder("x", "float32", [None, 3])
    h = g.op("Relu", [g.op("BiasAdd", [g.op("MatMul", [x, w1]), b1])], name="hidden")
    logits = g.op("AddV2", [g.op("MatMul", [h, w2], transpose_b=True), [0.5, -0.5]],
                  name="logits")
    g.op("Softmax", [logits], name="probs")
    hidden = np.maximum(x_val @ w1 + b1, 0)
    ref_logits = hidden @ w2.T + np.array([0.5, -0.5], np.float32)
    refs = {"hidden:0": hidden, "logits:0": ref_logits, "probs:0": _softmax(ref_logits)}
    return g, {"x:0": {"dtype": "float32", "value": x_val.tolist()}}, refs


def _conv() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    x_val = RNG.standard_normal((2, 8, 8, 2)).astype(np.float32)
    k1 = RNG.standard_normal((3, 3, 2, 4)).astype(np.float32)
    k2 = RNG.standard_normal((2, 2, 2, 3)).astype(np.float32)
    x = g.placeholder("images", "float32", [None, 8, 8, 2])
    conv = g.op("Conv2D", [x, k1], strides=[1, 1, 1, 1], padding="SAME", name="conv")
    relu = g.op("Relu", [conv], name="relu")
    pool = g.op("MaxPool", [relu], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="VALID",
                name="pool")
    g.op("Reshape", [pool, [-1, 4 * 4 * 4]], name="flat")
    strided = g.op("Conv2D", [x, k1], strides=[1, 2, 2, 1], padding="VALID", name="strided")
    g.op("Conv2D", [x, k2], strides=[1, 1, 1, 1], padding="VALID", dilations=[1, 2, 2, 1],
         name="dilated")
    g.op("AvgPool", [strided], ksize=[1, 2, 2, 1], strides=[1, 2, 2, 1], padding="SAME",
         name="avg")
    free_kernel = g.placeholder("kernel", "float32", None)
    g.op("Conv2D", [x, free_kernel], strides=[1, 2, 2, 1], padding="SAME", name="free")
    conv_ref = np.maximum(_conv2d_ref(x_val, k1, 1, "SAME"), 0)
    pool_ref = _pool_ref(conv_ref, 2, 2, "VALID", "max")
    strided_ref = _conv2d_ref(x_val, k1, 2, "VALID")
    refs = {"relu:0": conv_ref, "pool:0": pool_ref, "flat:0": pool_ref.reshape(-1, 64),
            "strided:0": strided_ref, "dilated:0": _conv2d_ref(x_val, k2, 1, "VALID", 2),
            "avg:0": _pool_ref(strided_ref, 2, 2, "SAME", "avg"),
            "free:0": _conv2d_ref(x_val, k1, 2, "SAME")}
    feeds = {"images:0": {"dtype": "float32", "value": x_val.tolist()},
             "kernel:0": {"dtype": "float32", "value": k1.tolist()}}
    return g, feeds, refs


def _shuffle() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    a_val = RNG.standard_normal((2, 3)).astype(np.float32)
    b_val = RNG.standard_normal((2, 2)).astype(np.float32)
    a = g.placeholder("a", "float32", [2, 3])
    b = g.placeholder("b", "float32", [None, 2])
    cat = g.op("ConcatV2", [[a, b, np.ones((2, 1), np.float32)], 1], name="cat")
    g.op("Transpose", [cat, [1, 0]], name="t")
    g.op("ConcatV2", [[a, a], 0], name="rows")
    g.op("Cast", [g.op("Pack", [[a, a]], axis=2)], DstT="int32", name="packed")
    ident = g.op("IdentityN", [[a, b]], name="both")
    g.op("Mul", [ident.outputs[1], 3.0], name="tripled")
    g.op("Reshape", [g.op("Transpose", [a, [1, 0]]), [-1]], name="flat_t")
    cat_ref = np.concatenate([a_val, b_val, np.ones((2, 1), np.float32)], axis=1)
    refs = {"cat:0": cat_ref, "t:0": cat_ref.T, "rows:0": np.concatenate([a_val, a_val]),
            "packed:0": np.stack([a_val, a_val], axis=2).astype(np.int32),
            "both:0": a_val, "both:1": b_val, "tripled:0": b_val * 3,
            "flat_t:0": a_val.T.reshape(-1)}
    feeds = {"a:0": {"dtype": "float32", "value": a_val.tolist()},
             "b:0": {"dtype": "float32", "value": b_val.tolist()}}
    return g, feeds, refs


def _strings() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    words = ["ab", "héllo", ""]
    s = g.placeholder("words", "string", [None])
    g.op("StringJoin", [[s, "!", s]], separator="-", name="joined")
    g.op("StringLength", [s], name="length")
    g.op("StringUpper", [s], name="upper")
    g.op("StringLength", [s], unit="UTF8_CHAR", name="chars")
    g.asset("vocab.txt", name="vocab_path")
    g.op("Identity", [g.constant([b"\x00\xff", b"x" * 300])], name="binary")
    refs = {"joined:0": [f"{w}-!-{w}".encode() for w in words],
            "length:0": np.array([len(w.encode()) for w in words]),
            "upper:0": [w.encode().upper() for w in words],
            "chars:0": np.array([len(w) for w in words]),
            "vocab_path:0": [b"vocab.txt"], "binary:0": [b"\x00\xff", b"x" * 300]}
    return g, {"words:0": {"dtype": "string", "value": words}}, refs


CONSTANTS: dict[str, Any] = {
    "f32_scalar": np.float32(1.25), "f32_one": np.array([2.5], np.float32),
    "f64": np.array([[1.5, -2.0], [3.0, 1e300]]), "i32_scalar": 7, "i64_big": 2 ** 40,
    "i64_arr": np.array([-(2 ** 62), 5], np.int64), "u8": np.array([0, 255], np.uint8),
    "u16_scalar": np.uint16(65535), "u32": np.array([1, 2 ** 32 - 1], np.uint32),
    "u64_scalar": np.uint64(2 ** 64 - 1), "i8": np.array([-128, 127], np.int8),
    "i16_one": np.array([-300], np.int16), "bool": [True, False, True], "bool_scalar": False,
    "bf16": np.array([1.5, -2.0, 3.0], ml_dtypes.bfloat16),
    "bf16_scalar": np.array(0.5, ml_dtypes.bfloat16),
    "f16": np.array([0.5, 65504], np.float16), "f16_scalar": np.float16(-1.5),
    "c64": np.array([1 + 2j, -3j], np.complex64), "c128_scalar": np.complex128(2 - 1j),
    "empty": np.zeros((0, 3), np.float32), "f32_3d": np.arange(24, dtype=np.float32).reshape(
        2, 3, 4),
}


def _constants() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    refs = {}
    for name, value in CONSTANTS.items():
        g.constant(value, name=name)
        refs[f"{name}:0"] = value
    return g, {}, refs


def _variables() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    g = Graph()
    kernel = RNG.standard_normal((3, 2)).astype(np.float32)
    x_val = RNG.standard_normal((4, 3)).astype(np.float32)
    read = g.variable("dense/kernel", np.zeros((3, 2), np.float32))
    counts = g.variable("counts", np.zeros(2, np.int64), trainable=False)
    assigns = [g.op("AssignVariableOp", ["dense/kernel", kernel]),
               g.op("AssignVariableOp", ["counts", np.array([3, 4], np.int64)])]
    g.group(assigns, name="init")
    x = g.placeholder("x", "float32", [None, 3])
    g.op("MatMul", [x, read], name="y")
    g.op("Identity", [counts], name="c")
    refs = {"y:0": x_val @ kernel, "c:0": np.array([3, 4])}
    return g, {"x:0": {"dtype": "float32", "value": x_val.tolist()}}, refs


_SELU_SCALE, _SELU_ALPHA = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
_UNARY_REFS: dict[str, Any] = {
    "Abs": np.abs, "Neg": np.negative, "Exp": np.exp, "Sigmoid": lambda v: 1 / (1 + np.exp(-v)),
    "Tanh": np.tanh, "Square": np.square, "Sign": np.sign, "Floor": np.floor, "Ceil": np.ceil,
    "Round": np.round, "IsNan": np.isnan, "ZerosLike": np.zeros_like, "OnesLike": np.ones_like,
    "StopGradient": lambda v: v, "Relu6": lambda v: np.clip(v, 0, 6),
    "Elu": lambda v: np.where(v > 0, v, np.expm1(v)),
    "Selu": lambda v: _SELU_SCALE * np.where(v > 0, v, _SELU_ALPHA * np.expm1(v)),
    "LeakyRelu": lambda v: np.where(v > 0, v, 0.2 * v), "Softplus": lambda v: np.log1p(np.exp(v)),
    "Erf": np.vectorize(math.erf), "Sin": np.sin, "Atan": np.arctan,
}
_POSITIVE_REFS: dict[str, Any] = {"Log": np.log, "Sqrt": np.sqrt,
                                  "Rsqrt": lambda v: 1 / np.sqrt(v), "Reciprocal": np.reciprocal}
_SHAPE_ONLY_UNARY = """Acos Acosh Asin Asinh Atanh Sinh Cosh Cos Tan Expm1 Log1p Softsign
Softmax LogSoftmax IsInf IsFinite Rint Snapshot PreventGradient""".split()
_BINARY_REFS: dict[str, Any] = {
    "Add": np.add, "Sub": np.subtract, "Maximum": np.maximum, "Minimum": np.minimum,
    "SquaredDifference": lambda x, y: (x - y) ** 2, "Equal": np.equal,
    "NotEqual": np.not_equal, "Less": np.less, "Greater": np.greater,
    "LessEqual": np.less_equal, "GreaterEqual": np.greater_equal,
}


def _shape_rules() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    """One node per shape rule, on inputs of partly known shapes (and unknown rank)."""
    g = Graph()
    a_val = RNG.standard_normal((2, 3)).astype(np.float32)
    p_val = RNG.uniform(0.5, 2.0, (2, 3)).astype(np.float32)
    b_val = RNG.standard_normal(3).astype(np.float32)
    i_val = np.array([0, 2, 1], np.int32)
    m_val = np.array([[True, False, True], [False, False, True]])
    t_val, e_val = np.array([1.0, 2.0, 3.0], np.float32), np.array([-1.0, -2.0, -3.0], np.float32)
    a = g.placeholder("a", "float32", [None, 3])
    pos = g.placeholder("p", "float32", [None, 3])
    b = g.placeholder("b", "float32", [3])
    u = g.placeholder("u", "float32", None)
    i = g.placeholder("i", "int32", [None])
    m = g.placeholder("m", "bool", [None, 3])
    s = g.placeholder("s", "string", [None])
    t, e = g.placeholder("t", "float32", [None]), g.placeholder("e", "float32", [None])
    ax = g.placeholder("ax", "int32", [])
    depth = g.placeholder("depth", "int32", [])
    refs: dict[str, Any] = {}

    def add(name: str, op: str, inputs: list[Any], ref: Any, **attrs: Any) -> Any:
        out = g.op(op, inputs, name=name, **attrs)
        if ref is not None:
            refs[f"{name}:0"] = ref
        return out

    for op, fn in _UNARY_REFS.items():
        add(op.lower(), op, [a], fn(a_val.astype(np.float64)))
    for op, fn in _POSITIVE_REFS.items():
        add(op.lower(), op, [pos], fn(p_val.astype(np.float64)))
    add("not", "LogicalNot", [m], ~m_val)
    add("checked", "CheckNumerics", [a], a_val, message="bad")
    add("cast", "Cast", [a], np.trunc(a_val).astype(np.int32), DstT="int32")
    for op, fn in _BINARY_REFS.items():
        add(f"{op.lower()}_ab", op, [a, b], fn(a_val, b_val))
    add("add_unknown_rank", "AddV2", [a, u], a_val + p_val)
    add("mul_scalar", "Mul", [a, 2.0], a_val * 2)
    add("div", "RealDiv", [a, pos], a_val / p_val)
    add("pow", "Pow", [pos, 2.0], p_val.astype(np.float64) ** 2)
    add("floordiv", "FloorDiv", [i, 2], i_val // 2)
    add("floormod", "FloorMod", [i, 2], i_val % 2)
    add("and", "LogicalAnd", [m, m], m_val)
    add("or", "LogicalOr", [m, [True, False, False]], m_val | [True, False, False])
    add("addn", "AddN", [[a, a, a]], a_val * 3)
    # reductions
    row_sum = add("sum_1", "Sum", [a, 1], a_val.sum(1))
    add("sum_all_keep", "Sum", [a, [0, 1]], a_val.sum(keepdims=True), keep_dims=True)
    add("mean_last_keep", "Mean", [a, -1], a_val.mean(-1, keepdims=True), keep_dims=True)
    add("max_unknown_rank", "Max", [u, 0], p_val.max(0))
    add("min_dynamic", "Min", [a, ax], a_val.min(1))
    add("prod_dynamic_keep", "Prod", [a, ax], a_val.prod(1, keepdims=True), keep_dims=True)
    add("all_1", "All", [m, 1], m_val.all(1))
    add("any_0_keep", "Any", [m, 0], m_val.any(0, keepdims=True), keep_dims=True)
    add("argmax_1", "ArgMax", [a, 1], a_val.argmax(1))
    add("argmin_0", "ArgMin", [a, 0], a_val.argmin(0).astype(np.int32), output_type="int32")
    add("argmax_dynamic", "ArgMax", [a, ax], a_val.argmax(1))
    add("col_plus", "AddV2", [a, g.op("ExpandDims", [row_sum, -1], name="row_col")],
        a_val + a_val.sum(1, keepdims=True))
    # shapes of shapes
    add("expand_0", "ExpandDims", [a, 0], a_val[None])
    expanded = add("expand_last", "ExpandDims", [a, -1], a_val[..., None])
    add("expand_unknown_rank", "ExpandDims", [u, 0], p_val[None])
    add("squeeze_listed", "Squeeze", [expanded], a_val, squeeze_dims=[-1])
    add("squeeze_all", "Squeeze", [np.ones((1, 3, 1), np.float32)], np.ones(3))
    add("squeeze_unknown", "Squeeze", [g.get_tensor("expand_0")], a_val)
    add("shape", "Shape", [a], np.array([2, 3]))
    add("size", "Size", [a], np.array(6))
    add("rank", "Rank", [u], np.array(2))
    add("fill", "Fill", [[2, 3], 1.5], np.full((2, 3), 1.5))
    add("tile", "Tile", [a, [2, 1]], np.tile(a_val, (2, 1)))
    add("tile_vec", "Tile", [b, [2]], np.tile(b_val, 2))
    add("tile_zero", "Tile", [a, [0, 2]], np.zeros((0, 6)))
    add("gather", "GatherV2", [b, i, 0], b_val[i_val])
    add("gather_cols", "GatherV2", [a, i, 1], a_val[:, i_val])
    add("gather_const", "GatherV2", [a, [[0, 1]], 0], a_val[[[0, 1]]])
    add("gather_dynamic", "GatherV2", [a, i, ax], a_val[:, i_val])
    add("one_hot", "OneHot", [i, 4, 1.0, 0.0], np.eye(4)[i_val])
    add("one_hot_axis0", "OneHot", [i, 4, 1.0, 0.0], np.eye(4)[i_val].T, axis=0)
    add("one_hot_dynamic", "OneHot", [i, depth, 1.0, 0.0], np.eye(4)[i_val])
    add("slice", "Slice", [a, [0, 1], [-1, 2]], a_val[:, 1:3])
    add("slice_vec", "Slice", [b, [1], [-1]], b_val[1:])
    add("strided", "StridedSlice", [a, [0, 1], [2, 3], [1, 1]], a_val[0:2, 1:3], Index="int32")
    add("strided_shrink", "StridedSlice", [a, [0, 0], [0, 1], [1, 1]], a_val[:, 0],
        begin_mask=1, end_mask=1, shrink_axis_mask=2)
    add("strided_reverse", "StridedSlice", [b, [0], [0], [-1]], b_val[::-1], begin_mask=1,
        end_mask=1)
    add("strided_tail", "StridedSlice", [b, [1], [0], [1]], b_val[1:], end_mask=1)
    # selection
    add("select", "Select", [m, a, a], a_val)
    add("select_vector_cond", "Select", [np.array([True, False, True]), t, e],
        np.where([True, False, True], t_val, e_val))
    add("select_v2", "SelectV2", [m, a, 0.0], np.where(m_val, a_val, 0))
    # strings and the saver's ops
    add("join", "StringJoin", [[s, "!"]], [b"ab!", b"cd!"])
    add("join_scalars", "StringJoin", [[b"a", b"b"]], [b"ab"], separator="")
    add("regex", "StaticRegexFullMatch", [s], np.array([True, False]), pattern="a.*")
    add("sharded", "ShardedFilename", [b"base", 0, 1], [b"base-00000-of-00001"])
    add("pack", "Pack", [[b, b]], np.stack([b_val, b_val]))
    table = g.op("HashTableV2", [], name="table", key_dtype="string", value_dtype="int64")
    g.op("InitializeTableV2", [table, np.array([b"cd"], dtype=object), np.array([7], np.int64)],
         name="table_init")
    add("lookup", "LookupTableFindV2", [table, s, np.int64(-1)], np.array([-1, 7]))
    mutable = g.op("MutableHashTableV2", [], name="mutable", key_dtype="string",
                   value_dtype="int64")
    add("mutable_lookup", "LookupTableFindV2", [mutable, s, np.int64(-1)], np.array([-1, -1]))
    # Shape only (not run): the remaining table-driven rules.
    for op in _SHAPE_ONLY_UNARY:
        g.op(op, [a], name=f"only_{op.lower()}")
    g.op("ClipByValue", [a, 0.0, 1.0], name="only_clip")
    g.op("EuclideanNorm", [a, [1]], name="only_norm", keep_dims=True)
    g.op("L2Loss", [a], name="only_l2loss")
    g.op("AsString", [a], name="only_as_string")
    g.op("StringToNumber", [s], name="only_to_number")
    g.op("StringToHashBucketFast", [s], name="only_bucket", num_buckets=10)
    examples = g.placeholder("examples", "string", [None])
    none = g.constant(np.array([], dtype=object), dtype="string", name="no_keys")
    g.op("ParseExampleV2", [
        examples, none, g.constant(np.array([b"sp"], dtype=object), name="sparse_keys"),
        g.constant(np.array([b"d1", b"d2"], dtype=object), name="dense_keys"), none,
        [np.zeros(0, np.float32), np.zeros(0, np.int64)]], name="parse",
        Tdense=["float32", "int64"], num_sparse=1, sparse_types=["int64"],
        ragged_value_types=[], ragged_split_types=[], dense_shapes=[[3], [2, 2]])
    feeds = {"a:0": a_val, "p:0": p_val, "b:0": b_val, "u:0": p_val, "i:0": i_val,
             "m:0": m_val, "t:0": t_val, "e:0": e_val, "ax:0": np.int32(1),
             "depth:0": np.int32(4)}
    encoded = {name: {"dtype": str(v.dtype), "value": v.tolist()} for name, v in feeds.items()}
    encoded["s:0"] = {"dtype": "string", "value": ["ab", "cd"]}
    return g, encoded, refs


def _minimal_dicts() -> tuple[Graph, dict[str, Any], dict[str, Any]]:
    """Hand-written dicts without the attrs op() would infer (T, N, Tidx, Tshape, SrcT,
    list(type), a Const's or ReadVariableOp's dtype), consumers listed before inputs."""
    x_val = RNG.standard_normal((4, 3)).astype(np.float32)
    w = RNG.standard_normal((3, 2)).astype(np.float32)
    b = RNG.standard_normal(2).astype(np.float32)
    v0 = RNG.standard_normal(2).astype(np.float32)
    g = Graph.from_dict({"node": [
        {"name": "ids", "op": "IdentityN", "input": ["x", "axis"]},
        {"name": "total", "op": "AddN", "input": ["y", "biased", "y"]},
        {"name": "flat", "op": "Reshape", "input": ["cat", "flat_shape"]},
        {"name": "cat", "op": "ConcatV2", "input": ["y", "biased", "axis"]},
        {"name": "as_int", "op": "Cast", "input": ["total"], "attr": {"DstT": "int32"}},
        {"name": "stitched", "op": "DynamicStitch", "input": ["i0", "i1", "read", "read"]},
        {"name": "read", "op": "ReadVariableOp", "input": ["v", "^init"]},
        {"name": "init", "op": "AssignVariableOp", "input": ["v", "v0"]},
        {"name": "biased", "op": "BiasAdd", "input": ["y", "b"]},
        {"name": "y", "op": "MatMul", "input": ["x", "w"]},
        {"name": "x", "op": "Placeholder", "attr": {"dtype": "float32", "shape": [None, 3]}},
        {"name": "w", "op": "Const", "attr": {"value": w}},
        {"name": "b", "op": "Const", "attr": {"value": b}},
        {"name": "axis", "op": "Const", "attr": {"value": np.int64(1)}},
        {"name": "flat_shape", "op": "Const", "attr": {"value": np.array([-1], np.int64)}},
        {"name": "i0", "op": "Const", "attr": {"value": [0, 1]}},
        {"name": "i1", "op": "Const", "attr": {"value": [3, 2]}},
        {"name": "v", "op": "VarHandleOp", "attr": {"dtype": "float32", "shape": [2],
                                                   "shared_name": "minimal_v"}},
        {"name": "v0", "op": "Const", "attr": {"value": v0}},
    ]})
    y = x_val @ w
    biased = y + b
    cat = np.concatenate([y, biased], axis=1)
    total = y + biased + y
    refs = {"y:0": y, "biased:0": biased, "cat:0": cat, "flat:0": cat.reshape(-1),
            "total:0": total, "as_int:0": total.astype(np.int32), "ids:0": x_val,
            "ids:1": np.int64(1), "read:0": v0,
            "stitched:0": np.concatenate([v0, v0[::-1]])}
    return g, {"x:0": {"dtype": "float32", "value": x_val.tolist()}}, refs


CASES = {"mlp": _mlp, "conv": _conv, "shuffle": _shuffle, "strings": _strings,
         "constants": _constants, "variables": _variables, "shape_rules": _shape_rules,
         "minimal_dicts": _minimal_dicts}
TARGETS = {"variables": ["init"], "shape_rules": ["table_init"]}

PYTHON_VALUES: dict[str, Any] = {
    "float": 1.25, "floats": [1.0, 2.5], "one_float": [3.0], "int": 7, "big_int": 2 ** 40,
    "ints": [[1, 2], [3, 4]], "bool": True, "bools": [True, False], "str": "héllo",
    "strs": ["a", "bc"], "empty": [],
}


def _raw_graph_def(nodes: list[dict[str, Any]]) -> graph_pb2.GraphDef:
    """A GraphDef written field by field, bypassing every check of ours."""
    graph_def = graph_pb2.GraphDef()
    graph_def.versions.producer = 2474
    for spec in nodes:
        node = graph_def.node.add(name=spec["name"], op=spec["op"])
        node.input.extend(spec.get("input", []))
        for key, value in spec.get("attr", {}).items():
            node.attr[key].CopyFrom(value)
    return graph_def


def _type(enum: int) -> attr_value_pb2.AttrValue:
    return attr_value_pb2.AttrValue(type=enum)


_FLOAT_PH = {"name": "p", "op": "Placeholder", "attr": {"dtype": _type(1)}}
# Deliberately stricter than TF and so not listed: an attr the op does not declare (a typo
# like "tranpose_a"); TF 2.21's import_graph_def keeps it and runs the graph.
REJECTED: dict[str, list[dict[str, Any]]] = {
    "removed_op": [{"name": "p", "op": "PlaceholderV2", "attr": {
        "dtype": _type(1), "shape": attr_value_pb2.AttrValue(
            shape=tensor_shape_pb2.TensorShapeProto(unknown_rank=True))}}],
    "unknown_op": [{"name": "a", "op": "Matmul"}],
    "disallowed_type": [{"name": "p", "op": "Placeholder", "attr": {"dtype": _type(7)}},
                        {"name": "a", "op": "MatMul", "input": ["p", "p"],
                         "attr": {"T": _type(7)}}],
    "missing_input": [{"name": "a", "op": "Identity", "input": ["ghost"],
                       "attr": {"T": _type(1)}}],
    "output_index": [_FLOAT_PH, {"name": "a", "op": "Identity", "input": ["p:1"],
                                 "attr": {"T": _type(1)}}],
    "input_count": [_FLOAT_PH, {"name": "a", "op": "MatMul", "input": ["p"],
                                "attr": {"T": _type(1)}}],
    "input_dtype": [_FLOAT_PH, {"name": "a", "op": "Relu", "input": ["p"],
                                "attr": {"T": _type(3)}}],
    "missing_attr": [{"name": "p", "op": "Placeholder"}],
    "control_first": [_FLOAT_PH, {"name": "q", "op": "NoOp"},
                      {"name": "a", "op": "Relu", "input": ["^q", "p"],
                       "attr": {"T": _type(1)}}],
    "bad_name": [{"name": "_p", "op": "Placeholder", "attr": {"dtype": _type(1)}}],
    "duplicate": [_FLOAT_PH, _FLOAT_PH],
    "cycle": [{"name": "a", "op": "NoOp", "input": ["^b"]},
              {"name": "b", "op": "NoOp", "input": ["^a"]}],
    "const_dtype": [{"name": "c", "op": "Const", "attr": {
        "dtype": _type(1), "value": attr_value_pb2.AttrValue(tensor=tensor_pb2.TensorProto(
            dtype=3, int_val=[1]))}}],
}


def _naming_program(seed: int) -> list[tuple[str, Any]]:
    """Random scope enters/exits and constant names (pool chosen to collide often)."""
    rnd = random.Random(seed)
    pool = ["a", "A", "save", "Const", "a_1", "x/y", "Const_1", "save_1", None, None]
    scopes = ["a", "save", "save/", "save_1/", "b", None, ""]
    program: list[tuple[str, Any]] = []
    depth = 0
    for _ in range(80):
        roll = rnd.random()
        if roll < 0.2 and depth < 3:
            program.append(("enter", rnd.choice(scopes)))
            depth += 1
        elif roll < 0.35 and depth:
            program.append(("exit", None))
            depth -= 1
        else:
            program.append(("const", rnd.choice(pool)))
    program.extend([("exit", None)] * depth)
    return program


NAMING_PROGRAMS = [_naming_program(seed) for seed in range(20)]


def _run_naming_program(program: list[tuple[str, Any]]) -> list[str]:
    g = Graph()
    names = []
    with contextlib.ExitStack() as outer:
        stack: list[contextlib.ExitStack] = []
        for action, arg in program:
            if action == "enter":
                stack.append(outer.enter_context(contextlib.ExitStack()))
                stack[-1].enter_context(g.name_scope(arg))
            elif action == "exit":
                stack.pop().close()
            else:
                names.append(g.constant(1, name=arg).op_name)
    return names


@pytest.fixture(scope="module")
def tf_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("graphs")
    spec: dict[str, Any] = {}
    built: dict[str, Any] = {}
    for case, make in CASES.items():
        graph, feeds, refs = make()
        path = root / f"{case}.pb"
        path.write_bytes(graph.as_graph_def().SerializeToString(deterministic=True))
        spec[case] = {"graph": str(path), "feeds": feeds, "fetches": sorted(refs),
                      "targets": TARGETS.get(case, [])}
        built[case] = (graph, refs)
    spec_path = root / "spec.json"
    spec_path.write_text(json.dumps(spec))
    values_path = root / "values.json"
    values_path.write_text(json.dumps(PYTHON_VALUES))
    arrays_path = root / "arrays.npz"
    np.savez(arrays_path, **{name: np.asarray(value) for name, value in CONSTANTS.items()
                             if np.asarray(value).dtype != ml_dtypes.bfloat16})
    rejections = {}
    for name, nodes in REJECTED.items():
        path = root / f"rejected_{name}.pb"
        path.write_bytes(_raw_graph_def(nodes).SerializeToString())
        rejections[name] = str(path)
    rejections_path = root / "rejections.json"
    rejections_path.write_text(json.dumps(rejections))
    naming_path = root / "naming.json"
    naming_path.write_text(json.dumps(NAMING_PROGRAMS))
    return {"tf": run_tf(RUN_GRAPHS, spec_path, values_path, arrays_path, rejections_path,
                         naming_path), "built": built}


def _as_array(result: dict[str, Any]) -> Any:
    if result["kind"] == "bytes":
        return [bytes.fromhex(v) for v in result["value"]]
    if result["kind"] == "complex":
        return np.array([complex(*v) for v in result["value"]]).reshape(result["shape"])
    return np.array(result["value"]).reshape(result["shape"])


@pytest.mark.parametrize("case", sorted(CASES))
def test_tensorflow_runs_our_graph_to_the_numpy_reference(
        case: str, tf_runs: dict[str, Any]) -> None:
    graph, refs = tf_runs["built"][case]
    results = tf_runs["tf"][case]["results"]
    assert sorted(results) == sorted(refs)
    for name, ref in refs.items():
        # Our static shape must describe what TF computed.
        static = graph.get_tensor(name).shape
        if static is not None:
            ran = results[name]["shape"]
            assert len(static) == len(ran) and all(
                d is None or d == r for d, r in zip(static, ran)), (name, static, ran)
        got = _as_array(results[name])
        if isinstance(got, list):
            expected = [r if isinstance(r, bytes) else r.encode()
                        for r in np.asarray(ref, dtype=object).reshape(-1).tolist()]
            assert got == expected, name
            continue
        ref_arr = np.asarray(ref)
        assert got.shape == ref_arr.shape, name
        if ref_arr.dtype.kind in "biu":
            assert got.tolist() == ref_arr.tolist(), name
        else:
            np.testing.assert_allclose(got, ref_arr.astype(got.dtype), rtol=1e-5, atol=1e-5,
                                       err_msg=name)


def _shape_set_by_tf_python(graph: Graph, node: Any) -> bool:
    """Whether TF's C++ shape function leaves this node's output unknown while TF's Python
    API sets it: a lookup in a HashTableV2 (StaticHashTable.lookup gives the keys' shape;
    HashTableV2 passes no handle shapes on, unlike MutableHashTableV2)."""
    return node.op == "LookupTableFindV2" and \
        graph.node(node.input[0].split(":")[0]).op == "HashTableV2"


@pytest.mark.parametrize("case", sorted(CASES))
def test_our_shapes_and_dtypes_match_tensorflows(case: str, tf_runs: dict[str, Any]) -> None:
    graph, _ = tf_runs["built"][case]
    theirs = tf_runs["tf"][case]["shapes"]
    assert sorted(theirs) == sorted(n.name for n in graph.nodes)
    checked = 0
    differ = []
    for node in graph.nodes:
        outputs = graph.get_tensor(node.name).outputs
        assert len(outputs) == len(theirs[node.name]), node.name
        for ours, (tf_shape, tf_dtype) in zip(outputs, theirs[node.name]):
            assert ours.dtype.name == tf_dtype, ours.name
            expected = None if tf_shape is None else tuple(tf_shape)
            if expected is None and _shape_set_by_tf_python(graph, node):
                # Known only to TF's Python layer: checked against the run's shape above
                # and against the TF-written fixture in tests/builder.
                assert ours.shape is not None, ours.name
            elif node.op in SUPPORTED_OPS:
                if ours.shape != expected:
                    differ.append((ours.name, node.op, ours.shape, expected))
                checked += 1
            else:
                assert ours.shape is None, ours.name
    assert differ == []
    assert checked >= 5


def test_constants_are_encoded_byte_for_byte_like_tensorflow(tf_runs: dict[str, Any]) -> None:
    theirs = tf_runs["tf"]["protos"]
    compared = 0
    for name, value in PYTHON_VALUES.items():
        ours = make_tensor_proto(value).SerializeToString(deterministic=True)
        assert ours.hex() == theirs[f"py:{name}"], name
        compared += 1
    for name, value in CONSTANTS.items():
        key = f"np:{name}"
        if key not in theirs:  # bfloat16 does not survive np.savez
            continue
        ours = make_tensor_proto(np.asarray(value)).SerializeToString(deterministic=True)
        assert ours.hex() == theirs[key], name
        compared += 1
    assert compared == len(PYTHON_VALUES) + len(CONSTANTS) - 2


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_graphs_we_reject_tensorflow_rejects_too(case: str, tf_runs: dict[str, Any]) -> None:
    graph_def = _raw_graph_def(REJECTED[case])
    with pytest.raises(GraphError):
        Graph.from_dict(graph_def)
    assert tf_runs["tf"]["rejections"][case] is not None, case


def test_node_names_match_tensorflows_for_random_scope_programs(
        tf_runs: dict[str, Any]) -> None:
    theirs = tf_runs["tf"]["naming"]
    assert len(theirs) == len(NAMING_PROGRAMS)
    for program, tf_names in zip(NAMING_PROGRAMS, theirs):
        ours = _run_naming_program(program)
        assert len(ours) > 20
        assert ours == tf_names, program


def test_packaged_op_registry_is_tensorflows(tf_runs: dict[str, Any]) -> None:
    theirs = tf_runs["tf"]["registry"]
    assert len(theirs) == 1908
    assert sorted(theirs) == op_registry.all_op_names()
    for name, digest in theirs.items():
        ours = op_registry.get_op_def(name).SerializeToString(deterministic=True)
        assert hashlib.sha256(ours).hexdigest() == digest, name
    assert tf_runs["tf"]["graph_def_version"] == op_registry.TF_GRAPH_DEF_VERSION
