"""Read a SavedModel directory's ``saved_model.pb`` (or ``saved_model.pbtxt``).

The files may come from strangers, so nothing here trusts them:

* sizes are checked (``os.fstat``) before anything is read, and no more than the cap
  is ever read: a 3 GB (even sparse) ``saved_model.pb`` fails at once;
* messages nested deeper than protobuf's recursion limit (:data:`MAX_NESTING`, the
  limit TensorFlow's C++ parser applies too) are refused for binary and text files
  alike, so no ``RecursionError`` escapes and no nesting TensorFlow would reject
  gets through a ``.pbtxt``;
* every parse failure becomes a :class:`~pysavedmodel.errors.CorruptSavedModelError`
  naming the file;
* asset filenames are confined to ``assets/`` (:func:`asset_paths`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath, PureWindowsPath

from pysavedmodel._proto import meta_graph_pb2, saved_model_pb2
from pysavedmodel.constants import (
    ASSETS_COLLECTION,
    ASSETS_DIRECTORY,
    SAVED_MODEL_FILENAME_PB,
    SAVED_MODEL_FILENAME_PBTXT,
    VARIABLES_DIRECTORY,
    VARIABLES_FILENAME,
)
from pysavedmodel.errors import CorruptSavedModelError, NotFoundError

from .. import remote
from ..aliases import PathLike

__all__ = [
    "read_saved_model", "saved_model_file", "variables_prefix", "assets_dir", "asset_paths",
    "declared_assets", "unsafe_asset_name", "MAX_PROTO_BYTES", "MAX_PBTXT_BYTES", "MAX_NESTING",
]


MAX_PROTO_BYTES = 2**31 - 1
"""Protocol buffers cannot exceed 2 GiB; TensorFlow refuses a larger saved_model.pb."""
MAX_PBTXT_BYTES = 256 * 2**20
"""Largest ``saved_model.pbtxt`` read.  Python's text-format parser holds several times
the text in memory and parses a few MB/s; a bigger model belongs in a binary file."""
MAX_NESTING = 100
"""Deepest message nesting accepted, counting the SavedModel itself: protobuf's default
recursion limit (C++, upb and pure Python alike)."""

# Tokens that matter for nesting in text format: quoted strings and comments (skipped,
# they may contain braces) and the message delimiters.
_TEXT_TOKENS = re.compile(r""""(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|#[^\n]*|[{<]|[}>]""")


def saved_model_file(export_dir: PathLike) -> Path:
    """The ``saved_model.pb`` (preferred, as TensorFlow) or ``saved_model.pbtxt`` of a dir."""
    root = Path(export_dir)
    if not root.is_dir():
        raise NotFoundError(f"SavedModel directory {str(root)!r} does not exist")
    for name in (SAVED_MODEL_FILENAME_PB, SAVED_MODEL_FILENAME_PBTXT):
        if (root / name).is_file():
            return root / name
    raise NotFoundError(
        f"no saved_model.pb or saved_model.pbtxt in {str(root)!r}; expected a SavedModel directory")


def variables_prefix(export_dir: PathLike) -> Path:
    """The checkpoint prefix of a SavedModel's variables: ``DIR/variables/variables``."""
    return Path(export_dir) / VARIABLES_DIRECTORY / VARIABLES_FILENAME


def assets_dir(export_dir: PathLike) -> Path:
    """``DIR/assets``, where a SavedModel's asset files live."""
    return Path(export_dir) / ASSETS_DIRECTORY


