"""FarmHash Fingerprint64 / FingerprintCat64 against values TensorFlow 2.21 computes.

Golden vectors come from ``tf.fingerprint(..., method="farmhash64")`` run in the
TF venv (one subprocess for the module): every length 0..300 (each code path of
the hash and every tail length of the 64-byte loop) plus a few large inputs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pysavedmodel.format.farmhash import fingerprint64, fingerprint_cat64
from tests.support.tf import FIXTURES, run_tf

_INPUTS = [bytes((i * 131 + 7 * n) & 0xFF for i in range(n)) for n in range(301)]
_INPUTS += [b"\xff" * 1000, bytes(range(256)) * 40 + b"tail", b"serve"]

_TF_SCRIPT = """
import json, sys
import tensorflow as tf
data = [bytes.fromhex(h) for h in json.load(open(sys.argv[1]))]
out = tf.fingerprint(tf.constant(data, dtype=tf.string), method="farmhash64").numpy()
print(json.dumps([int.from_bytes(bytes(row.tolist()), "little") for row in out]))
"""


@pytest.fixture(scope="module")
def tf_values(tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    path = tmp_path_factory.mktemp("fh") / "inputs.json"
    path.write_text(json.dumps([b.hex() for b in _INPUTS]))
    values = run_tf(_TF_SCRIPT, path)
    assert isinstance(values, list)
    return [int(v) for v in values]


def test_fingerprint64_matches_tensorflow_for_every_length(tf_values: list[int]) -> None:
    ours = [fingerprint64(b) for b in _INPUTS]
    wrong = [(len(b), o, t) for b, o, t in zip(_INPUTS, ours, tf_values) if o != t]
    assert not wrong, wrong[:5]


def test_fingerprint64_accepts_buffers() -> None:
    data = b"abcdefghijklmnopqrstuvwxyz0123456789" * 3
    assert fingerprint64(memoryview(data)) == fingerprint64(bytearray(data)) == fingerprint64(data)


def test_fingerprint64_of_tf_written_index_is_its_checkpoint_hash() -> None:
    # fingerprint.pb's checkpoint_hash is Fingerprint64 of variables.index (TF-written fixture).
    from pysavedmodel._proto import fingerprint_pb2
    model = FIXTURES / "savedmodel_v2_module"
    fp = fingerprint_pb2.FingerprintDef.FromString((model / "fingerprint.pb").read_bytes())
    index = Path(model / "variables" / "variables.index").read_bytes()
    assert fingerprint64(index) == fp.checkpoint_hash


def test_fingerprint_cat64_is_order_sensitive() -> None:
    a, b = fingerprint64(b"a"), fingerprint64(b"b")
    assert fingerprint_cat64(a, b) != fingerprint_cat64(b, a)
    assert 0 <= fingerprint_cat64(a, b) < 2**64
