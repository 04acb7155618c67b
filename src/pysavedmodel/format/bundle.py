"""TensorBundle checkpoints: ``PREFIX.index`` + ``PREFIX.data-NNNNN-of-MMMMM``.

Writing (:func:`write_checkpoint`, :class:`CheckpointWriter`) produces files
byte-identical to TensorFlow's ``SaveV2`` for the same tensors in the same order;
with several shards, byte-identical to ``SaveV2`` per shard followed by
``MergeV2Checkpoints``.  Writing lives in :mod:`.writer`, reading in
:mod:`.bundle_reader`, both re-exported here (:func:`read_checkpoint`, :class:`CheckpointReader`).

Layout facts (docs/format/tensorbundle.md):

* data files: tensors appended in the order they were added, densely packed;
* index: a table whose key ``""`` holds a ``BundleHeaderProto`` and every other key a
  ``BundleEntryProto`` (dtype, shape, shard_id, offset, size, masked crc32c);
* a partitioned tensor has a full-name entry (dtype, full shape, one TensorSliceProto
  per slice; no data) and one data entry per slice under an OrderedCode key.

Files appear atomically: everything is validated first, data files and the index are
written under temporary names in the destination directory, then the data files are
renamed into place and the index last.  On any failure the temporary files (and any
data file already renamed) are removed, so no ``PREFIX.index`` appears.

Remote prefixes (``s3://bucket/ckpt/model``, ``memory://...``; :mod:`pysavedmodel.remote`):
the façade here writes the checkpoint into a private local directory with the same
writer, then uploads the data files and ``PREFIX.index`` last (an earlier remote index
is deleted first); readers download the index and data files into a private
temporary directory first.  Local paths go straight to the local writer and reader.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

import numpy as np

from .. import remote
from ..aliases import Location, PathLike, ProgressCallback
from ..errors import InvalidArgumentError
from . import bundle_reader as _reader
from . import slices as slicing
from . import writer as _writer
from .naming import data_filename, index_filename
from .sharding import balance_shards
from .writer import BUNDLE_VERSION, write_local_checkpoint

__all__ = [
    "write_checkpoint", "read_checkpoint", "CheckpointWriter", "CheckpointReader",
    "data_filename", "index_filename", "balance_shards", "BUNDLE_VERSION",
]


def write_checkpoint(prefix: PathLike, tensors: Mapping[str, Any], *,
                     num_shards: int = 1,
                     shards: Sequence[Sequence[str]] | None = None,
                     progress: ProgressCallback | None = None,
                     executor: Any = None, durable: bool = False) -> list[Location]:
    """Write ``tensors`` ({name: array-like}) as a TensorBundle checkpoint at ``prefix``.

    Creates ``PREFIX.index`` and ``PREFIX.data-NNNNN-of-MMMMM`` (missing parent
    directories too), byte-identical to TensorFlow's SaveV2 (+ MergeV2Checkpoints for
    several shards) for the same mapping order.  ``num_shards`` (default 1; taken
    from ``len(shards)`` when ``shards`` is given) > 1 balances tensors over that many
    data files by bytes; ``shards`` gives an explicit assignment (every name exactly
    once).  Returns the written paths.

    ``progress``: an optional ``progress(bytes_done, bytes_total)`` callable, called as
    tensor data is written (at most every few MB) and once more at the end with
    ``bytes_done == bytes_total``.

    ``executor``: when given (e.g. a ``concurrent.futures`` or dask executor), the
    shards are written as tasks on it by
    :func:`pysavedmodel.format.distributed.write_checkpoint_distributed`, which
    receives the same arguments; None (default) writes in this process.

    ``durable``: fsync every file, then the directory, before returning, so that the
    checkpoint survives a power loss (slower; TensorFlow's SaveV2 does not).  A second
    writer to the same prefix at the same time gets AlreadyExistsError (an exclusive
    lock on ``PREFIX.index.lock`` for the whole write).  Not supported with ``executor``.

    Raises UnsupportedDTypeError / InvalidArgumentError for bad input, before writing
    anything; on any failure no file is left behind.  Files appear in this order:
    an earlier ``PREFIX.index`` is removed, the data files are renamed into place,
    the new index last; a crash at any point leaves either no index or a complete
    checkpoint (temporary files are named ``<final name>.tempstate<token>``).

    ``prefix`` may be a URL (``s3://bucket/ckpt/model``; needs the ``remote`` extra):
    the checkpoint is written locally, then uploaded, the index last (see
    :mod:`pysavedmodel.remote`); the URLs written are returned.
    """
    if executor is not None:
        if durable:
            raise InvalidArgumentError("durable=True is not supported with an executor")
        # Imported when used: the distributed writer pulls in concurrent.futures (~20 ms).
        from . import distributed

        return distributed.write_checkpoint_distributed(
            prefix, tensors, num_shards=num_shards, shards=shards, executor=executor,
            progress=progress)
    prefix = remote.local_location(prefix)
    if not remote.is_remote(prefix):
        return list(write_local_checkpoint(prefix, tensors, num_shards=num_shards,
                                           shards=shards, progress=progress, durable=durable))
    if not isinstance(tensors, Mapping):
        raise InvalidArgumentError(
            f"tensors must be a mapping of name -> array, got {type(tensors).__name__}")
    writer = CheckpointWriter(prefix, num_shards=num_shards, shards=shards, progress=progress,
                              durable=durable)
    for name, value in tensors.items():
        writer.add(name, value)
    return writer.finish()


class CheckpointWriter:
    """Collects tensors and slices, then writes one checkpoint on :meth:`finish`.

    Nothing is written before :meth:`finish`; values are kept by reference (not
    copied), so do not modify them in between.  As a context manager it finishes on a
    clean exit and discards everything if the block raises.

    ``num_shards`` > 1 spreads the tensors over that many data files balanced by bytes;
    ``shards`` (a list of name lists, one per shard) fixes the assignment instead; with
    ``shards`` given, ``num_shards`` may be left at 1 or must equal ``len(shards)``.
    Each shard must receive at least one tensor.

    ``progress``, if given, is called as ``progress(bytes_done, bytes_total)`` while
    :meth:`finish` writes tensor data (at most every few MB), then once with
    ``bytes_done == bytes_total`` when the checkpoint is complete.

    ``prefix`` may be a URL (see :func:`write_checkpoint`): :meth:`finish` writes into a
    private local directory, then uploads, the index last.
    """

    def __init__(self, prefix: PathLike, *, num_shards: int = 1,
                 shards: Sequence[Sequence[str]] | None = None,
                 progress: ProgressCallback | None = None, durable: bool = False) -> None:
        prefix = remote.local_location(prefix)
        self._url: str | None = None
        self._staging: remote.Staging | None = None
        self._local = prefix
        if remote.is_remote(prefix):
            self._url = str(prefix)
            remote.filesystem(self._url)  # fsspec and the scheme are usable: fail early
            self._staging = remote.Staging()
            self._local = str(self._staging.root / (self._url.rstrip("/").rsplit("/", 1)[-1]
                                                   or "checkpoint"))
            remote.name_copy(self._local, self._url)  # errors name the URL
        self._done = False
        try:
            self._writer = _writer.CheckpointWriter(
                self._local, num_shards=num_shards, shards=shards, progress=progress,
                durable=durable)
        except BaseException:
            self._discard()
            raise

    def add(self, name: str, value: Any) -> None:
        """Add tensor ``name`` (see :meth:`pysavedmodel.format.writer.CheckpointWriter.add`)."""
        self._writer.add(name, value)

    def add_slice(self, name: str, full_shape: Sequence[int], slice_spec: slicing.SliceSpec,
                  value: Any) -> None:
        """Add one slice of the partitioned tensor ``name`` whose full shape is ``full_shape``
        (see :meth:`pysavedmodel.format.writer.CheckpointWriter.add_slice`)."""
        self._writer.add_slice(name, full_shape, slice_spec, value)

    def finish(self) -> list[Location]:
        """Write the data files and the index; return their paths or URLs (data files, then
        index)."""
        try:
            files = self._writer.finish()
            self._done = True
            if self._url is None:
                return list(files)
            return list(remote.upload_checkpoint(self._url, str(self._local), files))
        finally:
            if self._url is not None:
                self._discard()

    def _discard(self) -> None:
        if self._staging is not None:
            self._staging.cleanup()

    def __getattr__(self, name: str) -> Any:
        """Anything else the local writer offers (the façade adds only the URL step)."""
        if name.startswith("__") or name in ("_writer", "_url", "_staging", "_local", "_done"):
            raise AttributeError(name)
        return getattr(self._writer, name)

    def __enter__(self) -> CheckpointWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if exc_type is None:
            if not self._done:
                self.finish()
        else:
            self._writer.__exit__(exc_type, exc, tb)
            self._discard()


class CheckpointReader(_reader.CheckpointReader):
    """Lazy reader of a TensorBundle checkpoint at ``prefix`` (a path or a URL).

    See :class:`pysavedmodel.format.bundle_reader.CheckpointReader`.  A URL prefix
    (``s3://...``; needs the ``remote`` extra) is downloaded first — the index and every
    data file — into a private temporary directory, removed on :meth:`close` (arrays
    already returned stay valid on POSIX systems, where a mapped file outlives its name).
    """

    def __new__(cls, prefix: PathLike) -> CheckpointReader:
        # A URL gets the subclass whose reads name the URL in errors; a local prefix
        # keeps the inherited get_tensor, called ~100,000 times for a checkpoint of as
        # many small tensors, without a wrapper.
        if cls is CheckpointReader and remote.is_remote(remote.local_location(prefix)):
            return super().__new__(_RemoteCheckpointReader)
        return super().__new__(cls)

    def __init__(self, prefix: PathLike) -> None:
        prefix = remote.local_location(prefix)
        self._url: str | None = None
        self._staging: remote.Staging | None = None
        if remote.is_remote(prefix):
            self._url = str(prefix)
            self._staging = remote.Staging()
            try:
                prefix = remote.fetch_checkpoint(self._url, self._staging.root)
                super().__init__(prefix)
            except BaseException:
                self._staging.cleanup()
                raise
        else:
            super().__init__(prefix)

    def close(self) -> None:
        """Release the data files (arrays already returned stay valid)."""
        super().close()
        if self._staging is not None:
            self._staging.cleanup()

    def __enter__(self) -> CheckpointReader:
        return self

    def __repr__(self) -> str:
        if self._url is None:
            return super().__repr__()
        return f"CheckpointReader({self._url!r}, {len(self)} tensors)"


class _RemoteCheckpointReader(CheckpointReader):
    """A :class:`CheckpointReader` of a downloaded URL: errors of reads name the URL."""

    def get_tensor(self, name: str) -> np.ndarray:
        """See :meth:`pysavedmodel.format.bundle_reader.CheckpointReader.get_tensor`."""
        with remote.urls_in_errors():  # a corrupt download names the URL
            return super().get_tensor(name)

    def read(self, name: str) -> np.ndarray:
        """See :meth:`pysavedmodel.format.bundle_reader.CheckpointReader.read`."""
        with remote.urls_in_errors():
            return super().read(name)


def read_checkpoint(prefix: PathLike) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint at ``prefix`` (a path or a URL) as independent
    numpy arrays (see :func:`pysavedmodel.format.bundle_reader.read_checkpoint`)."""
    prefix = remote.local_location(prefix)
    if not remote.is_remote(prefix):
        return _reader.read_checkpoint(prefix)
    staging = remote.Staging()
    try:
        return _reader.read_checkpoint(remote.fetch_checkpoint(str(prefix), staging.root))
    finally:
        staging.cleanup()
