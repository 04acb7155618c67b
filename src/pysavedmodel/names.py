"""Name rules, written once: UTF-8 strings, node names, tensor and input references.

* Strings stored in TensorFlow protos (node names, attrs, signature keys, tensor
  names in a checkpoint index) are UTF-8; a Python ``str`` holding lone surrogates
  cannot be stored (:func:`utf8`).
* A node name matches ``[A-Za-z0-9.][A-Za-z0-9_.\\-/>]*`` (:data:`NODE_NAME`);
  name scopes may also start with ``_``, ``-``, ``/`` or ``>`` (:data:`SCOPE_NAME`).
* A NodeDef input is ``node`` (output 0), ``node:i`` or ``^node`` (a control input)
  (:func:`parse_input`); a tensor name in a SignatureDef is ``node:i``
  (:func:`canonical_tensor_name`).

A leaf module: it imports only :mod:`pysavedmodel.errors`.
"""

from __future__ import annotations

import re
from typing import Callable, Final

from .errors import Error, InvalidArgumentError

__all__ = ["NODE_NAME", "SCOPE_NAME", "NODE_NAME_RULE", "utf8", "is_node_name",
           "parse_input", "canonical_tensor_name"]

NODE_NAME: Final = re.compile(r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*\Z")
"""What TensorFlow accepts as a node name."""
SCOPE_NAME: Final = re.compile(r"[A-Za-z0-9_.\-/>]*\Z")
"""What TensorFlow accepts as a name scope."""
NODE_NAME_RULE: Final = r"[A-Za-z0-9.][A-Za-z0-9_.\-/>]*"
"""The node name rule as messages quote it."""


def utf8(text: str, what: str | Callable[[], str],
         error: type[Error] = InvalidArgumentError) -> bytes:
    """``text`` as UTF-8 bytes; ``error`` naming ``what`` when it holds lone surrogates.

    ``what`` may be a callable that builds the description only when it is needed
    (for checks inside hot loops).

    >>> utf8("dense/kernel", "tensor name")
    b'dense/kernel'
    """
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        shown = what() if callable(what) else what
        raise error(f"{shown} is not encodable as UTF-8 (lone surrogates)") from None


def is_node_name(name: str) -> bool:
    """Whether TensorFlow accepts ``name`` as a node name."""
    return NODE_NAME.match(name) is not None


def parse_input(text: str) -> tuple[str, int, bool]:
    """A NodeDef input string as ``(node name, output index, is_control)``.

    ``"^x"`` is a control input; ``"x"`` is output 0; ``"x:2"`` output 2.
    """
    if text.startswith("^"):
        return text[1:], -1, True
    name, sep, index = text.rpartition(":")
    if sep and index.isdigit():
        return name, int(index), False
    return text, 0, False


def canonical_tensor_name(name: str) -> str:
    """``"node"`` -> ``"node:0"``; ``"node:1"`` unchanged."""
    op, sep, index = name.rpartition(":")
    if sep and op and index.isdigit():
        return name
    return f"{name}:0"
