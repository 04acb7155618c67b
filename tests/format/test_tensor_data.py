"""pysavedmodel.format.tensor_data: releasing memory-mapped inputs once written.

A read-only memory map written into a checkpoint leaves no resident pages in the writing
process (its RSS for that mapping, from /proc/self/smaps, drops to ~0), while a
copy-on-write map keeps its private modifications."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import pysavedmodel
from pysavedmodel.format.tensor_data import release_mapped_pages


def _mapping_rss_kib(path: Path) -> int:
    """Resident KiB of every mapping of ``path`` in this process."""
    total, inside = 0, False
    target = str(path.resolve())
    with open("/proc/self/smaps") as f:
        for line in f:
            fields = line.split()
            if "-" in fields[0] and len(fields) >= 5 and fields[0][0] in "0123456789abcdef":
                inside = fields[-1] == target
            elif inside and fields[0] == "Rss:":
                total += int(fields[1])
    return total


def test_read_only_map_is_released_after_writing(tmp_path: Path) -> None:
    values = np.arange(4 << 20, dtype=np.float32)  # 16 MiB
    source = tmp_path / "weights.bin"
    values.tofile(source)
    mapped = np.memmap(source, dtype=np.float32, mode="r", shape=values.shape)
    np.testing.assert_array_equal(mapped, values)  # every page touched
    assert _mapping_rss_kib(source) >= 15 << 10
    pysavedmodel.write_checkpoint(tmp_path / "ckpt", {"w": mapped[4:].reshape(-1, 4)})
    assert _mapping_rss_kib(source) < 1024  # dropped (still in the page cache)
    np.testing.assert_array_equal(mapped, values)  # and faulted back in when read
    written = pysavedmodel.read_checkpoint(tmp_path / "ckpt")["w"]
    np.testing.assert_array_equal(written.reshape(-1), values[4:])


def test_views_of_a_shared_map_release_their_own_pages_only(tmp_path: Path) -> None:
    # A safetensors file is mapped once and cut into np.frombuffer views (whose base is
    # a memoryview of the mmap): writing two of three tensors drops their pages, not
    # the third's.
    import mmap

    source = tmp_path / "weights.bin"
    values = np.arange(3 << 20, dtype=np.float32)  # 3 x 4 MiB
    values.tofile(source)
    with open(source, "rb") as f:
        mapped = mmap.mmap(f.fileno(), 0, flags=mmap.MAP_SHARED, prot=mmap.PROT_READ)
    parts = [np.frombuffer(mapped, np.float32, 1 << 20, offset=i << 22) for i in range(3)]
    assert all(float(p.sum()) > 0 for p in parts)  # every page touched
    assert _mapping_rss_kib(source) >= 12 << 10
    pysavedmodel.write_checkpoint(tmp_path / "ckpt", {"a": parts[0], "b": parts[1]})
    assert (4 << 10) - 8 <= _mapping_rss_kib(source) <= (4 << 10) + 8  # the third's only
    np.testing.assert_array_equal(np.concatenate(parts), values)  # faulted back in
    written = pysavedmodel.read_checkpoint(tmp_path / "ckpt")
    np.testing.assert_array_equal(written["b"], values[1 << 20:2 << 20])
    del parts


def test_copy_on_write_map_keeps_its_changes(tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    np.zeros(1 << 20, np.float32).tofile(source)
    mapped = np.memmap(source, dtype=np.float32, mode="c", shape=(1 << 20,))
    mapped[::1024] = 7.0
    pysavedmodel.write_checkpoint(tmp_path / "ckpt", {"w": mapped})
    release_mapped_pages(mapped)  # left alone: its pages are private
    assert float(mapped[::1024].min()) == 7.0
    assert float(pysavedmodel.read_checkpoint(tmp_path / "ckpt")["w"][::1024].min()) == 7.0


def test_in_memory_arrays_are_left_alone() -> None:
    array = np.ones(1000, np.float32)
    release_mapped_pages(array)
    release_mapped_pages(array[::2])
    release_mapped_pages(b"not an array")
    assert float(array.sum()) == 1000.0
