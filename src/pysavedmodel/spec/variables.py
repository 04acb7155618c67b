"""``spec.variables``: the variables to create, and which mapped weight feeds each.

An entry is a name or ``{"name", "weight", "shape", "dtype"}``; the optional
shape and dtype are checked against the weight.  Each weight feeds one variable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Final, NamedTuple

from .. import dtypes
from ..errors import NotFoundError, UnsupportedDTypeError
from .json_paths import (
    did_you_mean,
    expect_array,
    expect_dtype,
    expect_object,
    expect_string,
    fail,
    key_path,
    name_list,
    shape_text,
)
from .weights_map import Weight

_VARIABLE_KEYS: Final = ("name", "weight", "shape", "dtype")


class VariableEntry(NamedTuple):
    """One entry of ``spec.variables``, checked."""

    where: str
    name: str
    weight: str
    shape: tuple[int | None, ...] | None
    dtype: dtypes.DType | None


def parse_variables(section: Any) -> list[VariableEntry]:
    """The entries of ``spec.variables`` (names unique)."""
    where = "spec.variables"
    out: list[VariableEntry] = []
    seen: dict[str, str] = {}
    for index, item in enumerate(expect_array(section, where)):
        item_where = f"{where}[{index}]"
        if isinstance(item, str):
            item = {"name": item}
        entry = expect_object(item, item_where, _VARIABLE_KEYS)
        name = expect_string(entry.get("name"), key_path(item_where, "name"))
        weight = expect_string(entry.get("weight", name), key_path(item_where, "weight"))
        shape = None
        if "shape" in entry:
            dims = expect_array(entry["shape"], key_path(item_where, "shape"))
            if not all(d is None or (isinstance(d, int) and not isinstance(d, bool) and d >= 0)
                       for d in dims):
                fail(key_path(item_where, "shape"),
                     f"expected sizes (non-negative integers, null for any), got {list(dims)!r}")
            shape = tuple(dims)
        dtype = (expect_dtype(entry["dtype"], key_path(item_where, "dtype"))
                 if "dtype" in entry else None)
        if name in seen:
            fail(item_where, f"variable {name!r} is already declared at {seen[name]}")
        seen[name] = item_where
        out.append(VariableEntry(item_where, name, weight, shape, dtype))
    return out


def take_weight(weights: dict[str, Weight], name: str, where: str, variable: str) -> Weight:
    """The mapped weight ``name``, now feeding ``variable`` (no other may take it)."""
    weight = weights.get(name)
    if weight is None:
        known = sorted(weights)
        fail(where, f"no weight named {name!r} for variable {variable!r} (after the renames "
                    f"of spec.weights.map){did_you_mean(name, known)}; mapped weights: "
                    f"{name_list(known)}", NotFoundError)
    if weight.used_by is not None and weight.used_by != variable:
        fail(where, f"weight {name!r} already feeds variable {weight.used_by!r}; each weight "
                    "feeds one variable")
    weight.used_by = variable
    return weight


def check_fits(weight: Weight, variable: str, shape: Sequence[int | None] | None,
               dtype: dtypes.DType | None, where: str) -> None:
    """The brief's message shape: ``fc1.weight [16,4] transposed to [4,16] but variable
    'fc1/kernel' is [4,8]``."""
    value = weight.value
    if shape is not None and not (len(shape) == value.ndim and all(
            want is None or want == got for want, got in zip(shape, value.shape))):
        fail(where, f"{weight.origin} but variable {variable!r} is {shape_text(shape)} "
                    f"(weight from {weight.file!r})")
    if dtype is not None:
        try:
            got = dtypes.from_numpy(value.dtype)
        except UnsupportedDTypeError:
            got = None
        if got is not dtype:
            fail(where, f"{weight.origin} (from {weight.file!r}) has dtype {value.dtype} but "
                        f"variable {variable!r} is {dtype.name}; add \"dtype\": "
                        f"{json.dumps(dtype.name)} to its spec.weights.map rule to cast it")
