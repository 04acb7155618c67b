"""PyTorch state dicts (``torch.save`` files: ``.pt``, ``.pth``, ``.bin``) as a source.

Needs the optional ``torch`` extra, imported only when such a file is read.  Files are
opened with ``torch.load(..., weights_only=True)``: PyTorch's restricted unpickler, which
refuses any object other than tensors and plain containers instead of running its code.

State-dict rules:

* nested mappings are flattened with dotted names (``{"enc": {"w": t}}`` -> ``enc.w``);
* every leaf must be a tensor: other values (epoch counters, optimizer settings...)
  raise InvalidArgumentError naming the key;
* bfloat16 and float8 tensors become ``ml_dtypes`` arrays by reinterpreting their bits;
* arrays share memory with the loaded tensors (tied weights stay tied, no copy).
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from pysavedmodel.dtypes import by_name, from_numpy
from pysavedmodel.errors import CorruptCheckpointError, InvalidArgumentError, UnsupportedDTypeError

from ._common import MissingDependencyError, PathLike, check_file

__all__ = ["read_torch", "import_torch"]

_BIT_VIEWS: Final[dict[str, tuple[str, str]]] = {
    "bfloat16": ("int16", "bfloat16"),
    "float8_e4m3fn": ("uint8", "float8_e4m3fn"),
    "float8_e5m2": ("uint8", "float8_e5m2"),
}
"""torch dtype numpy lacks -> (same-width torch integer dtype, pysavedmodel dtype name)."""


def import_torch(path: PathLike) -> Any:
    """``import torch``, or MissingDependencyError saying how to install it."""
    try:
        return importlib.import_module("torch")
    except ImportError:
        raise MissingDependencyError(
            f"reading the PyTorch file {str(path)!r} needs torch, which is not installed; "
            f"install it with: pip install 'pysavedmodel[torch]'") from None


def _to_numpy(torch: Any, path: Path, key: str, tensor: Any) -> np.ndarray:
    where = f"{str(path)!r}: tensor {key!r}"
    if tensor.layout != torch.strided:
        raise UnsupportedDTypeError(f"{where} has layout {tensor.layout}; only dense tensors "
                                    f"can be converted")
    tensor = tensor.detach().cpu().resolve_conj().resolve_neg()
    dtype_name = str(tensor.dtype).replace("torch.", "")
    view = _BIT_VIEWS.get(dtype_name)
    if view is not None:
        carrier, ours = view
        bits: np.ndarray = tensor.contiguous().view(getattr(torch, carrier)).numpy()
        return bits.view(np.dtype(by_name(ours).numpy))
    try:
        array: np.ndarray = tensor.numpy()
        from_numpy(array.dtype)
    except (TypeError, RuntimeError, UnsupportedDTypeError):
        raise UnsupportedDTypeError(f"{where} has dtype {tensor.dtype}, which has no "
                                    f"pysavedmodel dtype") from None
    return array


def _flatten(torch: Any, path: Path, value: Mapping[Any, Any], prefix: str,
             out: dict[str, np.ndarray]) -> None:
    for raw_key, item in value.items():
        key = f"{prefix}{raw_key}"
        if not isinstance(raw_key, str):
            raise InvalidArgumentError(
                f"{str(path)!r}: state-dict key {key!r} is a {type(raw_key).__name__}; "
                f"expected string keys")
        if isinstance(item, Mapping):
            _flatten(torch, path, item, key + ".", out)
        elif isinstance(item, torch.Tensor):
            if key in out:
                raise InvalidArgumentError(
                    f"{str(path)!r}: two entries flatten to the same name {key!r}")
            out[key] = _to_numpy(torch, path, key, item)
        else:
            raise InvalidArgumentError(
                f"{str(path)!r}: entry {key!r} is a {type(item).__name__}, not a tensor; "
                f"expected a state dict of tensors (nested dicts are flattened as a.b)")


def read_torch(path: PathLike) -> dict[str, np.ndarray]:
    """The tensors of a ``torch.save`` state dict as ``{name: ndarray}``, sorted by name.

    Raises MissingDependencyError without torch, NotFoundError for a missing file,
    InvalidArgumentError for anything but a (nested) mapping of tensors - including
    pickled objects, which are refused, never run - and CorruptCheckpointError for a
    file torch cannot read.
    """
    source = Path(path)
    check_file(source, "PyTorch file")
    torch = import_torch(source)
    try:
        loaded = torch.load(source, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        first = str(exc).splitlines()[-1].strip() if str(exc).strip() else type(exc).__name__
        raise InvalidArgumentError(
            f"{str(path)!r} holds objects other than tensors and plain containers; refused "
            f"(loading it would run pickled code). torch says: {first}") from None
    except Exception as exc:  # RuntimeError, EOFError, zipfile errors... from a damaged file
        raise CorruptCheckpointError(
            f"{str(path)!r} is not a readable PyTorch file: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}") from None
    if not isinstance(loaded, Mapping):
        raise InvalidArgumentError(
            f"{str(path)!r} holds a {type(loaded).__name__}; expected a state dict "
            f"(a mapping of name -> tensor)")
    arrays: dict[str, np.ndarray] = {}
    _flatten(torch, source, loaded, "", arrays)
    return {name: arrays[name] for name in sorted(arrays)}
