"""format/sharding.py: the data file count a SavedModel's checkpoint gets by default and
the one num_shards check every writer uses (the greedy balancing and explicit shard
lists are exercised through the writers in test_bundle.py and test_distributed.py)."""

from __future__ import annotations

import re

import pytest

from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format.sharding import (
    AUTO_MAX_SHARDS,
    AUTO_SHARD_BYTES,
    auto_num_shards,
    check_num_shards,
)

MIB = 1 << 20


@pytest.mark.parametrize("nbytes, entries, expected", [
    (0, 0, 1),                                   # no variables: one (unused) data file
    (16 * MIB, 1000, 1),                         # an MLP: TensorFlow's single file
    (AUTO_SHARD_BYTES, 200, 1),                  # exactly one unit
    (AUTO_SHARD_BYTES + 1, 200, 2),              # a started unit counts
    (438_000_000, 200, 2),                       # BERT-base
    (7 * AUTO_SHARD_BYTES - 5, 200, 7),
    (100 << 30, 10_000, AUTO_MAX_SHARDS),        # a 100 GiB model: capped
    (10 << 30, 3, 3),                            # never more files than tensors
])
def test_auto_num_shards(nbytes, entries, expected):
    assert auto_num_shards(nbytes, entries) == expected


def test_auto_unit_and_cap():
    assert AUTO_SHARD_BYTES == 256 * MIB and AUTO_MAX_SHARDS == 16


@pytest.mark.parametrize("good", [1, 2, 16, 10_000])
def test_check_num_shards_returns_a_positive_int(good):
    assert check_num_shards(good) == good


@pytest.mark.parametrize("bad", [0, -1, True, False, 2.0, "2", None])
def test_check_num_shards_names_the_value(bad):
    with pytest.raises(InvalidArgumentError,
                       match=re.escape(f"num_shards must be an int >= 1, got {bad!r}")):
        check_num_shards(bad)
    with pytest.raises(InvalidArgumentError,
                       match=re.escape(f"num_shards must be an int >= 1 (or None), got {bad!r}")):
        check_num_shards(bad, " (or None)")
