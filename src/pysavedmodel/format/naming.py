"""File names of a TensorBundle checkpoint (shared by the writers and the reader).

``PREFIX.index`` holds the index; ``PREFIX.data-NNNNN-of-MMMMM`` the data of shard
NNNNN of MMMMM (both numbers zero-padded to five digits, as TensorFlow names them).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..aliases import PathLike

__all__ = ["data_filename", "index_filename"]


def data_filename(prefix: PathLike, shard: int, num_shards: int) -> Path:
    """``PREFIX.data-%05d-of-%05d``."""
    return Path(f"{os.fspath(prefix)}.data-{shard:05d}-of-{num_shards:05d}")


def index_filename(prefix: PathLike) -> Path:
    """``PREFIX.index``."""
    return Path(f"{os.fspath(prefix)}.index")
