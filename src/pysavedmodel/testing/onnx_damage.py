"""Structural damage to ONNX models, for fuzzing :func:`pysavedmodel.from_onnx` (needs ``onnx``).

Byte damage (:func:`pysavedmodel.testing.mutate`) mostly yields files that do not parse;
the converter's deeper checks are reached by models that parse but lie.  :func:`damage`
returns a copy of a ``ModelProto`` with one such lie (:data:`ONNX_KINDS`):

==================  ==========================================================================
``drop_init``       an initializer removed (a node input no longer defined)
``init_dtype``      an initializer's ``data_type`` changed (its bytes no longer fit)
``init_dims``       an initializer's dims changed (element count no longer matches)
``rename_input``    a node input renamed to a name nothing defines
``cycle``           a node reads the output of a node after it (possibly itself)
``dup_output``      a node's output renamed to another node's output (defined twice)
``op_type``         a node's op type replaced by an unknown one
``drop_attr``       one attribute of a node removed
``attr_value``      one int/ints/float attribute set to a hostile value (negative, huge, 0)
``opset``           the default opset import set to an unknown version, or a node's domain
                    to an unknown one
``input_shape``     a graph input's dims or element type changed
``drop_node``       a node removed (its outputs undefined)
``bytes``           the serialized model damaged with :func:`pysavedmodel.testing.mutate`
==================  ==========================================================================

The contract the fuzzer checks: converting a damaged model either succeeds or raises a
:class:`pysavedmodel.Error`, and on error leaves nothing in the export directory.

    >>> import random
    >>> damaged = damage(model, "cycle", random.Random(0))  # doctest: +SKIP
"""

from __future__ import annotations

import random
from typing import Any, Final

from . import KINDS, mutate

__all__ = ["ONNX_KINDS", "damage"]

ONNX_KINDS: Final = ("drop_init", "init_dtype", "init_dims", "rename_input", "cycle",
                     "dup_output", "op_type", "drop_attr", "attr_value", "opset",
                     "input_shape", "drop_node", "bytes")

_HOSTILE_INTS: Final = (-1, 0, -(2 ** 31), 2 ** 31 - 1, 2 ** 62, 7)
_HOSTILE_FLOATS: Final = (float("nan"), float("inf"), -1.0, 0.0, 1e30)
_ELEM_TYPES: Final = (1, 2, 3, 5, 6, 7, 9, 10, 11, 16, 8, 0, 999)


def damage(model: Any, kind: str, rng: random.Random) -> Any:
    """A damaged copy of ``model`` (an ``onnx.ModelProto``), or bytes for ``kind="bytes"``.

    Args:
        model: the model to damage; it is not modified.
        kind: one of :data:`ONNX_KINDS`.
        rng: the source of every choice (seed it for reproducible damage).

    Returns:
        A new ``ModelProto`` (or ``bytes`` for ``"bytes"``).  When the model has nothing the
        kind could damage (no initializers for ``drop_init``), the copy is returned unchanged.
    """
    if kind == "bytes":
        data = model.SerializeToString()
        return mutate(data, rng.choice(KINDS), rng.randrange(max(1, len(data))),
                      bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9))),
                      rng.randrange(1, 64))
    copy = type(model)()
    copy.CopyFrom(model)
    graph = copy.graph
    nodes = list(graph.node)
    inits = list(graph.initializer)
    if kind == "drop_init" and inits:
        graph.initializer.remove(rng.choice(inits))
    elif kind == "init_dtype" and inits:
        rng.choice(inits).data_type = rng.choice(_ELEM_TYPES)
    elif kind == "init_dims" and inits:
        init = rng.choice(inits)
        dims = list(init.dims) or [1]
        dims[rng.randrange(len(dims))] = rng.choice((0, 2, 3, 1 << 20, -1))
        del init.dims[:]
        init.dims.extend(dims)
    elif kind == "rename_input" and any(n.input for n in nodes):
        node = rng.choice([n for n in nodes if n.input])
        node.input[rng.randrange(len(node.input))] = "undefined_" + str(rng.randrange(100))
    elif kind == "cycle" and nodes:
        at = rng.randrange(len(nodes))
        later = [n for n in nodes[at:] if n.output]
        node = nodes[at]
        if later and node.input:
            source = rng.choice(later)
            node.input[rng.randrange(len(node.input))] = rng.choice(list(source.output))
    elif kind == "dup_output" and len(nodes) > 1:
        first, second = rng.sample(nodes, 2)
        if first.output and second.output:
            second.output[0] = first.output[0]
    elif kind == "op_type" and nodes:
        rng.choice(nodes).op_type = rng.choice(("NoSuchOp", "", "Conv", "Relu", "If"))
    elif kind == "drop_attr":
        having = [n for n in nodes if n.attribute]
        if having:
            node = rng.choice(having)
            node.attribute.remove(rng.choice(list(node.attribute)))
    elif kind == "attr_value":
        _hostile_attr(nodes, rng)
    elif kind == "opset":
        if nodes and rng.random() < 0.3:
            rng.choice(nodes).domain = "com.example.unknown"
        else:
            for entry in copy.opset_import:
                if entry.domain in ("", "ai.onnx"):
                    entry.version = rng.choice((0, 1, 5, 99, 10 ** 6))
    elif kind == "input_shape" and graph.input:
        value = rng.choice(list(graph.input))
        tensor = value.type.tensor_type
        if rng.random() < 0.4 or not tensor.shape.dim:
            tensor.elem_type = rng.choice(_ELEM_TYPES)
        else:
            dim = tensor.shape.dim[rng.randrange(len(tensor.shape.dim))]
            dim.dim_value = rng.choice((0, 1, 3, 1 << 20))
    elif kind == "drop_node" and nodes:
        graph.node.remove(rng.choice(nodes))
    elif kind not in ONNX_KINDS:
        raise ValueError(f"unknown ONNX damage kind {kind!r}; expected one of {ONNX_KINDS}")
    return copy


def _hostile_attr(nodes: list[Any], rng: random.Random) -> None:
    """Set one numeric attribute of some node to a hostile value (INT=2, FLOAT=1, INTS=7,
    FLOATS=6 in ``AttributeProto.AttributeType``)."""
    candidates = [(n, a) for n in nodes for a in n.attribute if a.type in (1, 2, 6, 7)]
    if not candidates:
        return
    _, attr = rng.choice(candidates)
    if attr.type == 2:
        attr.i = rng.choice(_HOSTILE_INTS)
    elif attr.type == 1:
        attr.f = rng.choice(_HOSTILE_FLOATS)
    elif attr.type == 7:
        values = list(attr.ints) or [0]
        values[rng.randrange(len(values))] = rng.choice(_HOSTILE_INTS)
        if rng.random() < 0.3:
            values.append(rng.choice(_HOSTILE_INTS))
        del attr.ints[:]
        attr.ints.extend(values)
    else:
        values_f = list(attr.floats) or [0.0]
        values_f[rng.randrange(len(values_f))] = rng.choice(_HOSTILE_FLOATS)
        del attr.floats[:]
        attr.floats.extend(values_f)
