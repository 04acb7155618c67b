"""tf.Example parsing front ends, for classify and regress signatures.

TF Serving's Classify and Regress APIs feed a signature one DT_STRING tensor
``inputs``: a batch of serialized ``tf.train.Example`` protos.  :func:`parse_examples`
adds the ``ParseExampleV2`` node that turns it into feature tensors, from a feature
spec like ``tf.io.parse_example``'s:

* :class:`FixedLenFeature` ``(shape, dtype, default=None)`` → a dense tensor
  ``[batch, *shape]``; an Example without the feature takes ``default`` (a value of
  ``shape``), or fails at run time when there is none;
* :class:`VarLenFeature` ``(dtype)`` → a sparse tensor: ``indices`` int64 ``[n, 2]``
  (example, position), ``values`` ``[n]``, ``dense_shape`` int64 ``[2]``.

dtypes are ``float32``, ``int64`` or ``string`` (the three kinds a ``Feature`` holds).

``ParseExampleV2``'s wire form (TF 2.21 op registry): inputs ``serialized``,
``names`` (empty), ``sparse_keys``, ``dense_keys``, ``ragged_keys`` (empty) — string
vectors — and ``dense_defaults`` (one tensor per dense key, empty for "required");
attrs ``Tdense``, ``num_sparse``, ``sparse_types``, ``dense_shapes``,
``ragged_value_types`` / ``ragged_split_types`` (empty).  Outputs, in order:
``num_sparse`` index tensors, ``num_sparse`` value tensors, ``num_sparse`` shape
tensors, then the dense values.  Keys are given sorted, as ``tf.io.parse_example``
sorts them.

Example::

    g = Graph()
    serialized, parsed = example_input(g, {"age": FixedLenFeature([1], "float32", [0.0]),
                                           "tags": VarLenFeature("string")})
    score = g.op("Mul", [parsed["age"], 2.0])
    sig = regression_signature_def(serialized, score)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Union

import numpy as np

from .. import dtypes
from ..errors import InvalidArgumentError
from ..graph.graph import Graph, Tensor

__all__ = ["FixedLenFeature", "VarLenFeature", "SparseFeature", "parse_examples",
           "example_input"]

_KINDS: Final = {"float32": dtypes.DT_FLOAT, "int64": dtypes.DT_INT64,
                 "string": dtypes.DT_STRING}


@dataclass(frozen=True)
class FixedLenFeature:
    """A feature with a fixed shape per Example (``tf.io.FixedLenFeature``)."""

    shape: Sequence[int]
    dtype: str
    default: Any = None


@dataclass(frozen=True)
class VarLenFeature:
    """A feature with any number of values per Example, parsed as sparse."""

    dtype: str


@dataclass(frozen=True)
class SparseFeature:
    """The three tensors of a parsed :class:`VarLenFeature`."""

    indices: Tensor
    values: Tensor
    dense_shape: Tensor


FeatureSpec = Union[FixedLenFeature, VarLenFeature]


def _kind(name: str, dtype: Any) -> int:
    try:
        row = dtypes.as_dtype(dtype)
    except Exception:
        row = None
    if row is None or row.name not in _KINDS:
        raise InvalidArgumentError(
            f"feature {name!r} has dtype {dtype!r}; tf.Example features are float32, int64 "
            f"or string")
    return _KINDS[row.name]


def parse_examples(g: Graph, serialized: Tensor, features: Mapping[str, FeatureSpec], *,
                   name: str | None = None) -> dict[str, Tensor | SparseFeature]:
    """Parse ``serialized`` (DT_STRING ``[batch]``) into the ``features`` spec.

    Returns ``{feature: Tensor}`` for fixed-length features and
    ``{feature: SparseFeature}`` for var-length ones.  Raises
    :class:`InvalidArgumentError` naming the feature for an unknown dtype, a bad shape
    or a default that does not fit its shape.
    """
    if not isinstance(features, Mapping) or not features:
        raise InvalidArgumentError(f"features must be a non-empty mapping of name -> "
                                   f"FixedLenFeature/VarLenFeature, got {features!r}")
    dense: list[tuple[str, FixedLenFeature, int]] = []
    sparse: list[tuple[str, int]] = []
    for key in sorted(features):
        spec = features[key]
        if not isinstance(key, str) or not key:
            raise InvalidArgumentError(f"feature names must be non-empty strings, got {key!r}")
        if isinstance(spec, FixedLenFeature):
            shape = list(spec.shape)
            if any(not isinstance(d, (int, np.integer)) or d < 0 for d in shape):
                raise InvalidArgumentError(
                    f"feature {key!r} has shape {shape}; a fixed-length feature needs "
                    f"non-negative integer dims")
            dense.append((key, spec, _kind(key, spec.dtype)))
        elif isinstance(spec, VarLenFeature):
            sparse.append((key, _kind(key, spec.dtype)))
        else:
            raise InvalidArgumentError(f"feature {key!r}: expected FixedLenFeature or "
                                       f"VarLenFeature, got {type(spec).__name__}")
    defaults = []
    for key, spec, enum in dense:
        row = dtypes.DTYPES[enum]
        if spec.default is None:
            value = np.zeros([0], dtype=object if row.is_string else row.numpy)
        else:
            value = np.asarray(spec.default, dtype=object if row.is_string else row.numpy)
            if value.size == 1 and list(spec.shape) != list(value.shape):
                value = np.full(spec.shape, value.reshape(-1)[0], dtype=value.dtype)
            if list(value.shape) != list(spec.shape):
                raise InvalidArgumentError(
                    f"feature {key!r}: default of shape {list(value.shape)} does not fit "
                    f"shape {list(spec.shape)}")
        defaults.append(g.constant(value, dtype=row.name))
    def strings(items: list[str]) -> np.ndarray:
        return np.array([item.encode("utf-8") for item in items], dtype=object)

    node = g.op("ParseExampleV2", [
        serialized, strings([]), strings([k for k, _ in sparse]),
        strings([k for k, _, _ in dense]), strings([]), defaults],
        name=name, num_sparse=len(sparse),
        sparse_types=[dtypes.DTYPES[e].name for _, e in sparse],
        dense_shapes=[list(spec.shape) for _, spec, _ in dense],
        ragged_value_types=[], ragged_split_types=[])
    outputs = node.outputs
    n = len(sparse)
    parsed: dict[str, Tensor | SparseFeature] = {}
    for i, (key, _) in enumerate(sparse):
        parsed[key] = SparseFeature(outputs[i], outputs[n + i], outputs[2 * n + i])
    for j, (key, _, _) in enumerate(dense):
        parsed[key] = outputs[3 * n + j]
    return parsed


def example_input(g: Graph, features: Mapping[str, FeatureSpec], *,
                  name: str = "inputs") -> tuple[Tensor, dict[str, Tensor | SparseFeature]]:
    """A DT_STRING ``[batch]`` placeholder for serialized Examples and its parsed features:
    the ``inputs`` of a classify or regress signature."""
    serialized = g.placeholder(name, "string", [None])
    return serialized, parse_examples(g, serialized, features)
