"""TF Serving warmup requests: ``assets.extra/tf_serving_warmup_requests``.

When TF Serving loads a model version it replays the requests in this file before
marking the version available, so the first real requests do not pay for lazy
initialisation.  The file is a TFRecord (:mod:`pysavedmodel.format.tfrecord`) of
serialized ``tensorflow.serving.PredictionLog`` messages, each holding one request:

* ``predict_log.request`` — a ``PredictRequest``: ``model_spec.signature_name`` and
  ``inputs`` {key: TensorProto}, every input of the signature;
* ``classify_log.request`` / ``regress_log.request`` — a ``ClassificationRequest`` /
  ``RegressionRequest`` whose ``input`` is an ``ExampleList`` of ``tf.train.Example``s.

Serving's rules, enforced here before anything is written: at most
:data:`MAX_WARMUP_RECORDS` records; only predict, classify and regress records (the
kinds this module writes); each names a signature of the served meta graph whose
method matches the record kind; predict inputs have exactly the signature's keys, its
dtypes and shapes compatible with the recorded ones (``-1`` matches any size).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np

from .. import dtypes
from .._proto import example_pb2, meta_graph_pb2, prediction_log_pb2
from ..constants import (
    CLASSIFY_METHOD_NAME,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    RESERVED_SIGNATURE_KEYS,
)
from ..errors import InvalidArgumentError
from ..format.tfrecord import encode_record, read_records
from ..graph.attrs import make_tensor_proto
from ..names import utf8

__all__ = ["MAX_WARMUP_RECORDS", "WARMUP_DIRECTORY", "WARMUP_FILENAME", "warmup_records",
           "write_warmup_file", "make_example", "read_warmup_records"]

MAX_WARMUP_RECORDS: Final = 1000
"""TF Serving refuses a warmup file with more records than this."""
WARMUP_DIRECTORY: Final = "assets.extra"
WARMUP_FILENAME: Final = "tf_serving_warmup_requests"


def make_example(features: Mapping[str, Any], where: str) -> example_pb2.Example:
    """A ``tf.train.Example`` from ``{name: values}``: floats become ``float_list``,
    integers and bools ``int64_list``, str/bytes ``bytes_list``."""
    if not isinstance(features, Mapping) or not features:
        raise InvalidArgumentError(f"{where}: expected a non-empty mapping of feature name -> "
                                   f"values, got {features!r}")
    example = example_pb2.Example()
    for name, value in features.items():
        if not isinstance(name, str) or not name:
            raise InvalidArgumentError(f"{where}: feature names must be non-empty strings, "
                                       f"got {name!r}")
        array = np.asarray(value)
        feature = example.features.feature[name]
        flat = array.reshape(-1)
        if array.dtype.kind == "f":
            feature.float_list.value.extend(float(v) for v in flat)
        elif array.dtype.kind in "iub":
            feature.int64_list.value.extend(int(v) for v in flat)
        elif array.dtype.kind in "SUO":
            items = []
            for v in flat.tolist():
                if isinstance(v, str):
                    items.append(utf8(v, f"{where}: feature {name!r} value {v!r}"))
                elif isinstance(v, bytes):
                    items.append(v)
                else:
                    raise InvalidArgumentError(
                        f"{where}: feature {name!r} holds {v!r}; expected str or bytes")
            feature.bytes_list.value.extend(items)
        else:
            raise InvalidArgumentError(
                f"{where}: feature {name!r} has dtype {array.dtype}; expected float, int, "
                f"bool or string values")
    return example


def _shape_ok(shape: tuple[int, ...], info: meta_graph_pb2.TensorInfo) -> bool:
    if info.tensor_shape.unknown_rank:
        return True
    want = [d.size for d in info.tensor_shape.dim]
    return len(want) == len(shape) and all(w < 0 or w == s for w, s in zip(want, shape))


def _shape_text(info: meta_graph_pb2.TensorInfo) -> str:
    if info.tensor_shape.unknown_rank:
        return "unknown rank"
    return str([d.size for d in info.tensor_shape.dim])


def _predict(name: str, signature: meta_graph_pb2.SignatureDef, index: int,
             inputs: Any) -> prediction_log_pb2.PredictionLog:
    where = f"warmup request {index} for signature {name!r}"
    if not isinstance(inputs, Mapping):
        raise InvalidArgumentError(f"{where}: expected a mapping of input key -> array, got "
                                   f"{type(inputs).__name__}")
    if set(inputs) != set(signature.inputs):
        raise InvalidArgumentError(
            f"{where}: inputs {sorted(inputs, key=str)}; the signature takes exactly "
            f"{sorted(signature.inputs)}")
    log = prediction_log_pb2.PredictionLog()
    request = log.predict_log.request
    request.model_spec.signature_name = name
    for key in sorted(signature.inputs):
        info = signature.inputs[key]
        want = dtypes.DTYPES.get(info.dtype)
        try:
            array = np.asarray(inputs[key])
            got = dtypes.from_numpy(array.dtype)
        except Exception as exc:
            raise InvalidArgumentError(f"{where}: input {key!r} is not an array: {exc}") from None
        if want is not None and got.enum != want.enum:
            raise InvalidArgumentError(
                f"{where}: input {key!r} is {got.name}; the signature wants {want.name}")
        if not _shape_ok(array.shape, info):
            raise InvalidArgumentError(
                f"{where}: input {key!r} has shape {list(array.shape)}; the signature wants "
                f"{_shape_text(info)} (-1: any size)")
        request.inputs[key].CopyFrom(make_tensor_proto(array, got.enum))
    return log


def _examples(name: str, method: str, index: int,
              features: Any) -> prediction_log_pb2.PredictionLog:
    where = f"warmup request {index} for signature {name!r}"
    items = [features] if isinstance(features, Mapping) else features
    if not isinstance(items, Sequence) or isinstance(items, (str, bytes)) or not items:
        raise InvalidArgumentError(f"{where}: expected a feature dict or a non-empty list of "
                                   f"them (one tf.Example each)")
    log = prediction_log_pb2.PredictionLog()
    request: Any = (log.classify_log.request if method == CLASSIFY_METHOD_NAME
                    else log.regress_log.request)
    request.model_spec.signature_name = name
    for i, item in enumerate(items):
        request.input.example_list.examples.add().CopyFrom(
            make_example(item, f"{where} example {i}"))
    return log


def warmup_records(signatures: Mapping[str, meta_graph_pb2.SignatureDef],
                   requests: Mapping[str, Sequence[Any]]) -> list[bytes]:
    """Serialized ``PredictionLog`` records for ``requests`` against ``signatures``.

    ``requests`` maps a signature key to its requests: for a predict signature each
    request is ``{input key: array}``; for classify / regress each is a feature dict
    (or a list of them), turned into ``tf.train.Example``s.  Raises
    :class:`InvalidArgumentError` naming the request for anything TF Serving would refuse.

    >>> warmup_records(sigs, {"serving_default": [{"x": np.zeros((1, 3), np.float32)}]})
    ... # doctest: +SKIP
    """
    if not isinstance(requests, Mapping) or not requests:
        raise InvalidArgumentError(
            f"warmup requests must be a non-empty mapping of signature key -> list of "
            f"requests, got {requests!r}")
    total = sum(len(v) for v in requests.values() if isinstance(v, Sequence))
    if total > MAX_WARMUP_RECORDS:
        raise InvalidArgumentError(f"{total} warmup requests; TF Serving reads at most "
                                   f"{MAX_WARMUP_RECORDS}")
    records: list[bytes] = []
    for name, items in requests.items():
        signature = None if name in RESERVED_SIGNATURE_KEYS else signatures.get(name)
        if signature is None:
            servable = sorted(k for k in signatures if k not in RESERVED_SIGNATURE_KEYS)
            raise InvalidArgumentError(f"warmup requests name signature {name!r}; the model "
                                       f"has {servable}")
        if not isinstance(items, Sequence) or isinstance(items, (str, bytes, Mapping)):
            raise InvalidArgumentError(f"warmup requests for {name!r} must be a list of "
                                       f"requests, got {type(items).__name__}")
        method = signature.method_name
        for index, item in enumerate(items):
            if method == PREDICT_METHOD_NAME:
                log = _predict(name, signature, index, item)
            elif method in (CLASSIFY_METHOD_NAME, REGRESS_METHOD_NAME):
                log = _examples(name, method, index, item)
            else:
                raise InvalidArgumentError(
                    f"signature {name!r} has method {method!r}; TF Serving warms up predict, "
                    f"classify and regress signatures only")
            records.append(encode_record(log.SerializeToString(deterministic=True)))
    if not records:
        raise InvalidArgumentError("no warmup requests given (every list is empty)")
    return records


def write_warmup_file(export_dir: Path, records: Sequence[bytes]) -> None:
    """Write ``records`` (from :func:`warmup_records`) as
    ``export_dir/assets.extra/tf_serving_warmup_requests`` (the directory is new)."""
    (export_dir / WARMUP_DIRECTORY).mkdir()
    with open(export_dir / WARMUP_DIRECTORY / WARMUP_FILENAME, "wb") as out:
        for record in records:
            out.write(record)


def read_warmup_records(data: bytes, what: str) -> list[dict[str, Any]]:
    """What each record of a warmup file asks: kind, signature and inputs (for ``show``)."""
    out: list[dict[str, Any]] = []
    for record in read_records(data, what=what):
        log = prediction_log_pb2.PredictionLog.FromString(record)
        kind = log.WhichOneof("log_type") or "unknown"
        entry: dict[str, Any] = {"kind": kind}
        if kind == "predict_log":
            request = log.predict_log.request
            entry["signature"] = request.model_spec.signature_name
            entry["inputs"] = {
                key: {"dtype": dtypes.dtype_name(t.dtype, proto=True),
                      "shape": [d.size for d in t.tensor_shape.dim]}
                for key, t in sorted(request.inputs.items())}
        elif kind in ("classify_log", "regress_log"):
            request = getattr(log, kind).request
            entry["signature"] = request.model_spec.signature_name
            entry["examples"] = len(request.input.example_list.examples)
        out.append(entry)
    return out
