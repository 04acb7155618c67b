"""Weights in and out of TensorFlow checkpoints, safetensors, ``.npz`` and PyTorch files.

* :func:`load_weights` reads ``{name: ndarray}`` from any of them;
* :func:`save_weights` writes a checkpoint, ``.safetensors`` or ``.npz``;
* :func:`convert_weights` does both (``pysavedmodel convert``).

Formats and how a path is recognised (``format=None``):

==============  ==============================================================
``checkpoint``  a TensorBundle prefix ``P`` (``P.index`` exists; ``P.index`` or a
                data file ``P.data-00000-of-00001`` is accepted too), or a
                SavedModel directory (its ``variables/variables`` checkpoint)
``safetensors`` ``*.safetensors``
``npz``         ``*.npz``
``torch``       ``*.pt``, ``*.pth``, ``*.bin`` (reading only; needs torch)
==============  ==============================================================

No pickle is ever run; the safetensors and npz codecs are pysavedmodel's own (numpy
only), and torch is imported only to read a PyTorch file.  Files with bytes that do not
validate raise CorruptCheckpointError naming the file; every write is atomic.

Every path may be a URL (``s3://bucket/weights.safetensors``, ``gs://...``; needs the
``remote`` extra, :mod:`pysavedmodel.remote`): a source is downloaded into a private
temporary directory and read there (a SavedModel URL: its ``variables/`` only); a
destination is written there and uploaded (a checkpoint: the index last).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import numpy as np

from pysavedmodel import remote
from pysavedmodel.aliases import Location
from pysavedmodel.constants import VARIABLES_DIRECTORY, VARIABLES_FILENAME
from pysavedmodel.errors import (
    AlreadyExistsError,
    InvalidArgumentError,
    NotFoundError,
    UnsupportedDTypeError,
)

from ._common import (
    MissingDependencyError,
    PathLike,
    ProgressCallback,
    as_path,
    check_progress,
)

__all__ = [
    "load_weights", "save_weights", "convert_weights", "detect_format", "FORMATS",
    "tf2_plain_names", "remote_checkpoint_prefix",
    "MissingDependencyError",
]

FORMATS: Final = ("checkpoint", "safetensors", "npz", "torch")
"""Format names ``format=`` (and ``--from`` / ``--to``) accept."""

WRITABLE_FORMATS: Final = ("checkpoint", "safetensors", "npz")

_SUFFIXES: Final[dict[str, str]] = {
    ".safetensors": "safetensors",
    ".npz": "npz",
    ".pt": "torch",
    ".pth": "torch",
    ".bin": "torch",
}

_INDEX_SUFFIX: Final = ".index"
_DATA_SUFFIX: Final = re.compile(r"\.data-\d{5}-of-\d{5}$")

_ACCEPTED: Final = (
    "expected a TF checkpoint prefix P (with P.index beside it) or P.index, a SavedModel "
    "directory, a .safetensors or .npz file, or a PyTorch .pt/.pth/.bin state dict")


def _check_format(format: str | None, allowed: tuple[str, ...], what: str) -> None:
    if format is not None and format not in allowed:
        raise InvalidArgumentError(
            f"unknown {what} format {format!r}; expected one of: {', '.join(allowed)}")


def _checkpoint_prefix(path: Path) -> Path:
    """``P`` for a path given as ``P.index`` or ``P.data-NNNNN-of-MMMMM``; else the path."""
    text = str(path)
    if text.endswith(_INDEX_SUFFIX):
        return Path(text[:-len(_INDEX_SUFFIX)])
    data_file = _DATA_SUFFIX.search(text)
    return Path(text[:data_file.start()]) if data_file else path


def _has_index(prefix: Path) -> bool:
    return Path(f"{prefix}{_INDEX_SUFFIX}").is_file()


def detect_format(path: PathLike, format: str | None = None) -> tuple[str, Location]:
    """``(format, path to read)`` for a weights source; see the module docstring.

    A SavedModel directory resolves to its ``variables/variables`` prefix, ``P.index`` to
    ``P``.  Raises NotFoundError for a path that does not exist and
    InvalidArgumentError for one that is no recognised form.

    A URL (``s3://...``) gives a URL: recognised by its name (no request) when
    ``format`` or the suffix says a file format; otherwise the store is asked which
    checkpoint it is (a SavedModel directory's ``variables/variables``, ``P.index``).
    """
    _check_format(format, FORMATS, "source")
    path = remote.local_location(path)
    if isinstance(path, str) and remote.is_remote(path):
        return _detect_remote(path, format)
    source = as_path(path, "weights source")
    if format == "checkpoint" or (format is None and source.is_dir()):
        if source.is_dir():
            prefix = source / VARIABLES_DIRECTORY / VARIABLES_FILENAME
            if _has_index(prefix):
                return "checkpoint", prefix
            raise NotFoundError(
                f"directory {str(source)!r} has no variables/variables.index; "
                f"{_ACCEPTED}")
        prefix = _checkpoint_prefix(source)
        if not _has_index(prefix):
            raise NotFoundError(f"checkpoint index {str(prefix)}{_INDEX_SUFFIX} does not exist")
        return "checkpoint", prefix
    if format is not None:
        return format, source
    by_suffix = _SUFFIXES.get(source.suffix.lower())
    if by_suffix is not None:
        return by_suffix, source
    prefix = _checkpoint_prefix(source)
    if _has_index(prefix):
        return "checkpoint", prefix
    if not source.exists():
        raise NotFoundError(f"{str(source)!r} does not exist (nor {str(prefix)}.index); "
                            f"{_ACCEPTED}")
    raise InvalidArgumentError(f"cannot tell the format of {str(source)!r}; {_ACCEPTED}")


def load_weights(path: PathLike, *, format: str | None = None,
                 raw_keys: bool = False) -> dict[str, np.ndarray]:
    """Read every tensor of a weights file as ``{name: ndarray}``.

    ``format`` is one of ``"checkpoint"``, ``"safetensors"``, ``"npz"``, ``"torch"``, or
    None to recognise it from the path (see the module docstring).  Strings come back
    as object arrays of bytes, bfloat16 / float8 as ``ml_dtypes`` arrays.  A TF2
    (object-based) checkpoint's tensors get plain variable paths
    (``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` → ``dense/kernel``, without
    ``_CHECKPOINTABLE_OBJECT_GRAPH``; :func:`tf2_plain_names`) unless ``raw_keys``.

    >>> load_weights("exports/mlp/1")["dense/kernel"].shape
    (4, 8)

    Raises NotFoundError (missing file), InvalidArgumentError (unknown form, or not a
    state dict of tensors), CorruptCheckpointError (bytes that do not validate),
    MissingDependencyError (a PyTorch file without torch installed).
    """
    if isinstance(path, str) and remote.is_remote(path):
        tensors = _load_remote(path, format)
        return tensors if raw_keys else tf2_plain_names(tensors)
    kind, source = detect_format(remote.local_location(path), format)
    if kind == "checkpoint":
        from pysavedmodel.format.bundle_reader import read_checkpoint

        tensors = read_checkpoint(source)
        return tensors if raw_keys else tf2_plain_names(tensors)
    if kind == "safetensors":
        from .safetensors_format import read_safetensors

        return read_safetensors(source)
    if kind == "npz":
        from .npz_format import read_npz

        return read_npz(source)
    from .torch_format import read_torch

    return read_torch(source)


def _detect_remote(url: str, format: str | None) -> tuple[str, str]:
    """:func:`detect_format` of a URL."""
    suffix = Path(url.rstrip("/").rsplit("/", 1)[-1]).suffix.lower()
    if format not in (None, "checkpoint"):
        return str(format), url
    if format is None and suffix in _SUFFIXES:
        return _SUFFIXES[suffix], url
    prefix = remote_checkpoint_prefix(url)
    if remote.exists(f"{prefix}{_INDEX_SUFFIX}"):
        return "checkpoint", prefix
    if format is None and remote.exists(url):
        raise InvalidArgumentError(f"cannot tell the format of {url!r}; {_ACCEPTED}")
    raise NotFoundError(f"checkpoint index {prefix}{_INDEX_SUFFIX} does not exist"
                        + ("" if format else f" (nor {url!r}); {_ACCEPTED}"))


def _load_remote(url: str, format: str | None) -> dict[str, np.ndarray]:
    """:func:`load_weights` of a URL: files are downloaded, checkpoints read remotely."""
    from pysavedmodel.format.bundle import read_checkpoint

    kind, source = _detect_remote(url, format)
    if kind == "checkpoint":
        return read_checkpoint(source)
    staging = remote.Staging()
    try:
        return load_weights(remote.fetch_file(source, staging.root), format=kind)
    finally:
        staging.cleanup()


def remote_checkpoint_prefix(url: str) -> str:
    """The checkpoint prefix a URL names: a SavedModel directory's
    ``variables/variables`` when it has one, else ``url`` without a trailing ``.index`` or
    ``.data-NNNNN-of-MMMMM`` (as :func:`detect_format` resolves local paths)."""
    saved_model = f"{url.rstrip('/')}/{VARIABLES_DIRECTORY}/{VARIABLES_FILENAME}"
    if remote.exists(f"{saved_model}{_INDEX_SUFFIX}"):
        return saved_model
    return _checkpoint_text(url)


def _checkpoint_text(text: str) -> str:
    """``P`` for ``P.index`` or ``P.data-NNNNN-of-MMMMM``; else ``text`` (URLs too)."""
    if text.endswith(_INDEX_SUFFIX):
        return text[:-len(_INDEX_SUFFIX)]
    data_file = _DATA_SUFFIX.search(text)
    return text[:data_file.start()] if data_file else text


def _destination_format(path: Path, format: str | None) -> str:
    if format == "torch" or (format is None and _SUFFIXES.get(path.suffix.lower()) == "torch"):
        raise InvalidArgumentError(
            f"cannot write {str(path)!r}: PyTorch files are a source format only; "
            f"write one of: {', '.join(WRITABLE_FORMATS)}")
    _check_format(format, WRITABLE_FORMATS, "destination")
    if format is not None:
        return format
    return _SUFFIXES.get(path.suffix.lower(), "checkpoint")


def _check_not_directory(path: Path) -> None:
    if path.is_dir():
        raise InvalidArgumentError(
            f"destination {str(path)!r} is a directory; expected a file name "
            f"(*.safetensors, *.npz) or a checkpoint prefix such as DIR/model")


def _existing_outputs(kind: str, path: Path) -> list[Path]:
    if kind != "checkpoint":
        return [path] if path.exists() else []
    prefix = _checkpoint_prefix(path)
    found = sorted(prefix.parent.glob(f"{prefix.name}.data-*-of-*")) if prefix.parent.is_dir() \
        else []
    index = Path(f"{prefix}{_INDEX_SUFFIX}")
    return [*found, index] if index.exists() else found


def save_weights(path: PathLike, tensors: Mapping[str, Any], *,
                 format: str | None = None,
                 progress: ProgressCallback | None = None,
                 durable: bool = False) -> list[Location]:
    """Write ``tensors`` ({name: array-like}) to ``path``; return the written files.

    ``format``: ``"checkpoint"``, ``"safetensors"``, ``"npz"``, or None: ``*.safetensors``
    and ``*.npz`` by suffix, anything else a TF checkpoint prefix (``P.index`` and
    ``P.data-00000-of-00001``; a trailing ``.index`` is dropped).  Existing files are
    replaced.  Dtypes the format cannot hold (strings in safetensors / npz, complex128
    in safetensors...) raise UnsupportedDTypeError naming the tensor; nothing is written
    on any failure.  ``progress(bytes_done, bytes_total)``, if given, is called while
    tensor bytes are written.  ``durable``: fsync the files (and their directory)
    before returning, so they survive a power loss.
    """
    if isinstance(path, str) and remote.is_remote(path):
        return _save_remote(path, tensors, format=format, progress=progress)
    target = as_path(remote.local_location(path), "weights destination")
    kind = _destination_format(target, format)
    _check_not_directory(target)
    if kind == "safetensors":
        from .safetensors_format import write_safetensors

        return [write_safetensors(target, tensors, progress=progress, durable=durable)]
    if kind == "npz":
        from .npz_format import write_npz

        return [write_npz(target, tensors, progress=progress, durable=durable)]
    from pysavedmodel.format.bundle import write_checkpoint

    return write_checkpoint(_checkpoint_prefix(target), tensors, progress=progress,
                            durable=durable)


def _save_remote(url: str, tensors: Mapping[str, Any], *, format: str | None,
                 progress: ProgressCallback | None) -> list[Location]:
    """:func:`save_weights` to a URL: written locally, then uploaded."""
    from pysavedmodel.format.bundle import write_checkpoint

    name = url.rstrip("/").rsplit("/", 1)[-1] or "weights"
    kind = _destination_format(Path(name), format)
    if kind == "checkpoint":
        return write_checkpoint(_checkpoint_text(url), tensors, progress=progress)
    remote.filesystem(url)  # fsspec and the scheme are usable: fail before writing
    staging = remote.Staging()
    try:
        local = staging.root / name
        remote.name_copy(local, url)  # errors name the URL
        save_weights(local, tensors, format=kind, progress=progress)
        return [remote.upload_file(local, url)]
    finally:
        staging.cleanup()


def tf2_plain_names(tensors: Mapping[str, Any]) -> dict[str, Any]:
    """Rename a TF2 object-based checkpoint's tensors to plain variable paths.

    ``dense/kernel/.ATTRIBUTES/VARIABLE_VALUE`` becomes ``dense/kernel`` and the
    ``_CHECKPOINTABLE_OBJECT_GRAPH`` tensor is left out; anything else (a TF1
    name-based checkpoint, safetensors...) comes back unchanged.  Raises
    InvalidArgumentError naming both keys when two would get the same name.
    """
    from pysavedmodel.format.object_graph import is_object_based, plain_names

    if not is_object_based(tensors):
        return dict(tensors)
    return {name: tensors[key] for key, name in plain_names(tensors).items()}


def _without_strings(tensors: dict[str, Any], kind: str, target: Path,
                     strict: bool) -> dict[str, Any]:
    strings = [k for k, v in tensors.items() if getattr(v, "dtype", None) == np.dtype(object)]
    if not strings:
        return tensors
    names = ", ".join(repr(k) for k in strings)
    if strict:
        raise UnsupportedDTypeError(
            f"cannot write {str(target)!r}: {kind} cannot hold string tensors "
            f"{names}; expected numeric tensors only (without strict they are skipped)")
    warnings.warn(f"skipped string tensors {kind} cannot hold: {names}",
                  UserWarning, stacklevel=3)
    return {k: v for k, v in tensors.items() if k not in strings}


def convert_weights(src: PathLike, dst: PathLike, *, src_format: str | None = None,
                    dst_format: str | None = None, overwrite: bool = False,
                    progress: ProgressCallback | None = None,
                    durable: bool = False, raw_keys: bool = False,
                    strict: bool = False) -> list[Location]:
    """Read ``src`` with :func:`load_weights` and write it to ``dst`` with
    :func:`save_weights`; return the written files.

    A TF2 (object-based) checkpoint's keys become plain variable paths and its
    ``_CHECKPOINTABLE_OBJECT_GRAPH`` is left out (:func:`tf2_plain_names`) unless
    ``raw_keys``.  String tensors that a safetensors or npz destination cannot
    hold are skipped with a ``UserWarning`` naming them, or, with ``strict``,
    refused (UnsupportedDTypeError naming them, nothing written).

    Refuses (AlreadyExistsError) when ``dst`` already exists - for a checkpoint, any of
    its index or data files - unless ``overwrite``, which replaces them: the new files
    are written atomically, then data files of the old checkpoint that the new one does
    not use (another shard count) are deleted.  The destination format is checked
    before the source is read.  ``progress`` and ``durable`` are passed to
    :func:`save_weights`.  Either path may be a URL.
    """
    if isinstance(dst, str) and remote.is_remote(dst):
        return _convert_to_remote(src, dst, src_format=src_format, dst_format=dst_format,
                                  overwrite=overwrite, progress=progress, raw_keys=raw_keys,
                                  strict=strict)
    dst = remote.local_location(dst)
    target = as_path(dst, "weights destination")
    kind = _destination_format(target, dst_format)
    _check_not_directory(target)
    check_progress(progress)
    existing = _existing_outputs(kind, target)
    if existing and not overwrite:
        raise AlreadyExistsError(
            f"destination {str(existing[0])!r} already exists; choose another path "
            f"or overwrite (--force)")
    tensors = load_weights(src, format=src_format, raw_keys=raw_keys)
    if kind in ("safetensors", "npz"):
        tensors = _without_strings(tensors, kind, target, strict)
    written = save_weights(target, tensors, format=kind, progress=progress, durable=durable)
    for stale in set(existing) - set(written):
        stale.unlink(missing_ok=True)
    return written


def _convert_to_remote(src: PathLike, url: str, *, src_format: str | None,
                       dst_format: str | None, overwrite: bool,
                       progress: ProgressCallback | None, raw_keys: bool,
                       strict: bool) -> list[Location]:
    """:func:`convert_weights` to a URL destination."""
    name = url.rstrip("/").rsplit("/", 1)[-1] or "weights"
    kind = _destination_format(Path(name), dst_format)
    check_progress(progress)
    checkpoint = kind == "checkpoint"
    target = _checkpoint_text(url) if checkpoint else url
    existing = remote.existing_outputs(target, checkpoint=checkpoint)
    if existing and not overwrite:
        raise AlreadyExistsError(
            f"destination {existing[0]!r} already exists; choose another path "
            f"or overwrite (--force)")
    tensors = load_weights(src, format=src_format, raw_keys=raw_keys)
    if not checkpoint:
        tensors = _without_strings(tensors, kind, Path(name), strict)
    written = _save_remote(url, tensors, format=kind, progress=progress)
    remote.remove_urls(sorted(set(existing) - {str(w) for w in written}))
    return written
