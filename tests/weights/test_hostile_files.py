"""Hostile safetensors and .npz files: every one fails with a pysavedmodel.Error naming
the file (and the tensor), before anything is allocated from its claims."""

from __future__ import annotations

import io
import json
import struct
import tempfile
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pysavedmodel.errors import CorruptCheckpointError, Error
from pysavedmodel.weights import load_weights, save_weights
from pysavedmodel.weights.safetensors_format import MAX_HEADER_BYTES
from tests.support.damage import kinds as damage_kinds
from tests.support.damage import mutate


def safetensors_bytes(header: Any, buffer: bytes = b"", *, raw_header: bytes | None = None,
                      length: int | None = None) -> bytes:
    text = raw_header if raw_header is not None else json.dumps(header).encode()
    return struct.pack("<Q", len(text) if length is None else length) + text + buffer


def entry(dtype: str = "F32", shape: Any = (2,), offsets: Any = (0, 8)) -> dict[str, Any]:
    return {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets)}


EIGHT = bytes(range(8))

# name -> (file bytes, regex the message must match besides the file name)
HOSTILE_SAFETENSORS: dict[str, tuple[bytes, str]] = {
    "shorter than 8 bytes": (b"\x05\x00\x00", "shorter than the 8-byte"),
    "header length past the end": (
        safetensors_bytes({"t": entry()}, EIGHT, length=10_000), "exceeds the file size"),
    "header length over the limit": (
        safetensors_bytes({}, length=MAX_HEADER_BYTES + 1), "limit"),
    "header length 2**64-1": (safetensors_bytes({}, length=2**64 - 1), "exceeds"),
    "bad json": (safetensors_bytes(None, raw_header=b'{"t": {'), "not valid JSON"),
    "not utf-8": (safetensors_bytes(None, raw_header=b'{"\xff": 1}'), "not valid JSON"),
    "deeply nested": (safetensors_bytes(None, raw_header=b"[" * 100_000 + b"]" * 100_000),
                      "JSON"),
    "a list": (safetensors_bytes([1, 2]), "must be a JSON object"),
    "a number": (safetensors_bytes(None, raw_header=b"7"), "must be a JSON object"),
    "duplicate tensor": (
        safetensors_bytes(None, EIGHT, raw_header=json.dumps({"t": entry()}).encode()[:-1]
                          + b',"t":' + json.dumps(entry()).encode() + b"}"), "duplicate key 't'"),
    "entry not an object": (safetensors_bytes({"t": [1, 2]}, EIGHT), "'t'.*expected an object"),
    "unknown dtype": (safetensors_bytes({"t": entry(dtype="F128")}, EIGHT), "'t'.*'F128'"),
    "dtype not a string": (safetensors_bytes({"t": entry(dtype=4)}, EIGHT), "'t'.*dtype"),
    "negative dim": (safetensors_bytes({"t": entry(shape=(-2,))}, EIGHT), "'t'.*non-negative"),
    "float dim": (safetensors_bytes({"t": entry(shape=(2.0,))}, EIGHT), "'t'.*shape"),
    "bool dim": (safetensors_bytes({"t": entry(shape=(True, 2))}, EIGHT), "'t'.*shape"),
    "shape not a list": (safetensors_bytes({"t": {"dtype": "F32", "shape": 2,
                                                  "data_offsets": [0, 8]}}, EIGHT), "'t'.*shape"),
    "huge dims": (safetensors_bytes({"t": entry(shape=(2**62, 2**62, 2**62))}, EIGHT),
                  "'t'.*needs"),
    "huge dims with a zero": (safetensors_bytes({"t": entry(shape=(2**70, 0))}, EIGHT),
                              "'t'.*hold 8"),
    "size mismatch": (safetensors_bytes({"t": entry(shape=(3,))}, EIGHT), "'t'.*needs 12 bytes"),
    "offsets reversed": (safetensors_bytes({"t": entry(offsets=(8, 0))}, EIGHT),
                         "'t'.*data_offsets"),
    "offsets past the end": (safetensors_bytes({"t": entry(shape=(4,), offsets=(0, 16))}, EIGHT),
                             "'t'.*data_offsets"),
    "offsets negative": (safetensors_bytes({"t": entry(offsets=(-8, 0))}, EIGHT),
                         "'t'.*data_offsets"),
    "offsets three": (safetensors_bytes({"t": entry(offsets=(0, 4, 8))}, EIGHT),
                      "'t'.*data_offsets"),
    "offsets strings": (safetensors_bytes({"t": entry(offsets=("0", "8"))}, EIGHT),
                        "'t'.*data_offsets"),
    "overlap": (safetensors_bytes({"a": entry(offsets=(0, 8)), "b": entry(offsets=(4, 12))},
                                  EIGHT + EIGHT[:4]), "'b'.*overlaps"),
    "gap": (safetensors_bytes({"a": entry(shape=(1,), offsets=(0, 4)),
                               "b": entry(shape=(1,), offsets=(8, 12))}, EIGHT + EIGHT[:4]),
            "'b'.*gap"),
    "buffer not covered": (safetensors_bytes({"t": entry()}, EIGHT + b"junk"),
                           "cover 8 bytes of a 12-byte buffer"),
    "metadata not strings": (safetensors_bytes({"__metadata__": {"a": 1}}), "__metadata__"),
    "metadata a list": (safetensors_bytes({"__metadata__": ["a"]}), "__metadata__"),
}