def _read_capped(path: Path, limit: int, what: str) -> bytes:
    """The bytes of ``path``, refusing (before reading) a file larger than ``limit``."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > limit:
                raise CorruptSavedModelError(
                    f"{str(path)!r} is {size} bytes; {what} is at most {limit} bytes")
            # read(n) allocates n bytes up front, so n is the size, not the cap; a file
            # holding more than its size says (procfs, one being appended to) is refused.
            data = f.read(size + 1)
    except OSError as exc:
        raise NotFoundError(f"cannot read {str(path)!r}: {exc.strerror or exc}") from None
    if len(data) > size:
        raise CorruptSavedModelError(
            f"{str(path)!r} holds more than the {size} bytes its size says (changing?)")
    return data


def _check_text_nesting(text: str, path: Path) -> None:
    depth = 0
    for token in _TEXT_TOKENS.finditer(text):
        char = token.group()
        if char in "{<":
            depth += 1
            if depth >= MAX_NESTING:  # the root message is the first level
                line = text.count("\n", 0, token.start()) + 1
                raise CorruptSavedModelError(
                    f"{str(path)!r} line {line}: messages nest more than {MAX_NESTING} deep "
                    "(counting the SavedModel itself)")
        elif char in "}>":
            depth -= 1


def _parse_text(data: bytes, path: Path, model: saved_model_pb2.SavedModel) -> None:
    from google.protobuf import text_format

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptSavedModelError(
            f"{str(path)!r} is not UTF-8 text: invalid byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}") from None
    _check_text_nesting(text, path)
    try:
        text_format.Parse(text, model)
    except text_format.ParseError as exc:
        raise CorruptSavedModelError(
            f"{str(path)!r} is not a valid SavedModel text proto: {exc}") from None


def read_saved_model(export_dir: PathLike) -> saved_model_pb2.SavedModel:
    """Parse the SavedModel proto of ``export_dir`` (binary or text format).

    Raises NotFoundError if there is no such file, CorruptSavedModelError if it is too
    large, nests deeper than :data:`MAX_NESTING` or does not parse.  A URL
    ``export_dir`` (``s3://...``; the ``remote`` extra) has its ``saved_model.pb`` (or
    ``.pbtxt``) downloaded into a private temporary directory first.
    """
    if isinstance(export_dir, str) and remote.is_remote(export_dir):
        with remote.local_directory(export_dir, only=remote.MARKER_FILES) as local:
            if not any((local / name).is_file() for name in remote.MARKER_FILES):
                raise NotFoundError(f"no saved_model.pb or saved_model.pbtxt in "
                                    f"{export_dir!r}; expected a SavedModel directory")
            return read_saved_model(local)
    path = saved_model_file(remote.local_location(export_dir))
    text = path.suffix == ".pbtxt"
    if text:
        data = _read_capped(path, MAX_PBTXT_BYTES, "a saved_model.pbtxt read by pysavedmodel")
    else:
        data = _read_capped(path, MAX_PROTO_BYTES, "a protocol buffer")
    model = saved_model_pb2.SavedModel()
    try:
        if text:
            _parse_text(data, path, model)
        else:
            model.ParseFromString(data)  # the recursion limit applies: DecodeError, no crash
    except CorruptSavedModelError:
        raise
    except Exception as exc:  # DecodeError, RecursionError, anything a backend raises
        raise CorruptSavedModelError(
            f"{str(path)!r} is not a valid SavedModel proto: {type(exc).__name__}: {exc}"
        ) from None
    return model


# --------------------------------------------------------------------------- assets


def unsafe_asset_name(filename: str) -> str | None:
    """Why ``filename`` may not name a file inside ``assets/`` (None if it may)."""
    if not filename:
        return "it is empty"
    if "\0" in filename:
        return "it contains a NUL byte"
    if PurePosixPath(filename).is_absolute() or PureWindowsPath(filename).anchor:
        return "it is an absolute path"
    if ".." in re.split(r"[\\/]", filename):
        return "it leaves the assets directory ('..')"
    return None


def declared_assets(meta_graph: meta_graph_pb2.MetaGraphDef) -> list[meta_graph_pb2.AssetFileDef]:
    """The ``asset_file_def`` entries, then the ``saved_model_assets`` collection's, unpacked
    (CorruptSavedModelError for an entry that is not an AssetFileDef)."""
    found = list(meta_graph.asset_file_def)
    if ASSETS_COLLECTION in meta_graph.collection_def:
        for packed in meta_graph.collection_def[ASSETS_COLLECTION].any_list.value:
            asset = meta_graph_pb2.AssetFileDef()
            try:
                unpacked = packed.Unpack(asset)
            except Exception as exc:  # DecodeError from the packed bytes
                raise CorruptSavedModelError(
                    f"collection {ASSETS_COLLECTION!r} holds an unparsable AssetFileDef: {exc}"
                ) from None
            if not unpacked:
                raise CorruptSavedModelError(
                    f"collection {ASSETS_COLLECTION!r} holds a {packed.type_url!r}, expected "
                    "type.googleapis.com/tensorflow.AssetFileDef")
            found.append(asset)
    return found


def asset_paths(export_dir: PathLike, meta_graph: meta_graph_pb2.MetaGraphDef) -> list[Path]:
    """Paths of the asset files a meta graph declares, each inside ``export_dir/assets``.

    Reads ``asset_file_def`` and the ``saved_model_assets`` collection (duplicates
    once, in declaration order).  Raises CorruptSavedModelError for a filename that is
    empty, absolute, contains ``..`` or NUL, or resolves (through symlinks) outside
    ``assets/``.  Whether the files exist is not checked.
    """
    root = assets_dir(export_dir)
    out: list[Path] = []
    for filename in dict.fromkeys(asset.filename for asset in declared_assets(meta_graph)):
        reason = unsafe_asset_name(filename)
        path = root / filename
        if reason is None and path.exists():
            try:
                path.resolve().relative_to(root.resolve())
            except ValueError:
                reason = f"it resolves to {str(path.resolve())!r}, outside the assets directory"
        if reason is not None:
            raise CorruptSavedModelError(
                f"{str(export_dir)!r}: asset filename {filename!r} is refused: {reason}")
        out.append(path)
    return out
