"""Checks of the signatures, and TF Serving's rules for their method names.

Each signature tensor (dense, sparse parts, composite components) is an output
of the graph with the recorded dtype.  TF Serving (its Classify/Regress code)
wants for classify exactly one input ``inputs`` of DT_STRING and one or two
outputs including ``classes`` (DT_STRING) and/or ``scores`` (DT_FLOAT); for
regress one input ``inputs`` (DT_STRING) and one output ``outputs``
(DT_FLOAT); predict signatures need inputs and outputs (TF's
``is_valid_signature``).  Other method names are not findings: TF Serving only
checks them when started with ``--enable_signature_method_name_check`` (off by
default).
"""

from __future__ import annotations

from ... import dtypes
from ..._proto import meta_graph_pb2
from ...constants import CLASSIFY_METHOD_NAME as CLASSIFY
from ...constants import PREDICT_METHOD_NAME as PREDICT
from ...constants import REGRESS_METHOD_NAME as REGRESS
from ...constants import RESERVED_SIGNATURE_KEYS
from ...graph.inference import base_enum
from ...names import parse_input
from .context import MetaGraphContext
from .findings import Report, type_name


def check_signatures(ctx: MetaGraphContext) -> None:
    """Every signature but the init/train op ones: its tensors, then the serving rules."""
    for key, signature in sorted(ctx.meta.signature_def.items()):
        if key in RESERVED_SIGNATURE_KEYS:
            continue
        for side, infos in (("input", signature.inputs), ("output", signature.outputs)):
            for alias, info in sorted(infos.items()):
                where = ctx.at(f"signature {key!r} {side} {alias!r}")
                _check_tensor_info(ctx, info, where)
        _check_serving_rules(signature, ctx.at(f"signature {key!r}"), ctx.report)


def _check_tensor_info(ctx: MetaGraphContext, info: meta_graph_pb2.TensorInfo,
                       where: str) -> None:
    encoding = info.WhichOneof("encoding")
    if encoding == "coo_sparse":
        sparse = info.coo_sparse
        for part in (sparse.values_tensor_name, sparse.indices_tensor_name,
                     sparse.dense_shape_tensor_name):
            problem = ctx.tensor_exists(part)
            if problem is not None:
                ctx.report("signature-tensor-missing", where, f"{part!r}: {problem}")
        return
    if encoding == "composite_tensor":
        for index, component in enumerate(info.composite_tensor.components):
            _check_tensor_info(ctx, component, f"{where} component {index}")
        return
    problem = ctx.tensor_exists(info.name)
    if problem is not None:
        ctx.report("signature-tensor-missing", where, f"{info.name!r}: {problem}")
        return
    source, index, _ = parse_input(info.name)
    produced = ctx.outputs[source].dtypes
    got = produced[index] if produced is not None else None
    if got is not None and base_enum(got) != base_enum(info.dtype):  # ref dtypes: TF1
        ctx.report("signature-dtype-mismatch", where,
                   f"records {type_name(info.dtype)} but {info.name!r} is "
                   f"{type_name(base_enum(got))}")


def _check_serving_rules(sig: meta_graph_pb2.SignatureDef, where: str, report: Report) -> None:
    method = sig.method_name
    if method == PREDICT:
        if not sig.inputs:
            report("serving-predict-inputs", where, "a predict signature needs at least one input")
        if not sig.outputs:
            report("serving-predict-outputs", where,
                   "a predict signature needs at least one output")
    elif method == CLASSIFY:
        _one_string_input(sig, where, "classify", report)
        outputs = sig.outputs
        known = [k for k in ("classes", "scores") if k in outputs]
        if not 1 <= len(outputs) <= 2 or not known:
            report("serving-classify-outputs", where,
                   f"outputs {sorted(outputs)}; TF Serving's Classify wants one or two outputs, "
                   f"among them 'classes' (DT_STRING) and/or 'scores' (DT_FLOAT)")
        for key, want in (("classes", dtypes.DT_STRING), ("scores", dtypes.DT_FLOAT)):
            if key in outputs and outputs[key].dtype != want:
                report("serving-classify-outputs", f"{where} output {key!r}",
                       f"is {type_name(outputs[key].dtype)}; TF Serving's Classify wants "
                       f"{type_name(want)}")
    elif method == REGRESS:
        _one_string_input(sig, where, "regress", report)
        outputs = sig.outputs
        if list(outputs) != ["outputs"]:
            report("serving-regress-outputs", where,
                   f"outputs {sorted(outputs)}; TF Serving's Regress wants exactly one output "
                   f"'outputs' (DT_FLOAT)")
        elif outputs["outputs"].dtype != dtypes.DT_FLOAT:
            report("serving-regress-outputs", f"{where} output 'outputs'",
                   f"is {type_name(outputs['outputs'].dtype)}; TF Serving's Regress wants "
                   f"DT_FLOAT")


def _one_string_input(sig: meta_graph_pb2.SignatureDef, where: str, method: str,
                      report: Report) -> None:
    code = f"serving-{method}-inputs"
    api = method.capitalize()
    if list(sig.inputs) != ["inputs"]:
        report(code, where, f"inputs {sorted(sig.inputs)}; TF Serving's {api} wants exactly one "
               f"input 'inputs' (DT_STRING, serialized tf.Example protos)")
    elif sig.inputs["inputs"].dtype != dtypes.DT_STRING:
        report(code, f"{where} input 'inputs'",
               f"is {type_name(sig.inputs['inputs'].dtype)}; TF Serving's {api} feeds serialized "
               f"tf.Example protos, a DT_STRING tensor")