def assert_refused(path: Path, data: bytes, error: type[Error], pattern: str) -> None:
    """``data`` saved at ``path`` does not load: ``error`` matching ``pattern``, naming the file."""
    path.write_bytes(data)
    with pytest.raises(error, match=pattern) as info:
        load_weights(path)
    assert path.name in str(info.value)


@pytest.mark.parametrize("case", sorted(HOSTILE_SAFETENSORS))
def test_hostile_safetensors(tmp_path: Path, case: str) -> None:
    data, pattern = HOSTILE_SAFETENSORS[case]
    assert_refused(tmp_path / "hostile.safetensors", data, CorruptCheckpointError, pattern)


def test_valid_baseline_of_the_hostile_builder(tmp_path: Path) -> None:
    # the same builder with consistent values gives a file that reads: the cases above
    # fail for the one thing each changes
    path = tmp_path / "ok.safetensors"
    path.write_bytes(safetensors_bytes({"a": entry(shape=(1,), offsets=(0, 4)),
                                        "b": entry(shape=(1,), offsets=(4, 8)),
                                        "__metadata__": {"k": "v"}}, EIGHT))
    got = load_weights(path)
    assert got["a"].tobytes() == EIGHT[:4] and got["b"].tobytes() == EIGHT[4:]


def npz_with(member: str, npy: bytes, *, compress: bool = False) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED) as z:
        z.writestr(member, npy)
    return out.getvalue()


def npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    text = repr({"descr": descr, "fortran_order": False, "shape": shape}).encode()
    text += b" " * (-(len(text) + 11) % 64) + b"\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(text)) + text


HOSTILE_NPZ: dict[str, tuple[bytes, str]] = {
    "not a zip": (b"hello, world", "not a valid .npz"),
    "not npy member": (npz_with("readme.txt", b"hi"), "'readme.txt' is not a .npy"),
    "bad magic": (npz_with("a.npy", b"\x93NUMPX" + bytes(20)), "'a'.*header"),
    "bad header": (npz_with("a.npy", b"\x93NUMPY\x01\x00\x05\x00{{{{\n"), "'a'.*header"),
    "huge shape": (npz_with("a.npy", npy_header("<f8", (2**40, 2**40)) + bytes(8)),
                   "'a'.*needs"),
    "short data": (npz_with("a.npy", npy_header("<f8", (4,)) + bytes(8)), "'a'.*needs 32"),
    "object dtype": (npz_with("a.npy", npy_header("|O", (1,)) + bytes(8)), "'a'.*pickle"),
    "structured dtype": (npz_with("a.npy", npy_header("|V8", (1,)) + bytes(8)), "'a'.*dtype"),
    "datetime": (npz_with("a.npy", npy_header("<M8[s]", (1,)) + bytes(8)), "'a'.*dtype"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_NPZ))
def test_hostile_npz(tmp_path: Path, case: str) -> None:
    data, pattern = HOSTILE_NPZ[case]
    assert_refused(tmp_path / "hostile.npz", data, Error, pattern)


def test_npz_builder_baseline(tmp_path: Path) -> None:
    path = tmp_path / "ok.npz"
    path.write_bytes(npz_with("a.npy", npy_header("<f8", (2,)) + np.float64([1, 2]).tobytes(),
                              compress=True))
    assert load_weights(path)["a"].tolist() == [1.0, 2.0]


_FUZZ = settings(derandomize=True, deadline=None, database=None, max_examples=150,
                 suppress_health_check=[HealthCheck.too_slow])


def _valid_files() -> dict[str, bytes]:
    tensors = {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.int8([1, -1]),
               "flag": np.array(True), "e": np.zeros((0, 2), np.float64)}
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("x.safetensors", "x.npz"):
            save_weights(Path(tmp) / name, tensors)
        return {name: (Path(tmp) / name).read_bytes() for name in ("x.safetensors", "x.npz")}


VALID = _valid_files()


@_FUZZ
@given(name=st.sampled_from(sorted(VALID)), kind=damage_kinds, offset=st.integers(0, 10_000),
       payload=st.binary(min_size=1, max_size=16), length=st.integers(1, 64))
def test_damaged_files_read_or_fail_cleanly(name: str, kind: str, offset: int, payload: bytes,
                                            length: int) -> None:
    damaged = mutate(VALID[name], kind, offset, payload, length)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(damaged)
        try:
            arrays = load_weights(path)
        except Error as exc:
            assert name in str(exc)
            return
        for array in arrays.values():
            assert isinstance(array, np.ndarray) and array.size < 1000
