"""``validate --for CONSUMER``: what one consumer of a SavedModel will refuse.

Offline rules, per consumer (TensorFlow 2.21, TF Serving, Keras 3, TF Hub), each a
:class:`Finding` with a ``consumer-*`` code:

* ``serving`` (TF Serving's loader): it loads the meta graph whose tag set is
  exactly the requested one (default ``{serve}``) — none: ``consumer-no-serve-graph``;
  requests without ``signature_name`` use ``serving_default`` — absent:
  ``consumer-no-serving-default``.
* ``tflite`` (``TFLiteConverter.from_saved_model`` with builtin ops only): it
  converts the ``{serve}`` meta graph's signatures (``consumer-no-serve-graph``,
  ``consumer-no-signatures``); every op the signature outputs depend on (also
  inside called functions) must legalize to a TFLite builtin — others need
  ``SELECT_TF_OPS``: ``consumer-tflite-op``.
* ``keras`` (Keras 3): ``keras.models.load_model`` takes only ``.keras``/``.h5``
  files, never a SavedModel directory (``consumer-keras-load-model``, always);
  ``keras.layers.TFSMLayer(path)`` loads with ``tf.saved_model.load`` without
  ``tags=`` (several meta graphs: ``consumer-needs-tags``) and calls the
  ``serving_default`` endpoint (absent: ``consumer-no-serving-default``).
* ``hub`` (``hub.load``/``hub.KerasLayer`` on ``tf.saved_model.load``): several
  meta graphs need ``tags=`` (``consumer-needs-tags``); a TF1 model (no object
  graph) has no ``__call__``, so ``hub.KerasLayer`` needs ``signature=``
  (``consumer-hub-signature``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Final

from ..._proto import graph_pb2, meta_graph_pb2, node_def_pb2
from ...constants import DEFAULT_SERVING_SIGNATURE_DEF_KEY, RESERVED_SIGNATURE_KEYS
from ...names import parse_input
from .findings import Finding, tags_label

CONSUMERS: Final = ("serving", "tflite", "keras", "hub")
"""The consumers :func:`consumer_findings` knows."""

CONSUMER_CODES: Final = (
    "consumer-no-serve-graph", "consumer-no-serving-default", "consumer-no-signatures",
    "consumer-tflite-op", "consumer-keras-load-model", "consumer-needs-tags",
    "consumer-hub-signature",
)
"""Every code :func:`consumer_findings` can report."""

TFLITE_BUILTIN_TF_OPS: Final = frozenset({
    # graph plumbing the converter folds, freezes or inlines
    "Placeholder", "PlaceholderWithDefault", "Const", "Identity", "IdentityN", "NoOp",
    "StopGradient", "VarHandleOp", "ReadVariableOp", "VariableV2", "PartitionedCall",
    "StatefulPartitionedCall", "Shape", "Size", "Rank",
    # arithmetic and math
    "Add", "AddV2", "AddN", "Sub", "Mul", "Div", "RealDiv", "FloorDiv", "FloorMod",
    "Maximum", "Minimum", "Pow", "SquaredDifference", "Neg", "Abs", "Sqrt", "Rsqrt",
    "Square", "Exp", "Log", "Sin", "Cos", "Floor", "Ceil", "Round", "Sign", "Cast",
    "Equal", "NotEqual", "Less", "LessEqual", "Greater", "GreaterEqual", "LogicalAnd",
    "LogicalOr", "LogicalNot", "Select", "SelectV2",
    # activations
    "Relu", "Relu6", "Elu", "LeakyRelu", "Sigmoid", "Tanh", "Softmax", "LogSoftmax",
    "Gelu",
    # linear algebra, convolution, pooling, normalization
    "MatMul", "BatchMatMul", "BatchMatMulV2", "BatchMatMulV3", "BiasAdd", "Conv2D",
    "DepthwiseConv2dNative", "Conv2DBackpropInput", "Conv3D", "MaxPool", "AvgPool",
    "FusedBatchNorm", "FusedBatchNormV3", "L2Loss",
    # reductions and arg ops
    "Sum", "Mean", "Max", "Min", "Prod", "Any", "All", "ArgMax", "ArgMin", "Cumsum",
    "TopKV2",
    # shape and indexing
    "Reshape", "Squeeze", "ExpandDims", "Transpose", "ConcatV2", "Pack", "Unpack",
    "Split", "SplitV", "Slice", "StridedSlice", "Gather", "GatherV2", "GatherNd",
    "ScatterNd", "Tile", "Pad", "PadV2", "MirrorPad", "Fill", "ZerosLike", "OnesLike",
    "Range", "BroadcastTo", "Where", "ReverseV2", "SpaceToDepth", "DepthToSpace",
    "ResizeBilinear", "ResizeNearestNeighbor", "OneHot", "Einsum",
})
"""TF ops ``TFLiteConverter`` lowers to TFLite builtins (without ``SELECT_TF_OPS``)."""

_CALL_ATTRS: Final = ("f", "then_branch", "else_branch", "body", "cond")


def consumer_findings(meta_graphs: Iterable[meta_graph_pb2.MetaGraphDef], consumer: str,
                      *, has_object_graph: bool | None = None) -> list[Finding]:
    """What ``consumer`` (one of :data:`CONSUMERS`) will refuse about these meta graphs.

    ``has_object_graph`` says whether the model is a TF2 one (default: whether any meta
    graph holds an object graph).  Raises :class:`ValueError` for an unknown consumer.
    """
    if consumer not in CONSUMERS:
        raise ValueError(f"unknown consumer {consumer!r}; expected one of "
                         + ", ".join(CONSUMERS))
    metas = list(meta_graphs)
    if has_object_graph is None:
        has_object_graph = any(m.HasField("object_graph_def") for m in metas)
    findings: list[Finding] = []

    def report(code: str, where: str, message: str) -> None:
        findings.append(Finding(code, f"[{consumer}] {where}", message))

    serve = next((m for m in metas if set(m.meta_info_def.tags) == {"serve"}), None)
    signatures = [] if serve is None else [k for k in serve.signature_def
                                           if k not in RESERVED_SIGNATURE_KEYS]
    if consumer in ("serving", "tflite") and serve is None:
        found = ", ".join(tags_label(m.meta_info_def.tags) for m in metas) or "none"
        report("consumer-no-serve-graph", "meta graphs",
               f"no meta graph has exactly the tags [serve] (found: {found}); {consumer} "
               f"loads the [serve] meta graph unless told other tags")
    if consumer in ("hub", "keras") and len(metas) > 1:
        report("consumer-needs-tags", "meta graphs",
               f"{len(metas)} meta graphs; tf.saved_model.load needs a tags= argument to pick "
               f"one, which " + ("keras.layers.TFSMLayer does not pass" if consumer == "keras"
                                 else "hub.load/hub.KerasLayer must be given"))
    if consumer == "serving" and serve is not None and \
            DEFAULT_SERVING_SIGNATURE_DEF_KEY not in signatures:
        report("consumer-no-serving-default", tags_label(["serve"]),
               f"no signature {DEFAULT_SERVING_SIGNATURE_DEF_KEY!r} (signatures: "
               f"{sorted(signatures)}); requests without signature_name are refused")
    if consumer == "keras":
        report("consumer-keras-load-model", "keras.models.load_model",
               "Keras 3 load_model accepts only .keras and .h5 files, not a SavedModel "
               "directory; use keras.layers.TFSMLayer(path, call_endpoint=...)")
        all_keys = {k for m in metas for k in m.signature_def}
        if DEFAULT_SERVING_SIGNATURE_DEF_KEY not in all_keys:
            report("consumer-no-serving-default", "keras.layers.TFSMLayer",
                   f"TFSMLayer calls the endpoint {DEFAULT_SERVING_SIGNATURE_DEF_KEY!r} by "
                   f"default and the model has no such signature (signatures: "
                   f"{sorted(all_keys - set(RESERVED_SIGNATURE_KEYS))}); pass call_endpoint=")
    if consumer == "hub" and not has_object_graph:
        report("consumer-hub-signature", "hub.KerasLayer",
               "a TF1 SavedModel (no object graph) is not callable; hub.KerasLayer needs "
               "signature= (and signature_outputs_as_dict=True or output_key=)")
    if consumer == "tflite" and serve is not None:
        if not signatures:
            report("consumer-no-signatures", tags_label(["serve"]),
                   "the [serve] meta graph has no signatures; the converter converts signatures")
        for key in sorted(signatures):
            for op in _ops_needed(serve, serve.signature_def[key]):
                if op not in TFLITE_BUILTIN_TF_OPS:
                    report("consumer-tflite-op", f"signature {key!r}",
                           f"op {op!r} has no TFLite builtin; convert with "
                           f"target_spec.supported_ops including SELECT_TF_OPS")
    return findings


def _ops_needed(meta: meta_graph_pb2.MetaGraphDef,
                sig: meta_graph_pb2.SignatureDef) -> list[str]:
    """Op types the signature's outputs depend on through data inputs, functions included."""
    graph: graph_pb2.GraphDef = meta.graph_def
    nodes = {node.name: node for node in graph.node}
    functions = {f.signature.name: f for f in graph.library.function}
    ops: set[str] = set()
    seen_functions: set[str] = set()

    def walk(start: Iterable[str], table: dict[str, node_def_pb2.NodeDef]) -> None:
        stack = list(start)
        seen: set[str] = set()
        while stack:
            name = stack.pop()
            if name in seen or name not in table:
                continue
            seen.add(name)
            node = table[name]
            ops.add(node.op)
            for attr in _CALL_ATTRS:
                fn = node.attr[attr].func.name if attr in node.attr else ""
                if fn and fn in functions and fn not in seen_functions:
                    seen_functions.add(fn)
                    body = functions[fn]
                    inner = {n.name: n for n in body.node_def}
                    walk(inner, inner)
            stack.extend(parse_input(i)[0] for i in node.input if not i.startswith("^"))

    walk([parse_input(info.name)[0] for info in sig.outputs.values()], nodes)
    return sorted(ops)
