"""TF Serving's signature rules, written once (TensorFlow's ``is_valid_signature``).

* predict (``tensorflow/serving/predict``): at least one input and one output;
* classify (``tensorflow/serving/classify``): exactly one input ``inputs`` of
  DT_STRING (serialized tf.Example protos); outputs ``classes`` (DT_STRING) and/or
  ``scores`` (DT_FLOAT), at least one, nothing else;
* regress (``tensorflow/serving/regress``): exactly one input ``inputs`` (DT_STRING)
  and one output ``outputs`` (DT_FLOAT).

Other method names are not checked: TF Serving only checks them when started with
``--enable_signature_method_name_check`` (off by default).

:func:`check_serving_rules` reports through ``report(code, where, message)``; the
builder raises the first finding as :class:`~pysavedmodel.errors.SignatureError`
(:func:`validate_serving_rules`), ``pysavedmodel validate`` collects them with their
codes (``serving-predict-inputs`` ... ``serving-regress-outputs``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Final

from .. import dtypes
from .._proto import meta_graph_pb2
from ..constants import CLASSIFY_METHOD_NAME, PREDICT_METHOD_NAME, REGRESS_METHOD_NAME
from ..errors import SignatureError

__all__ = ["CLASSIFY_INPUTS", "CLASSIFY_OUTPUT_CLASSES", "CLASSIFY_OUTPUT_SCORES",
           "REGRESS_INPUTS", "REGRESS_OUTPUTS", "SERVING_CODES", "check_serving_rules",
           "validate_serving_rules"]

# Fixed input/output keys of the classify and regress APIs.
CLASSIFY_INPUTS: Final = "inputs"
CLASSIFY_OUTPUT_CLASSES: Final = "classes"
CLASSIFY_OUTPUT_SCORES: Final = "scores"
REGRESS_INPUTS: Final = "inputs"
REGRESS_OUTPUTS: Final = "outputs"

SERVING_CODES: Final = (
    "serving-predict-inputs", "serving-predict-outputs",
    "serving-classify-inputs", "serving-classify-outputs",
    "serving-regress-inputs", "serving-regress-outputs",
)

Report = Callable[[str, str, str], None]


def _name(enum: int) -> str:
    return dtypes.dtype_name(enum, proto=True)


def check_serving_rules(where: str, sig: meta_graph_pb2.SignatureDef, report: Report, *,
                        unset_dtypes_ok: bool = False) -> None:
    """Report every way ``sig`` breaks the rules of its method name.

    ``where`` labels the signature (``signature 'serving_default'``).  With
    ``unset_dtypes_ok`` a TensorInfo whose dtype is not filled in yet (0) passes the
    dtype rules (the builder checks again once it resolves tensors against a graph).
    """
    method = sig.method_name
    if method == PREDICT_METHOD_NAME:
        if not sig.inputs:
            report("serving-predict-inputs", where, "(predict): inputs must not be empty")
        if not sig.outputs:
            report("serving-predict-outputs", where, "(predict): outputs must not be empty")
        return
    if method == CLASSIFY_METHOD_NAME:
        kind, inputs, outputs = "classify", [CLASSIFY_INPUTS], [
            (CLASSIFY_OUTPUT_CLASSES, dtypes.DT_STRING), (CLASSIFY_OUTPUT_SCORES, dtypes.DT_FLOAT)]
        exact_outputs = False
    elif method == REGRESS_METHOD_NAME:
        kind, inputs, outputs = "regress", [REGRESS_INPUTS], [(REGRESS_OUTPUTS, dtypes.DT_FLOAT)]
        exact_outputs = True
    else:
        return
    code_in, code_out = f"serving-{kind}-inputs", f"serving-{kind}-outputs"
    if _keys_ok(where, kind, "inputs", sig.inputs, inputs, True, code_in, report):
        _dtype_ok(where, kind, "input", CLASSIFY_INPUTS, sig.inputs[CLASSIFY_INPUTS],
                  dtypes.DT_STRING, code_in, report, unset_dtypes_ok)
    if _keys_ok(where, kind, "outputs", sig.outputs, [key for key, _ in outputs],
                exact_outputs, code_out, report):
        for key, want in outputs:
            if key in sig.outputs:
                _dtype_ok(where, kind, "output", key, sig.outputs[key], want, code_out, report,
                          unset_dtypes_ok)


def _keys_ok(where: str, kind: str, side: str, got: Iterable[str], allowed: Iterable[str],
             exact: bool, code: str, report: Report) -> bool:
    got_set, allowed_set = set(got), set(allowed)
    ok = got_set == allowed_set if exact else bool(got_set) and got_set <= allowed_set
    if not ok:
        names = [repr(k) for k in sorted(allowed_set)]
        rule = f"exactly {' and '.join(names)}" if exact else " and/or ".join(names)
        report(code, where, f"({kind}): {side} must be {rule}; got {sorted(got_set)}")
    return ok


def _dtype_ok(where: str, kind: str, side: str, name: str, info: meta_graph_pb2.TensorInfo,
              expected: int, code: str, report: Report, unset_ok: bool) -> None:
    if info.dtype == expected or (unset_ok and not info.dtype):
        return
    report(code, f"{where} {side} {name!r}", f"({kind}): tensor {info.name!r} must be "
           f"{_name(expected)}, got {_name(info.dtype)}")


def _raise(code: str, where: str, message: str) -> None:
    raise SignatureError(f"{where} {message}")


def validate_serving_rules(key: str, sig: meta_graph_pb2.SignatureDef) -> None:
    """Raise :class:`SignatureError` for the first rule ``sig`` breaks (see module doc).

    Dtype rules are only checked for TensorInfos whose dtype is set.
    """
    check_serving_rules(f"signature {key!r}", sig, _raise, unset_dtypes_ok=True)
