"""SignatureDefs: construction helpers, resolution against a graph, validation.

The public helpers mirror ``tf.compat.v1.saved_model``'s signature functions
and return ``SignatureDef`` protos.  Tensors are given as graph handles
(:class:`pysavedmodel.Tensor`) or as names (``"node:0"``; a bare ``"node"``
means output 0).  A handle fills ``dtype``/``tensor_shape`` at once; a name
only records ``name``.  When the builder adds a meta graph it *resolves* every
signature against that graph (:func:`resolve_signature_def_map`): each tensor
must exist there, dtype and shape are filled from it, and the signature must
satisfy the rules TensorFlow Serving applies to its method name.

Serving rules (TF's ``is_valid_signature``):

* predict: at least one input and one output;
* classify: exactly one input ``inputs`` of DT_STRING; outputs only
  ``classes`` (DT_STRING) and/or ``scores`` (DT_FLOAT), at least one;
* regress: exactly one input ``inputs`` (DT_STRING) and one output
  ``outputs`` (DT_FLOAT).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Union, cast

from .. import dtypes
from .._proto import meta_graph_pb2
from ..constants import (
    CLASSIFY_METHOD_NAME,
    DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    INIT_OP_SIGNATURE_KEY,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    RESERVED_SIGNATURE_KEYS,
    TRAIN_OP_SIGNATURE_KEY,
)
from ..errors import NotFoundError, SignatureError
from ..graph.attrs import make_shape_proto, proto_dtype
from ..graph.graph import Graph, Tensor, TensorRef
from ..names import canonical_tensor_name, utf8
from .serving_rules import (
    CLASSIFY_INPUTS,
    CLASSIFY_OUTPUT_CLASSES,
    CLASSIFY_OUTPUT_SCORES,
    REGRESS_INPUTS,
    REGRESS_OUTPUTS,
    validate_serving_rules,
)

__all__ = [
    "PREDICT_METHOD_NAME", "CLASSIFY_METHOD_NAME", "REGRESS_METHOD_NAME",
    "DEFAULT_SERVING_SIGNATURE_DEF_KEY", "INIT_OP_SIGNATURE_KEY", "TRAIN_OP_SIGNATURE_KEY",
    "RESERVED_SIGNATURE_KEYS", "predict_signature_def", "classification_signature_def",
    "regression_signature_def", "build_signature_def", "build_tensor_info",
    "op_signature_def", "as_signature_def", "resolve_signature_def",
    "resolve_signature_def_map", "validate_serving_rules",
]

SignatureLike = Union[meta_graph_pb2.SignatureDef, Mapping[str, Any]]


# Short method names accepted in plain-dict signatures.
_METHOD_ALIASES: Final = {
    "predict": PREDICT_METHOD_NAME,
    "classify": CLASSIFY_METHOD_NAME,
    "regress": REGRESS_METHOD_NAME,
}
_DICT_KEYS: Final = frozenset({"inputs", "outputs", "method_name"})


# --------------------------------------------------------------------------- TensorInfo

def _check_utf8(text: str, what: str) -> None:
    """Strings in a SignatureDef are UTF-8 (:func:`pysavedmodel.names.utf8`)."""
    utf8(text, what, SignatureError)


def _fill_from_tensor(info: meta_graph_pb2.TensorInfo, tensor: Tensor) -> None:
    info.name = tensor.name
    info.dtype = proto_dtype(0 if tensor.dtype is None else tensor.dtype.enum)
    info.tensor_shape.CopyFrom(make_shape_proto(tensor.shape))


def build_tensor_info(ref: TensorRef) -> meta_graph_pb2.TensorInfo:
    """A ``TensorInfo`` for a handle (name, dtype, shape) or a name (name only).

    Raises :class:`SignatureError` for anything else.
    """
    info = meta_graph_pb2.TensorInfo()
    if isinstance(ref, Tensor):
        _fill_from_tensor(info, ref)
    elif isinstance(ref, str) and ref:
        _check_utf8(ref, f"tensor name {ref!r}")
        info.name = canonical_tensor_name(ref)
    else:
        raise SignatureError(
            f"expected a graph Tensor or a tensor name like 'node:0', got {ref!r}")
    return info


def _tensor_map(arg: str, refs: Any, *,
                allow_empty: bool = True) -> dict[str, meta_graph_pb2.TensorInfo]:
    if refs is None:
        refs = {}
    if not isinstance(refs, Mapping):
        raise SignatureError(
            f"signature {arg} must be a mapping {{key: tensor}}, got {type(refs).__name__}")
    out: dict[str, meta_graph_pb2.TensorInfo] = {}
    for key, ref in refs.items():
        if not isinstance(key, str) or not key:
            raise SignatureError(f"signature {arg} keys must be non-empty strings, got {key!r}")
        _check_utf8(key, f"signature {arg} key {key!r}")
        try:
            out[key] = (_copy_info(ref) if isinstance(ref, meta_graph_pb2.TensorInfo)
                        else build_tensor_info(ref))
        except SignatureError as exc:
            raise SignatureError(f"signature {arg}[{key!r}]: {exc}") from None
    if not out and not allow_empty:
        raise SignatureError(f"signature {arg} must not be empty")
    return out


def _copy_info(info: meta_graph_pb2.TensorInfo) -> meta_graph_pb2.TensorInfo:
    copy = meta_graph_pb2.TensorInfo()
    copy.CopyFrom(info)
    return copy


def _make(inputs: Mapping[str, meta_graph_pb2.TensorInfo],
          outputs: Mapping[str, meta_graph_pb2.TensorInfo],
          method_name: str | None) -> meta_graph_pb2.SignatureDef:
    sig = meta_graph_pb2.SignatureDef()
    for key, info in inputs.items():
        sig.inputs[key].CopyFrom(info)
    for key, info in outputs.items():
        sig.outputs[key].CopyFrom(info)
    if method_name:
        _check_utf8(method_name, f"method_name {method_name!r}")
        sig.method_name = method_name
    return sig


# --------------------------------------------------------------------------- public helpers

def build_signature_def(inputs: Mapping[str, TensorRef] | None = None,
                        outputs: Mapping[str, TensorRef] | None = None,
                        method_name: str | None = None) -> meta_graph_pb2.SignatureDef:
    """A ``SignatureDef`` from ``{key: tensor}`` maps and an optional method name.

    No serving rule is checked here beyond well-formed arguments; the builder
    checks the rules of ``method_name`` when it resolves the signature.
    """
    if method_name is not None and not isinstance(method_name, str):
        raise SignatureError(f"method_name must be a string, got {method_name!r}")
    return _make(_tensor_map("inputs", inputs), _tensor_map("outputs", outputs), method_name)


def predict_signature_def(inputs: Mapping[str, TensorRef],
                          outputs: Mapping[str, TensorRef]) -> meta_graph_pb2.SignatureDef:
    """A predict signature (``tensorflow/serving/predict``); both maps non-empty."""
    sig = _make(_tensor_map("inputs", inputs, allow_empty=False),
                _tensor_map("outputs", outputs, allow_empty=False), PREDICT_METHOD_NAME)
    validate_serving_rules("<predict>", sig)
    return sig


def classification_signature_def(examples: TensorRef, classes: TensorRef | None,
                                 scores: TensorRef | None) -> meta_graph_pb2.SignatureDef:
    """A classify signature: ``examples`` (serialized tf.Example strings) ->
    ``classes`` (strings) and/or ``scores`` (float32); at least one of them."""
    if examples is None:
        raise SignatureError("classification signature: examples must be given")
    if classes is None and scores is None:
        raise SignatureError("classification signature: classes and scores cannot both be None")
    outputs: dict[str, TensorRef] = {}
    if classes is not None:
        outputs[CLASSIFY_OUTPUT_CLASSES] = classes
    if scores is not None:
        outputs[CLASSIFY_OUTPUT_SCORES] = scores
    sig = _make(_tensor_map("inputs", {CLASSIFY_INPUTS: examples}),
                _tensor_map("outputs", outputs), CLASSIFY_METHOD_NAME)
    validate_serving_rules("<classify>", sig)
    return sig


def regression_signature_def(examples: TensorRef,
                             predictions: TensorRef) -> meta_graph_pb2.SignatureDef:
    """A regress signature: ``examples`` (strings) -> ``outputs`` (float32)."""
    if examples is None:
        raise SignatureError("regression signature: examples must be given")
    if predictions is None:
        raise SignatureError("regression signature: predictions must be given")
    sig = _make(_tensor_map("inputs", {REGRESS_INPUTS: examples}),
                _tensor_map("outputs", {REGRESS_OUTPUTS: predictions}), REGRESS_METHOD_NAME)
    validate_serving_rules("<regress>", sig)
    return sig


def op_signature_def(op_name: str, key: str) -> meta_graph_pb2.SignatureDef:
    """The signature TF uses to point at an op (init/train op): one output
    ``key`` whose name is the op name (no ``:0``), dtype DT_INVALID, unknown rank."""
    sig = meta_graph_pb2.SignatureDef()
    info = sig.outputs[key]
    info.name = op_name
    info.tensor_shape.unknown_rank = True
    return sig


# --------------------------------------------------------------------------- validation

# --------------------------------------------------------------------------- resolution

def as_signature_def(key: str, value: SignatureLike) -> meta_graph_pb2.SignatureDef:
    """Coerce a ``SignatureDef`` or a plain dict to a (copied) ``SignatureDef``.

    A dict has keys ``inputs``, ``outputs`` (``{key: tensor}``) and optional
    ``method_name`` (default ``tensorflow/serving/predict``; the short names
    ``predict``/``classify``/``regress`` are accepted).
    """
    if isinstance(value, meta_graph_pb2.SignatureDef):
        copy = meta_graph_pb2.SignatureDef()
        copy.CopyFrom(value)
        return copy
    if _full_name(value) == "tensorflow.SignatureDef":  # another pool's class (TF's own)
        data: bytes = cast(Any, value).SerializeToString()
        return meta_graph_pb2.SignatureDef.FromString(data)
    if isinstance(value, Mapping):
        unknown = sorted(set(value) - _DICT_KEYS, key=repr)
        if unknown:
            raise SignatureError(
                f"signature {key!r}: unknown field(s) {unknown}; expected {sorted(_DICT_KEYS)}")
        method = value.get("method_name", PREDICT_METHOD_NAME)
        if not isinstance(method, str):
            raise SignatureError(f"signature {key!r}: method_name must be a string, got {method!r}")
        method = _METHOD_ALIASES.get(method, method)
        try:
            return _make(_tensor_map("inputs", value.get("inputs")),
                         _tensor_map("outputs", value.get("outputs")), method)
        except SignatureError as exc:
            raise SignatureError(f"signature {key!r}: {exc}") from None
    raise SignatureError(
        f"signature {key!r}: expected a SignatureDef or a dict with inputs/outputs/method_name, "
        f"got {type(value).__name__}")


def _full_name(message: Any) -> str:
    """The proto type name of a message of any descriptor pool ("" for non-messages)."""
    return str(getattr(getattr(message, "DESCRIPTOR", None), "full_name", ""))


def _resolve_info(key: str, side: str, name: str, info: meta_graph_pb2.TensorInfo,
                  graph: Graph) -> None:
    if info.WhichOneof("encoding") != "name":
        raise SignatureError(
            f"signature {key!r}: {side} {name!r} must name a dense tensor "
            f"(sparse/composite TensorInfo is not supported)")
    try:
        tensor = graph.get_tensor(canonical_tensor_name(info.name))
    except NotFoundError:
        raise SignatureError(
            f"signature {key!r}: {side} {name!r} refers to tensor {info.name!r}, "
            f"which is not in the graph") from None
    if tensor.dtype is None:
        raise SignatureError(
            f"signature {key!r}: {side} {name!r} refers to {info.name!r}, an op with no outputs")
    if info.dtype and info.dtype != tensor.dtype.enum:
        raise SignatureError(
            f"signature {key!r}: {side} {name!r} (tensor {info.name!r}) says "
            f"{dtypes.dtype_name(info.dtype, proto=True)} but the graph has "
            f"{tensor.dtype.proto_name}")
    _fill_from_tensor(info, tensor)


def resolve_signature_def(key: str, value: SignatureLike,
                          graph: Graph) -> meta_graph_pb2.SignatureDef:
    """A complete, validated copy of one user signature resolved against ``graph``."""
    if not isinstance(key, str) or not key:
        raise SignatureError(f"signature keys must be non-empty strings, got {key!r}")
    _check_utf8(key, f"signature key {key!r}")
    if key in RESERVED_SIGNATURE_KEYS:
        raise SignatureError(
            f"signature key {key!r} is reserved (init/train op); choose another key")
    sig = as_signature_def(key, value)
    for side, infos in (("input", sig.inputs), ("output", sig.outputs)):
        for name in sorted(infos):
            _resolve_info(key, side, name, infos[name], graph)
    validate_serving_rules(key, sig)
    return sig


def resolve_signature_def_map(signature_def_map: Mapping[str, SignatureLike] | None,
                              graph: Graph) -> dict[str, meta_graph_pb2.SignatureDef]:
    """Resolve every user signature (see :func:`resolve_signature_def`)."""
    if signature_def_map is None:
        return {}
    if not isinstance(signature_def_map, Mapping):
        raise SignatureError(
            f"signature_def_map must be a mapping {{key: signature}}, "
            f"got {type(signature_def_map).__name__}")
    return {key: resolve_signature_def(key, value, graph)
            for key, value in signature_def_map.items()}
