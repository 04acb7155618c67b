"""Per-op semantics against onnxruntime, batched: one ORT subprocess, one TF subprocess.

Each case is a tiny ONNX model exercising one op's ONNX-specific meaning; the converted
SavedModel must give ORT's outputs through the TF C API and tf.saved_model.load.
"""

from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto

from tests.onnx.cases import model, node, rand
from tests.support.onnx_harness import Result, assert_matches, run_cases

INT64_MAX = 2**63 - 1


def _cases() -> list:
    c = []
    x4 = rand(2, 3, 9, 9)
    c.append(("conv_asym_pads", model(
        [node("Conv", ["x", "W", "B"], ["y"], pads=[0, 1, 2, 1], strides=[2, 1])],
        {"x": x4}, ["y"], inits={"W": rand(4, 3, 3, 3), "B": rand(4)}), {"x": x4}))
    c.append(("conv_same_upper_stride2", model(
        [node("Conv", ["x", "W"], ["y"], auto_pad="SAME_UPPER",
              strides=[2, 2])], {"x": x4}, ["y"], inits={"W": rand(5, 3, 3, 3)}), {"x": x4}))
    c.append(("conv_dilated", model(
        [node("Conv", ["x", "W"], ["y"], dilations=[2, 2], pads=[2, 1, 2, 1])],
        {"x": x4}, ["y"], inits={"W": rand(5, 3, 3, 3)}), {"x": x4}))
    x6 = rand(1, 6, 8, 8)
    c.append(("conv_depthwise", model(
        [node("Conv", ["x", "W", "B"], ["y"], group=6, pads=[1, 1, 1, 1])],
        {"x": x6}, ["y"], inits={"W": rand(12, 1, 3, 3), "B": rand(12)}), {"x": x6}))
    c.append(("conv_groups", model(
        [node("Conv", ["x", "W"], ["y"], group=2, pads=[1, 0, 1, 0])],
        {"x": x6}, ["y"], inits={"W": rand(4, 3, 3, 3)}), {"x": x6}))
    c.append(("maxpool_ceil_pads", model(
        [node("MaxPool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 0, 0],
              ceil_mode=1)], {"x": x4}, ["y"]), {"x": x4}))
    c.append(("avgpool_exclude_pad", model(
        [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
              pads=[1, 1, 1, 1])], {"x": x4}, ["y"]), {"x": x4}))
    c.append(("avgpool_include_pad", model(
        [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 3], strides=[2, 2],
              pads=[1, 1, 1, 1], count_include_pad=1)], {"x": x4}, ["y"]), {"x": x4}))
    c.append(("global_avg_relu_residual", model(
        [node("Relu", ["x"], ["r"]), node("Add", ["r", "x"], ["s"]),
         node("GlobalAveragePool", ["s"], ["y"])], {"x": x4}, ["y"]), {"x": x4}))
    c.append(("batchnorm", model(
        [node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], epsilon=1e-3)],
        {"x": x4}, ["y"], inits={"s": rand(3), "b": rand(3), "m": rand(3),
                                 "v": rand(3, low=0.5, high=2)}), {"x": x4}))
    a, b = rand(3, 4), rand(5, 4)
    c.append(("gemm_trans_alpha_beta", model(
        [node("Gemm", ["a", "B", "C"], ["y"], transB=1, alpha=0.7, beta=-1.3)],
        {"a": a}, ["y"], inits={"B": b, "C": rand(5)}), {"a": a}))
    at = rand(4, 3)
    c.append(("gemm_transA", model(
        [node("Gemm", ["a", "B"], ["y"], transA=1)], {"a": at}, ["y"],
        inits={"B": rand(4, 6)}), {"a": at}))
    m3 = rand(2, 1, 3, 4)
    c.append(("matmul_broadcast", model(
        [node("MatMul", ["a", "B"], ["y"])], {"a": m3}, ["y"], inits={"B": rand(3, 4, 5)}),
        {"a": m3}))
    ia, ib = np.array([7, -7, 7, -7, 0], np.int64), np.array([2, 2, -2, -2, 3], np.int64)
    c.append(("int_div_trunc", model([node("Div", ["a", "b"], ["y"])], {"a": ia, "b": ib},
                                     ["y"]), {"a": ia, "b": ib}))
    c.append(("mod_floor", model([node("Mod", ["a", "b"], ["y"])], {"a": ia, "b": ib}, ["y"]),
              {"a": ia, "b": ib}))
    fa, fb = rand(6), np.array([1.5, -1.5, 2, -2, 0.7, -0.7], np.float32)
    c.append(("mod_fmod", model([node("Mod", ["a", "b"], ["y"], fmod=1)], {"a": fa, "b": fb},
                                ["y"]), {"a": fa, "b": fb}))
    emb = rand(10, 4)
    idx = np.array([[0, -1], [3, -10]], np.int64)
    c.append(("gather_negative_input", model(
        [node("Gather", ["E", "i"], ["y"])], {"i": idx}, ["y"], inits={"E": emb}), {"i": idx}))
    d = rand(2, 5, 3)
    c.append(("gather_negative_const_axis1", model(
        [node("Gather", ["d", "i"], ["y"], axis=1)], {"d": d}, ["y"],
        inits={"i": np.array([-1, 0, -2], np.int64)}), {"d": d}))
    s = rand(4, 10, 6)
    c.append(("slice_int64max_negstep", model(
        [node("Slice", ["x", "st", "en", "ax", "sp"], ["y"])], {"x": s}, ["y"],
        inits={"st": np.array([1, -1], np.int64), "en": np.array([INT64_MAX, -INT64_MAX], np.int64),
               "ax": np.array([1, 2], np.int64), "sp": np.array([3, -2], np.int64)}), {"x": s}))
    c.append(("clip_min_only", model(
        [node("Clip", ["x", "lo", ""], ["y"])], {"x": s}, ["y"],
        inits={"lo": np.array(-0.5, np.float32)}), {"x": s}))
    c.append(("clip_opset6_attrs", model(
        [node("Clip", ["x"], ["y"], min=-0.3, max=0.4)], {"x": s}, ["y"], opset=10), {"x": s}))
    cond = rand(4, 10, 6) > 0
    c.append(("where_broadcast", model(
        [node("Where", ["c", "x", "z"], ["y"])], {"c": cond, "x": s}, ["y"],
        inits={"z": np.array([0.25], np.float32)}), {"c": cond, "x": s}))
    e = rand(3, 1)
    c.append(("expand_bidirectional", model(
        [node("Expand", ["x", "sh"], ["y"])], {"x": e}, ["y"],
        inits={"sh": np.array([2, 1, 4], np.int64)}), {"x": e}))
    ln = rand(2, 5, 8)
    c.append(("layernorm", model(
        [node("LayerNormalization", ["x", "g", "b"], ["y"], epsilon=1e-5)], {"x": ln}, ["y"],
        inits={"g": rand(8), "b": rand(8)}), {"x": ln}))
    c.append(("softmax_axis1_opset11", model(
        [node("Softmax", ["x"], ["y"], axis=1)], {"x": ln}, ["y"], opset=11), {"x": ln}))
    c.append(("softmax_axis1_opset13", model(
        [node("Softmax", ["x"], ["y"], axis=1)], {"x": ln}, ["y"], opset=13), {"x": ln}))
    c.append(("reducemean_axes_input_opset18", model(
        [node("ReduceMean", ["x", "ax"], ["y"], keepdims=0)], {"x": ln}, ["y"], opset=18,
        inits={"ax": np.array([-1, 1], np.int64)}), {"x": ln}))
    c.append(("reshape_zero_minus1", model(
        [node("Reshape", ["x", "sh"], ["y"])], {"x": ln}, ["y"],
        inits={"sh": np.array([0, -1], np.int64)}, input_shapes={"x": ["N", 5, 8]}), {"x": ln}))
    c.append(("shape_gather_reshape_dynamic", model(
        [node("Shape", ["x"], ["s"]), node("Gather", ["s", "zero"], ["n"]),
         node("Unsqueeze", ["n", "ax0"], ["n1"]),
         node("Concat", ["n1", "m1"], ["t"], axis=0), node("Reshape", ["x", "t"], ["y"])],
        {"x": ln}, ["y"], inits={"zero": np.array(0, np.int64), "ax0": np.array([0], np.int64),
                                 "m1": np.array([-1], np.int64)},
        input_shapes={"x": ["N", "S", 8]}), {"x": ln}))
    c.append(("flatten_transpose_split_concat", model(
        [node("Transpose", ["x"], ["t"], perm=[0, 2, 1]),
         node("Split", ["t", "sp"], ["p", "q"], axis=1),
         node("Concat", ["q", "p"], ["cc"], axis=1), node("Flatten", ["cc"], ["y"], axis=1)],
        {"x": ln}, ["y"], inits={"sp": np.array([3, 5], np.int64)}), {"x": ln}))
    c.append(("squeeze_unsqueeze_axes_input", model(
        [node("Unsqueeze", ["x", "a"], ["u"]), node("Squeeze", ["u", "b"], ["y"])],
        {"x": ln}, ["y"], inits={"a": np.array([0, -1], np.int64),
                                 "b": np.array([0], np.int64)}), {"x": ln}))
    act = rand(3, 7, low=-4, high=4)
    for op, attrs in [("LeakyRelu", {"alpha": 0.2}), ("Elu", {"alpha": 0.5}), ("Selu", {}),
                      ("HardSigmoid", {}), ("HardSwish", {}), ("Erf", {}), ("Sigmoid", {}),
                      ("Tanh", {}), ("Softplus", {})]:
        c.append((f"act_{op.lower()}", model([node(op, ["x"], ["y"], **attrs)], {"x": act}, ["y"]),
                  {"x": act}))
    c.append(("gelu_opset20", model([node("Gelu", ["x"], ["y"])], {"x": act}, ["y"], opset=20),
              {"x": act}))
    c.append(("prelu", model([node("PRelu", ["x", "sl"], ["y"])], {"x": act}, ["y"],
                             inits={"sl": rand(7)}), {"x": act}))
    c.append(("pow_sqrt", model([node("Abs", ["x"], ["a"]), node("Sqrt", ["a"], ["r"]),
                                 node("Pow", ["r", "e"], ["y"])], {"x": act}, ["y"],
                                inits={"e": np.array(3.0, np.float32)}), {"x": act}))
    c.append(("isnan_and_or_not", model(
        [node("IsNaN", ["x"], ["n"]), node("Not", ["n"], ["nn"]),
         node("Greater", ["x", "z"], ["g"]), node("Less", ["x", "z"], ["l"]),
         node("And", ["nn", "g"], ["ag"]), node("Or", ["ag", "l"], ["y"]),
         node("Equal", ["x", "x"], ["eq"])], {"x": np.array([1, np.nan, -2, 0], np.float32)},
        ["y", "eq"], inits={"z": np.array(0.0, np.float32)}),
        {"x": np.array([1, np.nan, -2, 0], np.float32)}))
    h16 = rand(4, 8, dtype=np.float16)
    c.append(("float16_mlp", model(
        [node("MatMul", ["x", "W"], ["m"]), node("Add", ["m", "b"], ["a"]),
         node("Relu", ["a"], ["y"])], {"x": h16}, ["y"],
        inits={"W": rand(8, 3, dtype=np.float16), "b": rand(3, dtype=np.float16)}), {"x": h16}))
    c.append(("cast_dropout_identity", model(
        [node("Cast", ["x"], ["c"], to=TensorProto.INT32), node("Dropout", ["x"], ["d"]),
         node("Identity", ["d"], ["y"])], {"x": act}, ["c", "y"]), {"x": act}))
    r = rand(1, 2, 5, 7)
    for mode, coord, nearest in [("nearest", "asymmetric", "floor"),
                                 ("nearest", "half_pixel", "round_prefer_floor"),
                                 ("nearest", "align_corners", "round_prefer_ceil"),
                                 ("linear", "half_pixel", None),
                                 ("linear", "pytorch_half_pixel", None),
                                 ("linear", "align_corners", None),
                                 ("linear", "asymmetric", None)]:
        attrs = {"mode": mode, "coordinate_transformation_mode": coord}
        if nearest:
            attrs["nearest_mode"] = nearest
        c.append((f"resize_{mode}_{coord}", model(
            [node("Resize", ["x", "", "sc"], ["y"], **attrs)], {"x": r}, ["y"],
            inits={"sc": np.array([1, 1, 2.0, 1.5], np.float32)}), {"x": r}))
    c.append(("resize_sizes_linear_down", model(
        [node("Resize", ["x", "", "", "sz"], ["y"], mode="linear")], {"x": r}, ["y"],
        inits={"sz": np.array([1, 2, 3, 4], np.int64)}), {"x": r}))
    t = rand(3, 6, 4)
    c.append(("argmax_keepdims", model([node("ArgMax", ["x"], ["y"], axis=1)], {"x": t}, ["y"]),
              {"x": t}))
    c.append(("argmin_nokeep", model([node("ArgMin", ["x"], ["y"], axis=-1, keepdims=0)],
                                     {"x": t}, ["y"]), {"x": t}))
    c.append(("topk_axis1_smallest", model(
        [node("TopK", ["x", "k"], ["v", "i"], axis=1, largest=0)], {"x": t}, ["v", "i"],
        inits={"k": np.array([3], np.int64)}), {"x": t}))
    nz = (rand(4, 5) > 0.5).astype(np.float32)
    c.append(("nonzero", model([node("NonZero", ["x"], ["y"])], {"x": nz}, ["y"]), {"x": nz}))
    c.append(("cumsum_exclusive_reverse", model(
        [node("CumSum", ["x", "ax"], ["y"], exclusive=1, reverse=1)], {"x": t}, ["y"],
        inits={"ax": np.array(1, np.int64)}), {"x": t}))
    gi = np.array([[0, -1, 2, 5], [1, 1, -6, 0], [3, 2, 1, 0]], np.int64).reshape(3, 4, 1)
    gi = np.repeat(gi, 4, axis=2)
    c.append(("gather_elements_negative", model(
        [node("GatherElements", ["x", "i"], ["y"], axis=1)], {"x": t, "i": gi}, ["y"]),
        {"x": t, "i": gi}))
    c.append(("scatter_nd", model(
        [node("ScatterND", ["x", "i", "u"], ["y"])], {"x": t}, ["y"],
        inits={"i": np.array([[0, 1], [2, 5]], np.int64), "u": rand(2, 4)}), {"x": t}))
    for mode in ("constant", "reflect", "edge"):
        c.append((f"pad_{mode}", model(
            [node("Pad", ["x", "p", "v"], ["y"], mode=mode)], {"x": t}, ["y"],
            inits={"p": np.array([0, 2, 1, 1, 0, 2], np.int64),
                   "v": np.array(1.5, np.float32)}), {"x": t}))
    e1, e2 = rand(2, 3, 4), rand(2, 4, 5)
    c.append(("einsum_bmm", model([node("Einsum", ["a", "b"], ["y"], equation="bij,bjk->bik")],
                                  {"a": e1, "b": e2}, ["y"]), {"a": e1, "b": e2}))
    f16 = rand(1, 3, 8, 8, dtype=np.float16)
    c.append(("float16_conv_bn_pool", model(
        [node("Conv", ["x", "W"], ["c"], pads=[1, 1, 1, 1]),
         node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
         node("Relu", ["n"], ["r"]), node("AveragePool", ["r"], ["y"], kernel_shape=[2, 2],
                                          strides=[2, 2])],
        {"x": f16}, ["y"], inits={"W": rand(4, 3, 3, 3, dtype=np.float16),
                                 "s": rand(4, dtype=np.float16), "b": rand(4, dtype=np.float16),
                                 "m": rand(4, dtype=np.float16),
                                 "v": rand(4, dtype=np.float16, low=0.5, high=2)}),
        {"x": f16}))
    v1, v2, v3 = rand(2, 3), rand(3), rand(1, 3)
    for op in ("Sum", "Max", "Min"):
        c.append((f"variadic_{op.lower()}", model(
            [node(op, ["a", "b", "c"], ["y"])], {"a": v1, "b": v2, "c": v3}, ["y"]),
            {"a": v1, "b": v2, "c": v3}))
    ct = rand(2, 3, 5, 6)
    c.append(("conv_transpose_stride_pads_outpad", model(
        [node("ConvTranspose", ["x", "W", "B"], ["y"], strides=[2, 3], pads=[1, 0, 2, 1],
              output_padding=[1, 2])], {"x": ct}, ["y"],
        inits={"W": rand(3, 4, 3, 4), "B": rand(4)}), {"x": ct}))
    c.append(("conv_transpose_plain", model(
        [node("ConvTranspose", ["x", "W"], ["y"])], {"x": ct}, ["y"],
        inits={"W": rand(3, 2, 2, 2)}, input_shapes={"x": ["N", 3, 5, 6]}), {"x": ct}))
    seq_x = rand(5, 2, 3)
    h = 4
    for op, gates in (("LSTM", 4), ("GRU", 3)):
        for direction in ("forward", "reverse", "bidirectional"):
            dirs = 2 if direction == "bidirectional" else 1
            extra = {"linear_before_reset": 1} if op == "GRU" and direction != "reverse" else {}
            inits = {"W": rand(dirs, gates * h, 3), "R": rand(dirs, gates * h, h),
                     "B": rand(dirs, 2 * gates * h), "h0": rand(dirs, 2, h)}
            ins = ["x", "W", "R", "B", "", "h0"]
            outs = ["y", "yh"]
            if op == "LSTM":
                inits["c0"] = rand(dirs, 2, h)
                ins.append("c0")
                outs.append("yc")
            c.append((f"{op.lower()}_{direction}", model(
                [node(op, ins, outs, hidden_size=h, direction=direction, **extra)],
                {"x": seq_x}, outs, inits=inits, opset=14), {"x": seq_x}))
    c.append(("lstm_no_initial_state_dynamic_batch", model(
        [node("LSTM", ["x", "W", "R"], ["y"], hidden_size=h)], {"x": seq_x}, ["y"],
        inits={"W": rand(1, 4 * h, 3), "R": rand(1, 4 * h, h)},
        input_shapes={"x": [5, "batch", 3]}), {"x": seq_x}))
    seq_d = rand(6, 2, 3)
    for op, gates in (("LSTM", 4), ("GRU", 3)):
        for direction in ("forward", "reverse", "bidirectional"):
            dirs = 2 if direction == "bidirectional" else 1
            extra = {"linear_before_reset": 1} if op == "GRU" and direction == "forward" else {}
            inits = {"W": rand(dirs, gates * h, 3), "R": rand(dirs, gates * h, h),
                     "B": rand(dirs, 2 * gates * h)}
            outs = ["y", "yh"] + (["yc"] if op == "LSTM" else [])
            c.append((f"{op.lower()}_{direction}_dynamic_sequence", model(
                [node(op, ["x", "W", "R", "B"], outs, hidden_size=h, direction=direction,
                      **extra)], {"x": seq_d}, outs, inits=inits, opset=14,
                input_shapes={"x": ["S", "N", 3]}), {"x": seq_d}))
    x1 = rand(2, 3, 11)
    c.append(("conv1d_pads_stride_dilation", model(
        [node("Conv", ["x", "W", "B"], ["y"], pads=[1, 2], strides=[2], dilations=[2])],
        {"x": x1}, ["y"], inits={"W": rand(4, 3, 3), "B": rand(4)},
        input_shapes={"x": ["N", 3, 11]}), {"x": x1}))
    c.append(("conv1d_depthwise_relu_maxpool_ceil", model(
        [node("Conv", ["x", "W"], ["c"], group=3, pads=[1, 1]), node("Relu", ["c"], ["r"]),
         node("MaxPool", ["r"], ["y"], kernel_shape=[3], strides=[2], ceil_mode=1)],
        {"x": x1}, ["y"], inits={"W": rand(6, 1, 3)}), {"x": x1}))
    c.append(("avgpool1d_exclude_pad", model(
        [node("AveragePool", ["x"], ["y"], kernel_shape=[4], strides=[3], pads=[2, 1])],
        {"x": x1}, ["y"]), {"x": x1}))
    x3 = rand(1, 4, 5, 6, 7)
    c.append(("conv3d_pads_stride_dilation", model(
        [node("Conv", ["x", "W", "B"], ["y"], pads=[1, 0, 1, 0, 1, 1], strides=[1, 2, 1],
              dilations=[2, 1, 1])],
        {"x": x3}, ["y"], inits={"W": rand(3, 4, 2, 3, 2), "B": rand(3)}), {"x": x3}))
    c.append(("conv3d_grouped_bn_global_pool", model(
        [node("Conv", ["x", "W"], ["c"], group=2),
         node("BatchNormalization", ["c", "s", "b", "m", "v"], ["n"]),
         node("GlobalAveragePool", ["n"], ["y"])],
        {"x": x3}, ["y"], inits={"W": rand(4, 2, 1, 2, 2), "s": rand(4), "b": rand(4),
                                 "m": rand(4), "v": rand(4, low=0.5, high=2)}), {"x": x3}))
    c.append(("maxpool3d_pads", model(
        [node("MaxPool", ["x"], ["y"], kernel_shape=[2, 3, 3], strides=[2, 2, 2],
              pads=[0, 1, 1, 1, 1, 0])], {"x": x3}, ["y"]), {"x": x3}))
    for include in (0, 1):
        c.append((f"avgpool3d_pads_include{include}", model(
            [node("AveragePool", ["x"], ["y"], kernel_shape=[3, 2, 3], strides=[1, 2, 2],
                  pads=[1, 0, 1, 1, 1, 0], count_include_pad=include)], {"x": x3}, ["y"]),
            {"x": x3}))
    xt = rand(1, 4, 5, 5)
    c.append(("conv_transpose_grouped_dilated", model(
        [node("ConvTranspose", ["x", "W", "B"], ["y"], group=2, dilations=[2, 1],
              strides=[2, 2], pads=[1, 0, 0, 1])], {"x": xt}, ["y"],
        inits={"W": rand(4, 3, 3, 3), "B": rand(6)}), {"x": xt}))
    c.append(("conv_transpose_output_shape", model(
        [node("ConvTranspose", ["x", "W"], ["y"], strides=[2, 2], output_shape=[10, 9])],
        {"x": xt}, ["y"], inits={"W": rand(4, 2, 3, 3)}), {"x": xt}))
    c.append(("conv_transpose_same_lower", model(
        [node("ConvTranspose", ["x", "W"], ["y"], strides=[2, 3], auto_pad="SAME_LOWER")],
        {"x": xt}, ["y"], inits={"W": rand(4, 2, 3, 4)}), {"x": xt}))
    c.append(("conv_transpose_1d", model(
        [node("ConvTranspose", ["x", "W", "B"], ["y"], strides=[3], output_padding=[1],
              pads=[1, 2])], {"x": x1}, ["y"], inits={"W": rand(3, 2, 4), "B": rand(2)},
        input_shapes={"x": ["N", 3, 11]}), {"x": x1}))
    x3t = rand(1, 2, 3, 4, 3)
    c.append(("conv_transpose_3d", model(
        [node("ConvTranspose", ["x", "W"], ["y"], strides=[2, 1, 2], pads=[0, 1, 0, 1, 0, 1])],
        {"x": x3t}, ["y"], inits={"W": rand(2, 3, 2, 3, 2)}), {"x": x3t}))
    dyn = rand(2, 6, 4)
    c.append(("slice_runtime_bounds", model(
        [node("Shape", ["x"], ["s"]), node("Gather", ["s", "one"], ["n"]),
         node("Sub", ["n", "two"], ["e"]), node("Unsqueeze", ["e", "ax0"], ["end"]),
         node("Sub", ["n", "five"], ["b"]), node("Unsqueeze", ["b", "ax0"], ["start"]),
         node("Slice", ["x", "zero1", "end", "ax1"], ["y"]),
         node("Slice", ["x", "start", "end", "ax1"], ["z"]),
         node("Slice", ["x", "end", "start", "ax1", "m1"], ["w"])],
        {"x": dyn}, ["y", "z", "w"],
        inits={"one": np.array(1, np.int64), "two": np.array(2, np.int64),
               "five": np.array(5, np.int64), "ax0": np.array([0], np.int64),
               "zero1": np.array([0], np.int64), "ax1": np.array([1], np.int64),
               "m1": np.array([-1], np.int64)},
        input_shapes={"x": ["N", "S", 4]}), {"x": dyn}))
    c.append(("slice_int64min_start_of_shape", model(
        [node("Shape", ["x"], ["s"]), node("Slice", ["s", "lo", "hi"], ["h"]),
         node("Slice", ["s", "mi", "mx"], ["t"]), node("Concat", ["h", "t"], ["y"], axis=0)],
        {"x": dyn}, ["y"],
        inits={"lo": np.array([-2**63], np.int64), "hi": np.array([-1], np.int64),
               "mi": np.array([-1], np.int64), "mx": np.array([INT64_MAX], np.int64)},
        input_shapes={"x": ["N", "S", 4]}), {"x": dyn}))
    g = rand(2, 3, 4)
    gi0 = np.array([[[0, -1], [1, 2]], [[-2, 0], [1, -3]]], np.int64)
    c.append(("gather_nd_negative", model(
        [node("GatherND", ["x", "i"], ["y"])], {"x": g, "i": gi0}, ["y"]), {"x": g, "i": gi0}))
    gi1 = np.array([[[2], [-1]], [[0], [1]]], np.int64)
    c.append(("gather_nd_batch_dims1", model(
        [node("GatherND", ["x", "i"], ["y"], batch_dims=1)], {"x": g, "i": gi1}, ["y"]),
        {"x": g, "i": gi1}))
    c.append(("concat_single_input", model(
        [node("Concat", ["x"], ["y"], axis=1)], {"x": g}, ["y"]), {"x": g}))
    return c


CASES = _cases()


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Result]:
    return run_cases(CASES, tmp_path_factory.mktemp("ops_core"))


@pytest.mark.interop
@pytest.mark.parametrize("name", [name for name, _, _ in CASES])
def test_op_matches_onnxruntime(results: dict[str, Result], name: str) -> None:
    assert_matches(results[name])
