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
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..aliases import PathLike, ProgressCallback
from ..errors import InvalidArgumentError
from .bundle_reader import CheckpointReader, read_checkpoint
from .naming import data_filename, index_filename
from .sharding import balance_shards
from .writer import BUNDLE_VERSION, CheckpointWriter, write_local_checkpoint

__all__ = [
    "write_checkpoint", "read_checkpoint", "CheckpointWriter", "CheckpointReader",
    "data_filename", "index_filename", "balance_shards", "BUNDLE_VERSION",
]


def write_checkpoint(prefix: PathLike, tensors: Mapping[str, Any], *,
                     num_shards: int = 1,
                     shards: Sequence[Sequence[str]] | None = None,
                     progress: ProgressCallback | None = None,
                     executor: Any = None, durable: bool = False) -> list[Path]:
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
    """
    if executor is not None:
        if durable:
            raise InvalidArgumentError("durable=True is not supported with an executor")
        # Imported when used: the distributed writer pulls in concurrent.futures (~20 ms).
        from . import distributed

        return distributed.write_checkpoint_distributed(
            prefix, tensors, num_shards=num_shards, shards=shards, executor=executor,
            progress=progress)
    return write_local_checkpoint(prefix, tensors, num_shards=num_shards, shards=shards,
                                  progress=progress, durable=durable)
