"""CRC-32C backends, incremental extension, buffer inputs and the LevelDB mask."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pysavedmodel.format import crc32c as crc_module
from pysavedmodel.format.crc32c import crc32c, mask, python_crc32c, unmask
from pysavedmodel.format.varint import decode_varint64

BACKENDS = {"selected": crc32c, "python": python_crc32c}

# RFC 3720 (iSCSI) appendix B.4 vectors plus the usual check value.
KNOWN_VECTORS = [
    (b"", 0x00000000),
    (b"a", 0xC1D04330),
    (b"123456789", 0xE3069283),
    (bytes(32), 0x8A9136AA),
    (b"\xff" * 32, 0x62A8AB43),
    (bytes(range(32)), 0x46DD794E),
    (bytes(range(31, -1, -1)), 0x113FDB5C),
]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("data,expected", KNOWN_VECTORS)
def test_known_vectors(backend: str, data: bytes, expected: int) -> None:
    assert BACKENDS[backend](data) == expected


def test_accelerated_backend_is_selected_when_installed() -> None:
    # The core venv ships the crc32c package, so the fast path must be the one in use
    # (unless this test run forces the pure-Python one).
    forced = os.environ.get("PYSAVEDMODEL_PURE_CRC32C", "") not in ("", "0")
    assert crc_module.BACKEND == ("python" if forced else "crc32c")
    assert (crc_module.crc32c is crc_module.python_crc32c) == forced


def test_env_var_forces_python_backend() -> None:
    code = (
        "from pysavedmodel.format import crc32c as c;"
        "print(c.BACKEND, c.crc32c(b'123456789'))"
    )
    env = dict(os.environ, PYSAVEDMODEL_PURE_CRC32C="1")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         check=True)
    assert out.stdout.split() == ["python", str(0xE3069283)]


@given(st.binary(max_size=3000))
def test_backends_agree(data: bytes) -> None:
    assert python_crc32c(data) == crc32c(data)


@given(st.binary(max_size=600), st.lists(st.integers(0, 600), max_size=6))
def test_incremental_extension(data: bytes, cuts: list) -> None:
    points = sorted({min(c, len(data)) for c in cuts} | {0, len(data)})
    for fn in BACKENDS.values():
        crc = 0
        for start, end in zip(points, points[1:]):
            crc = fn(data[start:end], crc)
        assert crc == fn(data)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_buffer_inputs(backend: str) -> None:
    fn = BACKENDS[backend]
    rng = np.random.default_rng(7)
    arr = rng.standard_normal((37, 11)).astype(np.float32)
    raw = arr.tobytes()
    expected = python_crc32c(raw)
    assert fn(raw) == expected
    assert fn(bytearray(raw)) == expected
    assert fn(memoryview(raw)) == expected
    assert fn(memoryview(raw)[5:]) == python_crc32c(raw[5:])
    assert fn(arr) == expected  # 2-D float array, read through the buffer protocol
    assert fn(memoryview(arr)) == expected
    strided = arr[:, ::2]  # not contiguous: checksummed in row-major order
    assert fn(strided) == python_crc32c(strided.tobytes())
    assert fn(np.zeros(0, np.int64)) == 0


def test_large_random_buffer_backends_agree() -> None:
    data = np.random.default_rng(3).integers(0, 256, 1 << 20, dtype=np.uint8)
    assert crc32c(data) == python_crc32c(data)
    assert crc32c(data[1:], crc32c(data[:1])) == crc32c(data)


@given(st.integers(0, 2**32 - 1))
def test_mask_round_trip(crc: int) -> None:
    masked = mask(crc)
    assert 0 <= masked < 2**32
    assert unmask(masked) == crc


def test_mask_changes_value_and_double_mask_differs() -> None:
    crc = crc32c(b"foo")
    assert mask(crc) != crc
    assert mask(mask(crc)) != mask(crc)


def test_mask_matches_tensorflow_block_trailer(fixtures_dir) -> None:
    # Every TF-written index holds an empty metaindex block (8 bytes) followed by its
    # trailer: type byte 0 and the masked crc32c of block + type byte.  The footer's
    # first handle (varint64 offset, varint64 size) locates it.
    data = (fixtures_dir / "checkpoint_dtypes" / "variables.index").read_bytes()
    at, pos = decode_varint64(data, len(data) - 48)
    size, _ = decode_varint64(data, pos)
    empty_block = b"\x00\x00\x00\x00\x01\x00\x00\x00"
    assert size == 8 and data[at:at + 9] == empty_block + b"\x00"
    stored = int.from_bytes(data[at + 9:at + 13], "little")
    assert stored == mask(crc32c(empty_block + b"\x00"))
    assert unmask(stored) == python_crc32c(empty_block + b"\x00")
