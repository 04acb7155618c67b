"""Our safetensors codec against the reference package (``safetensors.numpy``)."""

from __future__ import annotations

import struct
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from safetensors.numpy import load_file, save_file

from pysavedmodel.errors import InvalidArgumentError, UnsupportedDTypeError
from pysavedmodel.weights import load_weights, save_weights
from pysavedmodel.weights.safetensors_format import (
    read_safetensors,
    read_safetensors_header,
    write_safetensors,
)

from .samples import SAFETENSORS_DTYPES, assert_same, sample, tensors_of

ODD_NAMES = {
    "plain": (2, 3),
    "caf\u00e9/\u00fcber": (3,),
    'quote"back\\slash': (1,),
    "ctrl\x01\x1f\n\t": (2,),
    "del\x7f": (),
    "emoji\U0001F600": (0,),
    "a": (2, 2),
    "B": (1,),
}


def test_bytes_equal_reference_writer_every_dtype(tmp_path: Path) -> None:
    tensors = tensors_of(SAFETENSORS_DTYPES)
    write_safetensors(tmp_path / "ours.safetensors", tensors)
    save_file(tensors, str(tmp_path / "ref.safetensors"))
    assert (tmp_path / "ours.safetensors").read_bytes() == \
        (tmp_path / "ref.safetensors").read_bytes()


@pytest.mark.parametrize("metadata", [None, {"format": "np"}, {"k\u00e9y": 'v"al\n'}])
def test_bytes_equal_reference_odd_names_and_metadata(tmp_path: Path,
                                                      metadata: dict[str, str] | None) -> None:
    tensors = {name: sample(dtype, shape, seed=i) for i, ((name, shape), dtype) in
               enumerate(zip(ODD_NAMES.items(), ("float32", "int8", "bfloat16", "float64",
                                                  "bool", "uint16", "float32", "float32")))}
    write_safetensors(tmp_path / "ours.safetensors", tensors, metadata=metadata)
    save_file(tensors, str(tmp_path / "ref.safetensors"), metadata=metadata)
    assert (tmp_path / "ours.safetensors").read_bytes() == \
        (tmp_path / "ref.safetensors").read_bytes()
    assert read_safetensors_header(tmp_path / "ref.safetensors").metadata == (metadata or {})


def test_bytes_equal_reference_empty_and_non_contiguous(tmp_path: Path) -> None:
    save_weights(tmp_path / "empty.safetensors", {})
    save_file({}, str(tmp_path / "ref_empty.safetensors"))
    assert (tmp_path / "empty.safetensors").read_bytes() == \
        (tmp_path / "ref_empty.safetensors").read_bytes()
    base = np.arange(24, dtype=">f4").reshape(4, 6)  # big-endian and strided
    view = base[::2, 1::2]
    save_weights(tmp_path / "v.safetensors", {"v": view})
    save_file({"v": np.ascontiguousarray(view)}, str(tmp_path / "ref_v.safetensors"))
    assert (tmp_path / "v.safetensors").read_bytes() == \
        (tmp_path / "ref_v.safetensors").read_bytes()
    assert load_weights(tmp_path / "v.safetensors")["v"].tolist() == view.tolist()


def test_reads_reference_files(tmp_path: Path) -> None:
    tensors = tensors_of(SAFETENSORS_DTYPES)
    tensors.update({name: np.ones(shape, np.float32) for name, shape in ODD_NAMES.items()})
    save_file(tensors, str(tmp_path / "ref.safetensors"), metadata={"format": "pt"})
    assert_same(read_safetensors(tmp_path / "ref.safetensors"), tensors)
    assert_same(load_weights(tmp_path / "ref.safetensors"), tensors)


def test_reference_reads_ours(tmp_path: Path) -> None:
    # float8 needs numpy types the reference loader looks up on numpy itself; the rest:
    dtypes = [d for d in SAFETENSORS_DTYPES if not d.startswith("float8")]
    tensors = tensors_of(dtypes)
    save_weights(tmp_path / "ours.safetensors", tensors)
    back = load_file(str(tmp_path / "ours.safetensors"))
    assert_same({k: np.asarray(v) for k, v in back.items()}, tensors)


def test_float8_round_trip(tmp_path: Path) -> None:
    tensors = {"e4m3": np.array([0.5, -2, 448], ml_dtypes.float8_e4m3fn),
               "e5m2": np.array([1, -0.0, np.inf], ml_dtypes.float8_e5m2)}
    save_weights(tmp_path / "f8.safetensors", tensors)
    header = read_safetensors_header(tmp_path / "f8.safetensors")
    assert {e.name: e.dtype.name for e in header.entries} == {
        "e4m3": "float8_e4m3fn", "e5m2": "float8_e5m2"}
    raw = (tmp_path / "f8.safetensors").read_bytes()
    assert b'"dtype":"F8_E4M3"' in raw and b'"dtype":"F8_E5M2"' in raw
    assert_same(load_weights(tmp_path / "f8.safetensors"), tensors)


def test_header_layout(tmp_path: Path) -> None:
    save_weights(tmp_path / "x.safetensors", {"small": np.int8([1, 2, 3]),
                                              "wide": np.float64([1.5])})
    raw = (tmp_path / "x.safetensors").read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    assert length % 8 == 0 and raw[8 + length - 1:8 + length] == b" "
    header = raw[8:8 + length].rstrip(b" ")
    assert header == (b'{"wide":{"dtype":"F64","shape":[1],"data_offsets":[0,8]},'
                      b'"small":{"dtype":"I8","shape":[3],"data_offsets":[8,11]}}')
    assert raw[8 + length:] == np.float64([1.5]).tobytes() + bytes([1, 2, 3])


_NAMES = st.text(min_size=1, max_size=12)
_DTYPES = st.sampled_from(SAFETENSORS_DTYPES)
_SHAPES = st.lists(st.integers(0, 3), max_size=3).map(tuple)


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(_NAMES, st.tuples(_DTYPES, _SHAPES), max_size=6))
def test_property_bytes_equal_reference(spec: dict[str, tuple[str, tuple[int, ...]]]) -> None:
    import tempfile

    tensors = {name: sample(dtype, shape, seed=i)
               for i, (name, (dtype, shape)) in enumerate(spec.items())}
    with tempfile.TemporaryDirectory() as tmp:
        ours, ref = Path(tmp) / "o.safetensors", Path(tmp) / "r.safetensors"
        write_safetensors(ours, tensors)
        save_file(tensors, str(ref))
        assert ours.read_bytes() == ref.read_bytes()
        assert_same(read_safetensors(ours), tensors)


def test_writer_refusals(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="'__metadata__'"):
        write_safetensors(tmp_path / "x.safetensors", {"__metadata__": np.ones(1)})
    with pytest.raises(InvalidArgumentError, match="metadata must map str -> str"):
        write_safetensors(tmp_path / "x.safetensors", {"a": np.ones(1)},
                          metadata={"n": 1})  # type: ignore[dict-item]
    with pytest.raises(UnsupportedDTypeError, match="'c'.*complex128"):
        write_safetensors(tmp_path / "x.safetensors", {"c": np.ones(1, np.complex128)})
    assert list(tmp_path.iterdir()) == []
