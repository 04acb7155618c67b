"""Reading spec values, with errors that start with the JSON path of the offending value.

``spec.weights.files[0]: expected a non-empty string, got a number 3``: every
reader takes the value and its path, checks its JSON type (and for objects the
keys allowed), and raises an error of the :class:`pysavedmodel.Error` family.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final, NoReturn, TypeVar

from .. import dtypes
from ..errors import Error, InvalidArgumentError, UnsupportedDTypeError

_IDENTIFIER: Final = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")

_E = TypeVar("_E", bound=Error)


def key_path(path: str, key: Any) -> str:
    """``spec.weights`` for identifier keys, ``spec.assets["vocab.txt"]`` otherwise."""
    if not isinstance(key, str):  # only a spec given as a Python mapping can have these
        return f"{path}[{key!r}]"
    return f"{path}.{key}" if _IDENTIFIER.match(key) else f"{path}[{json.dumps(key)}]"


def fail(where: str, message: str, kind: type[Error] = InvalidArgumentError) -> NoReturn:
    """Raise ``kind("<where>: <message>")``."""
    raise kind(f"{where}: {message}")


def rewrap(where: str, exc: _E) -> _E:
    """The same kind of error with the JSON path in front of its message."""
    return type(exc)(f"{where}: {exc}")


def json_type(value: Any) -> str:
    """What ``value`` is, in JSON words ("a string", "an object", "null"...)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, (list, tuple)):
        return "an array"
    return type(value).__name__


def expect_object(value: Any, where: str, allowed: Sequence[str]) -> Mapping[str, Any]:
    """An object whose keys are all among ``allowed``."""
    if not isinstance(value, Mapping):
        fail(where, f"expected an object, got {json_type(value)}")
    unknown = sorted((k for k in value if k not in allowed), key=str)
    if unknown:
        fail(where, f"unknown key(s) {', '.join(repr(k) for k in unknown)}; "
                    f"expected some of {', '.join(allowed)}")
    return value


def expect_mapping(value: Any, where: str, layout: str) -> Mapping[Any, Any]:
    """An object of free keys; ``layout`` (``{key: tensor name}``) says what it maps."""
    if not isinstance(value, Mapping):
        fail(where, f"expected an object {layout}, got {json_type(value)}")
    return value


def expect_array(value: Any, where: str) -> Sequence[Any]:
    """A JSON array (a list or tuple)."""
    if not isinstance(value, (list, tuple)):
        fail(where, f"expected an array, got {json_type(value)}")
    return value


def expect_string(value: Any, where: str) -> str:
    """A non-empty string."""
    if not isinstance(value, str) or not value:
        fail(where, f"expected a non-empty string, got {json_type(value)} {value!r}")
    return value


def expect_boolean(value: Any, where: str) -> bool:
    """``true`` or ``false``."""
    if not isinstance(value, bool):
        fail(where, f"expected true or false, got {json_type(value)} {value!r}")
    return value


def expect_dtype(value: Any, where: str) -> dtypes.DType:
    """The name of a numeric dtype a weight can have (``"float32"``)."""
    name = expect_string(value, where)
    try:
        row = dtypes.by_name(name)
    except UnsupportedDTypeError as exc:
        raise rewrap(where, exc) from None
    if row.numpy is None or row.is_string or not row.checkpointable:
        fail(where, f"dtype {name!r} cannot be a weight's dtype; expected a numeric dtype "
                    "such as 'float32'", UnsupportedDTypeError)
    return row


def shape_text(shape: Sequence[int | None] | None) -> str:
    """``[4,?]`` (``<unknown rank>`` for None), as shapes appear in messages."""
    if shape is None:
        return "<unknown rank>"
    return "[" + ",".join("?" if d is None else str(d) for d in shape) + "]"


def name_list(names: Sequence[str], limit: int = 12) -> str:
    """``'a', 'b' and 3 more`` (``none`` when empty)."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "") \
        if names else "none"


def did_you_mean(name: str, names: Sequence[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest of ``names``, or the empty string."""
    import difflib  # only for this message

    close = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
