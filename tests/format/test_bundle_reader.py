"""CheckpointReader: its fast path for small tensors checks what the general path checks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pysavedmodel.errors import ChecksumError
from pysavedmodel.format.bundle import CheckpointReader, write_checkpoint


def test_a_damaged_tensor_after_good_ones_still_fails_its_checksum(tmp_path: Path) -> None:
    values = {f"t{i}": np.full(4, i, np.float32) for i in range(3)}
    write_checkpoint(tmp_path / "m", values)
    with CheckpointReader(tmp_path / "m") as reader:
        for name in ("t0", "t1"):  # dtype, shape and data file now known good
            np.testing.assert_array_equal(reader.get_tensor(name), values[name])
        offset = reader.entry("t2").offset
        data = next(tmp_path.glob("m.data-*"))
        with open(data, "r+b") as f:  # the reader's mapping sees the change
            f.seek(offset)
            f.write(np.full(4, 9, np.float32).tobytes())
        for read in (reader.get_tensor, reader.read):
            with pytest.raises(ChecksumError, match="t2"):
                read("t2")
        np.testing.assert_array_equal(reader.read("t1"), values["t1"])
