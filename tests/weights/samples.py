"""Sample tensors per dtype, and exact comparison, for the weights tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from pysavedmodel.dtypes import by_name

SAFETENSORS_DTYPES = (
    "bool", "uint8", "int8", "float8_e5m2", "float8_e4m3fn", "int16", "uint16", "float16",
    "bfloat16", "int32", "uint32", "float32", "complex64", "float64", "int64", "uint64")
"""What safetensors holds (written out here, independently of the module under test)."""

NPZ_DTYPES = (
    "bool", "uint8", "int8", "int16", "uint16", "float16", "bfloat16", "int32", "uint32",
    "float32", "complex64", "float64", "int64", "uint64", "complex128")

CHECKPOINT_DTYPES = NPZ_DTYPES  # plus strings, which neither safetensors nor npz take

SHAPES = {"mat": (2, 3), "scalar": (), "empty": (0, 3), "rank4": (1, 2, 1, 2)}


def sample(dtype_name: str, shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Deterministic values of a dtype; floats include NaN and -0.0 where there is room."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(by_name(dtype_name).numpy)
    count = int(np.prod(shape, dtype=np.int64))
    if dtype_name == "bool":
        flat = rng.integers(0, 2, count).astype(bool)
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        flat = rng.integers(info.min, info.max, count, dtype=dtype, endpoint=True)
    elif dtype.kind == "c":
        flat = (rng.standard_normal(count) + 1j * rng.standard_normal(count)).astype(dtype)
    else:
        values = rng.standard_normal(count) * 3
        if count >= 3:
            values[:2] = [np.nan, -0.0]
        flat = values.astype(dtype)
    return flat.reshape(shape)


def tensors_of(dtypes: Iterable[str]) -> dict[str, np.ndarray]:
    """One tensor per (dtype, shape) pair, named ``dtype/shape``."""
    return {f"{name}/{label}": sample(name, shape, seed=i)
            for i, name in enumerate(dtypes) for label, shape in SHAPES.items()}


def assert_same(got: Mapping[str, Any], want: Mapping[str, Any]) -> None:
    """Same names, and per tensor the same dtype, shape and bytes (NaN payloads too)."""
    assert sorted(got) == sorted(want)
    for name, expected in want.items():
        value, expected = np.asarray(got[name]), np.asarray(expected)
        assert value.dtype == expected.dtype, (name, value.dtype, expected.dtype)
        assert value.shape == expected.shape, (name, value.shape, expected.shape)
        if expected.dtype == object:
            assert value.tolist() == expected.tolist(), name
        else:
            assert value.tobytes() == expected.tobytes(), name
