"""Generate the ONNX test corpus (issue 10): seeded, deterministic, run in the onnx venv.

    python generate.py OUT_DIR [--large] [--only NAME[,NAME...]]

Each case is a directory ``OUT_DIR/<case>/`` holding

* ``model.onnx`` (plus ``model.onnx.data`` for dynamo exports, which always write
  their weights as external data),
* ``inputs_<i>.npz`` / ``expected_<i>.npz`` for i = 0, 1: random inputs and
  onnxruntime's outputs for them (CPU execution provider, default graph
  optimisations).  Dynamic models get a second batch size (and sequence length)
  in set 1,
* ``manifest.json``: exporter, opset, source framework, dynamic axes, the graph's
  inputs/outputs, the op census (op type -> count, subgraphs included), notes.

``OUT_DIR/manifest.json`` lists the cases and the union of the op census.

Models are written here from their published layouts (no torchvision, no
pretrained weights): random init, then biases, norm scales and running
statistics set to non-trivial values so a converter that drops them is caught.
Widths and image sizes are small by default; ``--large`` writes benchmark-size
ResNet-50 (224x224, full widths) and a BERT-base-size encoder instead.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import numpy as np

warnings.filterwarnings("ignore")
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SEED = 20261204
torch.set_num_threads(min(2, os.cpu_count() or 1))


# ----------------------------------------------------------------------------- init


def nontrivial(model: nn.Module, seed: int) -> nn.Module:
    """Give every bias, norm scale/shift and running statistic a non-trivial value."""
    gen = torch.Generator().manual_seed(seed)

    def normal(t: torch.Tensor, scale: float) -> torch.Tensor:
        return torch.randn(t.shape, generator=gen) * scale

    def uniform(t: torch.Tensor, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(t.shape, generator=gen)

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
                module.weight.copy_(uniform(module.weight, 0.6, 1.4))
                module.bias.copy_(normal(module.bias, 0.1))
                module.running_mean.copy_(normal(module.running_mean, 0.1))
                module.running_var.copy_(uniform(module.running_var, 0.6, 1.4))
            elif isinstance(module, nn.LayerNorm):
                module.weight.copy_(uniform(module.weight, 0.6, 1.4))
                module.bias.copy_(normal(module.bias, 0.1))
            elif isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
                module.bias.copy_(normal(module.bias, 0.1))
            elif isinstance(module, (nn.LSTM, nn.GRU)):
                for name, param in module.named_parameters():
                    if name.startswith("bias"):
                        param.copy_(normal(param, 0.1))
    return model.eval()


# ----------------------------------------------------------------------------- models


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1,
                 act: type[nn.Module] | None = nn.ReLU) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout)]
        if act is not None:
            layers.append(act())
        super().__init__(*layers)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        self.conv1 = ConvBN(cin, width, 3, stride)
        self.conv2 = ConvBN(width, width, 3, 1, act=None)
        self.down = (ConvBN(cin, width, 1, stride, act=None)
                     if stride != 1 or cin != width else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv2(self.conv1(x)) + self.down(x))


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.conv1 = ConvBN(cin, width, 1)
        self.conv2 = ConvBN(width, width, 3, stride)
        self.conv3 = ConvBN(width, cout, 1, act=None)
        self.down = (ConvBN(cin, cout, 1, stride, act=None)
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv3(self.conv2(self.conv1(x))) + self.down(x))


class ResNet(nn.Module):
    """torchvision's ResNet layout: 7x7/2 stem, 3x3/2 max pool, four stages, avg pool, fc."""

    def __init__(self, block: type[BasicBlock] | type[Bottleneck], layers: list[int],
                 base: int, classes: int) -> None:
        super().__init__()
        self.stem = ConvBN(3, base, 7, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        stages: list[nn.Module] = []
        cin = base
        for i, count in enumerate(layers):
            width = base * 2 ** i
            blocks: list[nn.Module] = []
            for j in range(count):
                blocks.append(block(cin, width, 2 if (j == 0 and i > 0) else 1))
                cin = width * block.expansion
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(cin, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.pool(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def _div8(v: float) -> int:
    return max(8, int(v + 4) // 8 * 8)


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBN(cin, hidden, 1, act=nn.ReLU6))
        layers += [ConvBN(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
                   ConvBN(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV2(nn.Module):
    """MobileNetV2's (t, c, n, s) table with a width multiplier; ReLU6, depthwise convs."""

    def __init__(self, width: float, classes: int) -> None:
        super().__init__()
        table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                 (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
        cin = _div8(32 * width)
        layers: list[nn.Module] = [ConvBN(3, cin, 3, 2, act=nn.ReLU6)]
        for t, c, n, s in table:
            cout = _div8(c * width)
            for i in range(n):
                layers.append(InvertedResidual(cin, cout, s if i == 0 else 1, t))
                cin = cout
        last = _div8(1280 * max(1.0, width)) if width > 1 else _div8(1280 * width)
        layers.append(ConvBN(cin, last, 1, act=nn.ReLU6))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.adaptive_avg_pool2d(self.features(x), 1).flatten(1)
        return self.classifier(x)


class SqueezeExcite(nn.Module):
    def __init__(self, channels: int, squeeze: int) -> None:
        super().__init__()
        self.reduce = nn.Conv2d(channels, squeeze, 1)
        self.expand = nn.Conv2d(squeeze, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = F.adaptive_avg_pool2d(x, 1)
        return x * torch.sigmoid(self.expand(F.silu(self.reduce(s))))


class MBConv(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride: int, expand: int) -> None:
        super().__init__()
        hidden = cin * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBN(cin, hidden, 1, act=nn.SiLU))
        layers += [ConvBN(hidden, hidden, k, stride, groups=hidden, act=nn.SiLU),
                   SqueezeExcite(hidden, max(1, cin // 4)),
                   ConvBN(hidden, cout, 1, act=None)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.body(x)
        return x + y if self.residual else y


class EfficientNetB0(nn.Module):
    """EfficientNet-B0's stage table (expand, k, stride, channels, repeats) with a width factor."""

    def __init__(self, width: float, classes: int) -> None:
        super().__init__()
        table = [(1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
                 (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1)]
        cin = _div8(32 * width)
        layers: list[nn.Module] = [ConvBN(3, cin, 3, 2, act=nn.SiLU)]
        for e, k, s, c, n in table:
            cout = _div8(c * width)
            for i in range(n):
                layers.append(MBConv(cin, cout, k, s if i == 0 else 1, e))
                cin = cout
        last = _div8(1280 * width)
        layers.append(ConvBN(cin, last, 1, act=nn.SiLU))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(last, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(F.adaptive_avg_pool2d(self.features(x), 1).flatten(1))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q @ k.transpose(-2, -1)) * (c // self.heads) ** -0.5
        x = (attn.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        return self.proj(x)


class ViTBlock(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, dim * 4), nn.GELU(), nn.Linear(dim * 4, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class ViT(nn.Module):
    """ViT: conv patch embedding, class token, learned position embedding, pre-norm blocks."""

    def __init__(self, image: int, patch: int, dim: int, depth: int, heads: int,
                 classes: int) -> None:
        super().__init__()
        self.patch = nn.Conv2d(3, dim, patch, patch)
        self.cls = nn.Parameter(torch.randn(1, 1, dim) * 0.02)
        self.pos = nn.Parameter(torch.randn(1, (image // patch) ** 2 + 1, dim) * 0.02)
        self.blocks = nn.Sequential(*[ViTBlock(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.cls.expand(x.shape[0], -1, -1), x], dim=1) + self.pos
        x = self.norm(self.blocks(x))
        return self.head(x[:, 0])


class C2f(nn.Module):
    """YOLOv8's C2f: 1x1 conv, Split in two, a chain of bottlenecks, Concat of all, 1x1 conv."""

    def __init__(self, cin: int, cout: int, n: int) -> None:
        super().__init__()
        self.c = cout // 2
        self.cv1 = ConvBN(cin, 2 * self.c, 1, act=nn.SiLU)
        self.m = nn.ModuleList(
            nn.Sequential(ConvBN(self.c, self.c, 3, act=nn.SiLU),
                          ConvBN(self.c, self.c, 3, act=nn.SiLU)) for _ in range(n))
        self.cv2 = ConvBN((2 + n) * self.c, cout, 1, act=nn.SiLU)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys = list(self.cv1(x).split((self.c, self.c), 1))
        for m in self.m:
            ys.append(ys[-1] + m(ys[-1]))
        return self.cv2(torch.cat(ys, 1))


class Yolo(nn.Module):
    """A YOLOv8-style detector: SiLU conv backbone with C2f, SPPF, FPN with nearest
    upsampling (Resize), a decoupled head flattened to (batch, boxes, 4 + classes)."""

    def __init__(self, w: int, classes: int) -> None:
        super().__init__()
        self.classes = classes
        self.b1 = nn.Sequential(ConvBN(3, w, 3, 2, act=nn.SiLU),
                                ConvBN(w, 2 * w, 3, 2, act=nn.SiLU), C2f(2 * w, 2 * w, 1),
                                ConvBN(2 * w, 4 * w, 3, 2, act=nn.SiLU), C2f(4 * w, 4 * w, 2))
        self.b2 = nn.Sequential(ConvBN(4 * w, 8 * w, 3, 2, act=nn.SiLU), C2f(8 * w, 8 * w, 1))
        self.sppf_cv1 = ConvBN(8 * w, 4 * w, 1, act=nn.SiLU)
        self.sppf_pool = nn.MaxPool2d(5, 1, 2)
        self.sppf_cv2 = ConvBN(16 * w, 8 * w, 1, act=nn.SiLU)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.neck = C2f(12 * w, 4 * w, 1)
        self.heads = nn.ModuleList(
            nn.Sequential(ConvBN(c, c, 3, act=nn.SiLU), nn.Conv2d(c, 4 + classes, 1))
            for c in (4 * w, 8 * w))

    def set_priors(self) -> None:
        """YOLO-style constant head bias priors (boxes 1.0, classes -4.0), the same at
        both scales: identical initializers the TorchScript exporter shares via Identity."""
        with torch.no_grad():
            for head in self.heads:
                bias = head[1].bias
                bias[:4] = 1.0
                bias[4:] = -4.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        p3 = self.b1(x)
        p4 = self.b2(p3)
        y = self.sppf_cv1(p4)
        y1 = self.sppf_pool(y)
        y2 = self.sppf_pool(y1)
        p4 = self.sppf_cv2(torch.cat([y, y1, y2, self.sppf_pool(y2)], 1))
        p3 = self.neck(torch.cat([self.up(p4), p3], 1))
        outs = []
        for head, feat in zip(self.heads, (p3, p4)):
            o = head(feat)
            outs.append(o.reshape(o.shape[0], 4 + self.classes, -1))
        out = torch.cat(outs, 2).transpose(1, 2)
        boxes, scores = out[..., :4], out[..., 4:]
        return torch.cat([boxes, scores.sigmoid()], 2)


class StackedLSTM(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.lstm = nn.LSTM(features, hidden, num_layers=2, batch_first=True)
        self.out = nn.Linear(hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.lstm(x)
        return self.out(y)


class BiGRU(nn.Module):
    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.gru = nn.GRU(features, hidden, batch_first=True, bidirectional=True)
        self.out = nn.Linear(2 * hidden, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.gru(x)
        return self.out(y)


class MLP(nn.Module):
    def __init__(self, sizes: list[int]) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = F.gelu(x)
        return x


class SmallBNNet(nn.Module):
    """Conv + BatchNorm + ReLU twice, then a linear head: for TrainingMode.PRESERVE."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(ConvBN(3, 8, 3), ConvBN(8, 16, 3, 2))
        self.bn1d = nn.BatchNorm1d(16)
        self.fc = nn.Linear(16, 5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn1d(F.adaptive_avg_pool2d(self.body(x), 1).flatten(1)))


SCRIPTED_SOURCE = '''
import torch
from torch import nn


class ScriptedRecurrence(nn.Module):
    """Data-dependent control flow for torch.jit.script: a loop over the (dynamic) sequence
    axis (ONNX Loop with a carried state) and a branch on the sequence length (ONNX If)."""

    def __init__(self, features: int, hidden: int) -> None:
        super().__init__()
        self.inp = nn.Linear(features, hidden)
        self.rec = nn.Linear(hidden, hidden)
        self.long_head = nn.Linear(hidden, 3)
        self.short_head = nn.Linear(hidden, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.zeros(x.size(1), self.rec.out_features)
        for t in range(x.size(0)):
            h = torch.tanh(self.inp(x[t]) + self.rec(h))
        if x.size(0) > 4:
            out = self.long_head(h)
        else:
            out = -self.short_head(h) * 2.0
        return out
'''
"""torch.jit.script reads a module's source with ``inspect``; the generator runs as a script
fed to the interpreter, so this class lives in a string written to a file and imported."""


def scripted_module_class(work: Path) -> type[nn.Module]:
    import importlib.util
    path = work / "scripted_recurrence.py"
    path.write_text(SCRIPTED_SOURCE)
    spec = importlib.util.spec_from_file_location("scripted_recurrence", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    cls: type[nn.Module] = module.ScriptedRecurrence
    return cls


class BertWrapper(nn.Module):
    """transformers' BertModel returning (last_hidden_state, pooler_output) as a tuple.

    ``attn`` is transformers' attention implementation: "sdpa" (its default; the mask
    comes out as IsNaN/And/Range/GatherElements/Expand/Where chains) or "eager".
    """

    def __init__(self, attn: str, **config: Any) -> None:
        super().__init__()
        from transformers import BertConfig, BertModel
        cfg = BertConfig(attn_implementation=attn, **config)
        self.bert = BertModel(cfg)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.bert(input_ids=input_ids, attention_mask=attention_mask)
        return out.last_hidden_state, out.pooler_output


# ----------------------------------------------------------------------------- specs


class Spec:
    """One source model: how to build it, its inputs, and which dims are dynamic."""

    def __init__(self, name: str, build: Callable[[], nn.Module],
                 inputs: dict[str, tuple[list[int], str]],
                 outputs: list[str], dynamic: dict[str, dict[int, str]],
                 second: dict[str, int], notes: str) -> None:
        self.name = name
        self.build = build
        self.inputs = inputs          # name -> (shape with symbols resolved for set 0, dtype)
        self.outputs = outputs
        self.dynamic = dynamic        # input name -> {axis: symbol}
        self.second = second          # symbol -> size in input set 1
        self.notes = notes


def specs(large: bool) -> list[Spec]:
    img = 224 if large else 64
    bert = (dict(vocab_size=30522, hidden_size=768, num_hidden_layers=12,
                 num_attention_heads=12, intermediate_size=3072)
            if large else dict(vocab_size=120, hidden_size=32, num_hidden_layers=2,
                               num_attention_heads=4, intermediate_size=64,
                               max_position_embeddings=64))
    vocab = int(bert["vocab_size"])
    batch_dyn = {"images": {0: "batch"}}
    text = {"input_ids": {0: "batch", 1: "sequence"},
            "attention_mask": {0: "batch", 1: "sequence"}}
    seq_dyn = {"x": {0: "batch", 1: "sequence"}}
    text_inputs: dict[str, tuple[list[int], str]] = {
        "input_ids": ([2, 16], f"int64:{vocab}"), "attention_mask": ([2, 16], "mask")}
    out = [
        Spec("resnet50", lambda: ResNet(Bottleneck, [3, 4, 6, 3], 64 if large else 8,
                                        1000 if large else 10),
             {"images": ([2, 3, img, img], "float32")}, ["logits"], batch_dyn, {"batch": 3},
             "ResNet-50 layout (bottleneck blocks 3-4-6-3)"
             + ("" if large else ", base width 8 instead of 64, 64x64 input")),
        Spec("bert", lambda: BertWrapper("sdpa", **bert), text_inputs,
             ["last_hidden_state", "pooler_output"], text, {"batch": 3, "sequence": 11},
             "transformers BertModel, default (sdpa) attention"
             + (", BERT-base size" if large else ", hidden 32, 2 layers, 4 heads")),
    ]
    if large:
        return out
    out += [
        Spec("bert_eager", lambda: BertWrapper("eager", **bert), text_inputs,
             ["last_hidden_state", "pooler_output"], text, {"batch": 3, "sequence": 11},
             "transformers BertModel, eager attention, hidden 32, 2 layers, 4 heads"),
        Spec("resnet18", lambda: ResNet(BasicBlock, [2, 2, 2, 2], 8, 10),
             {"images": ([2, 3, img, img], "float32")}, ["logits"], batch_dyn, {"batch": 3},
             "ResNet-18 layout (basic blocks 2-2-2-2), base width 8, 64x64 input"),
        Spec("mobilenetv2", lambda: MobileNetV2(0.25, 10),
             {"images": ([1, 3, img, img], "float32")}, ["logits"], {}, {},
             "MobileNetV2 table, width 0.25, 64x64 input, ReLU6 (Clip), depthwise convs"),
        Spec("efficientnet_b0", lambda: EfficientNetB0(0.25, 10),
             {"images": ([1, 3, img, img], "float32")}, ["logits"], {}, {},
             "EfficientNet-B0 stage table, width 0.25, SiLU, squeeze-excite, depthwise 3x3/5x5"),
        Spec("vit", lambda: ViT(32, 8, 32, 2, 4, 10),
             {"images": ([2, 3, 32, 32], "float32")}, ["logits"], batch_dyn, {"batch": 3},
             "ViT: 8x8 patches of 32x32, dim 32, 2 pre-norm blocks, 4 heads, GELU"),
        Spec("yolo", lambda: Yolo(8, 3),
             {"images": ([1, 3, img, img], "float32")}, ["detections"], {}, {},
             "YOLOv8-style: C2f (Split/Concat), SPPF, nearest Resize, "
             "head Reshape/Transpose/Slice"),
        Spec("lstm", lambda: StackedLSTM(6, 12),
             {"x": ([2, 7, 6], "float32")}, ["y"], seq_dyn, {"batch": 3, "sequence": 5},
             "nn.LSTM with 2 stacked layers, batch_first"),
        Spec("gru", lambda: BiGRU(6, 10),
             {"x": ([2, 7, 6], "float32")}, ["y"], seq_dyn, {"batch": 3, "sequence": 5},
             "bidirectional nn.GRU, batch_first"),
        Spec("mlp_fp16", lambda: MLP([16, 32, 32, 8]).half(),
             {"x": ([4, 16], "float16")}, ["y"], {"x": {0: "batch"}}, {"batch": 5},
             "MLP with float16 weights, inputs and outputs"),
    ]
    return out


# ----------------------------------------------------------------------------- export


def make_inputs(spec: Spec, which: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    feeds: dict[str, np.ndarray] = {}
    for name, (shape, kind) in spec.inputs.items():
        shape = list(shape)
        if which == 1:
            for axis, symbol in spec.dynamic.get(name, {}).items():
                shape[axis] = spec.second[symbol]
        if kind.startswith("int64:"):
            feeds[name] = rng.integers(0, int(kind.split(":")[1]), shape, dtype=np.int64)
        elif kind == "mask":
            mask = np.ones(shape, np.int64)
            for row in range(shape[0]):   # right padding of varying length
                pad = int(rng.integers(0, shape[1] // 2))
                if pad:
                    mask[row, shape[1] - pad:] = 0
            feeds[name] = mask
        else:
            feeds[name] = rng.standard_normal(shape).astype(kind)
    return feeds


def census(model: onnx.ModelProto) -> dict[str, int]:
    """Op type -> count over the graph and all its subgraphs (non-default domains prefixed)."""
    counts: Counter[str] = Counter()

    def walk(graph: onnx.GraphProto) -> None:
        for node in graph.node:
            key = (node.op_type if node.domain in ("", "ai.onnx")
                   else f"{node.domain}::{node.op_type}")
            counts[key] += 1
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                for g in attr.graphs:
                    walk(g)

    walk(model.graph)
    return dict(sorted(counts.items()))


def value_info(values: Any) -> list[dict[str, Any]]:
    out = []
    for v in values:
        t = v.type.tensor_type
        dims: list[int | str | None] = []
        for d in t.shape.dim:
            dims.append(d.dim_value if d.HasField("dim_value")
                        else (d.dim_param if d.HasField("dim_param") else None))
        out.append({"name": v.name, "dtype": onnx.helper.tensor_dtype_to_np_dtype(
            t.elem_type).name, "shape": dims})
    return out


def torch_export(spec: Spec, module: nn.Module, path: Path, exporter: str,
                 opset: int | None, training: Any = None) -> None:
    rng = np.random.default_rng(0)
    example = tuple(torch.from_numpy(a) for a in make_inputs(spec, 0, rng).values())
    names = list(spec.inputs)
    if exporter == "torchscript":
        kwargs: dict[str, Any] = {}
        if training is not None:
            kwargs["training"] = training
        dyn: dict[str, dict[int, str]] = dict(spec.dynamic)
        if spec.dynamic:
            for out_name in spec.outputs:
                # outputs share the inputs' leading dynamic dims
                axes = {0: "batch"}
                if "sequence" in spec.second and out_name != "pooler_output":
                    axes[1] = "sequence"
                dyn[out_name] = axes
        torch.onnx.export(module, example, str(path), input_names=names,
                          output_names=spec.outputs, opset_version=opset,
                          dynamic_axes=dyn or None, dynamo=False, **kwargs)
    else:
        shapes = None
        if spec.dynamic:
            dims = {s: torch.export.Dim(s, min=1, max=4096) for s in
                    {sym for axes in spec.dynamic.values() for sym in axes.values()}}
            shapes = tuple({a: dims[s] for a, s in spec.dynamic.get(n, {}).items()} or None
                           for n in names)
        program = torch.onnx.export(module, example, input_names=names,
                                    output_names=spec.outputs, dynamic_shapes=shapes,
                                    dynamo=True, optimize=True, verbose=False)
        assert program is not None
        program.save(str(path), external_data=True)


def ort_outputs(path: Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def write_case(out: Path, case: str, spec: Spec, meta: dict[str, Any], seed: int) -> dict[str, Any]:
    cdir = out / case
    model = onnx.load(str(cdir / "model.onnx"), load_external_data=False)
    rng = np.random.default_rng(seed)
    for i in range(2):
        feeds = make_inputs(spec, i, rng)
        np.savez(cdir / f"inputs_{i}.npz", **feeds)
        np.savez(cdir / f"expected_{i}.npz", **ort_outputs(cdir / "model.onnx", feeds))
    opset = next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))
    files = sorted(p.name for p in cdir.iterdir())
    meta = {"name": case, "source": spec.name, "opset": opset, "ops": census(model),
            "inputs": value_info(model.graph.input), "outputs": value_info(model.graph.output),
            "dynamic_axes": {k: {str(a): s for a, s in v.items()} for k, v in spec.dynamic.items()},
            "second_set": spec.second, "input_sets": 2,
            "external_data": any(f.endswith(".data") for f in files),
            "files": files, **meta}
    (cdir / "manifest.json").write_text(json.dumps(meta, indent=1, sort_keys=True))
    return meta


def torch_cases(spec: Spec, out: Path, large: bool = False) -> list[dict[str, Any]]:
    torch.manual_seed(SEED)
    module = nontrivial(spec.build(), SEED + 1)
    if isinstance(module, Yolo):
        module.set_priors()
    variants: list[tuple[str, str, int | None]] = [
        ("ts13", "torchscript", 13), ("ts17", "torchscript", 17), ("dynamo", "dynamo", None)]
    if spec.name in ("resnet18", "bert"):
        variants[1:1] = [("ts14", "torchscript", 14), ("ts15", "torchscript", 15),
                         ("ts16", "torchscript", 16)]
    if spec.name == "bert":   # aten::scaled_dot_product_attention needs opset 14: ts13 is eager
        variants = variants[1:]
    if large:   # benchmark models: one export per exporter
        variants = [("ts17", "torchscript", 17), ("dynamo", "dynamo", None)]
    metas = []
    for suffix, exporter, opset in variants:
        case = f"{spec.name}_{suffix}"
        cdir = out / case
        cdir.mkdir(parents=True)
        start = time.perf_counter()
        with torch.no_grad():
            torch_export(spec, module, cdir / "model.onnx", exporter, opset)
        metas.append(write_case(out, case, spec, {
            "exporter": f"torch.onnx.export(dynamo={exporter == 'dynamo'})",
            "framework": f"torch {torch.__version__}", "notes": spec.notes,
            "export_seconds": round(time.perf_counter() - start, 2)}, SEED + len(metas)))
    return metas


def bn_preserve_case(out: Path) -> dict[str, Any]:
    spec = Spec("bn_preserve", SmallBNNet, {"images": ([2, 3, 16, 16], "float32")},
                ["logits"], {}, {}, "torch.onnx.TrainingMode.PRESERVE on an eval-mode model: "
                "BatchNormalization nodes kept, not folded into Conv")
    torch.manual_seed(SEED)
    module = nontrivial(spec.build(), SEED + 2)
    case = "bn_preserve_ts17"
    (out / case).mkdir(parents=True)
    with torch.no_grad():
        torch_export(spec, module, out / case / "model.onnx", "torchscript", 17,
                     training=torch.onnx.TrainingMode.PRESERVE)
    return write_case(out, case, spec, {
        "exporter": "torch.onnx.export(dynamo=False, training=PRESERVE)",
        "framework": f"torch {torch.__version__}", "notes": spec.notes}, SEED + 3)


def control_flow_case(out: Path) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp())
    scripted = scripted_module_class(work)
    spec = Spec("control_flow", lambda: scripted(4, 6),
                {"x": ([5, 3, 4], "float32")}, ["y"], {"x": {0: "sequence", 1: "batch"}},
                {"sequence": 3, "batch": 2},
                "torch.jit.script module: a Python loop over the dynamic sequence axis "
                "(Loop) and a branch on its length (If; set 0 takes one side, set 1 the other)")
    torch.manual_seed(SEED)
    module = torch.jit.script(nontrivial(spec.build(), SEED + 5))
    shutil.rmtree(work, ignore_errors=True)
    case = "control_flow_ts17"
    (out / case).mkdir(parents=True)
    rng = np.random.default_rng(0)
    example = tuple(torch.from_numpy(a) for a in make_inputs(spec, 0, rng).values())
    with torch.no_grad():
        torch.onnx.export(module, example, str(out / case / "model.onnx"), input_names=["x"],
                          output_names=["y"], opset_version=17, dynamo=False,
                          dynamic_axes={"x": {0: "sequence", 1: "batch"}, "y": {0: "batch"}})
    return write_case(out, case, spec, {
        "exporter": "torch.onnx.export(dynamo=False) of a torch.jit.script module",
        "framework": f"torch {torch.__version__}", "notes": spec.notes}, SEED + 6)


def flax_case(out: Path) -> dict[str, Any]:
    import jax
    import jax2onnx
    from flax import nnx

    class FlaxMLP(nnx.Module):
        def __init__(self, rngs: nnx.Rngs) -> None:
            self.dense1 = nnx.Linear(12, 24, rngs=rngs)
            self.norm = nnx.LayerNorm(24, rngs=rngs)
            self.dense2 = nnx.Linear(24, 5, rngs=rngs)

        def __call__(self, x: jax.Array) -> jax.Array:
            return self.dense2(nnx.gelu(self.norm(self.dense1(x))))

    model = FlaxMLP(nnx.Rngs(SEED % 2**31))
    rng = np.random.default_rng(SEED)
    for layer in (model.dense1, model.dense2):
        layer.bias.value = jax.numpy.asarray(rng.normal(0, 0.1, layer.bias.value.shape),
                                             dtype="float32")
    model.norm.scale.value = jax.numpy.asarray(rng.uniform(0.6, 1.4, (24,)), dtype="float32")
    model.norm.bias.value = jax.numpy.asarray(rng.normal(0, 0.1, (24,)), dtype="float32")
    spec = Spec("flax_mlp", lambda: nn.Identity(), {"x": ([3, 12], "float32")}, ["y"],
                {"x": {0: "B"}}, {"B": 6}, "flax.nnx Linear-LayerNorm-GELU-Linear via jax2onnx")
    case = "flax_mlp_jax2onnx"
    (out / case).mkdir(parents=True)
    proto = jax2onnx.to_onnx(model, [("B", 12)], model_name="flax_mlp", opset=17,
                             input_names=["x"], output_names=["y"])
    onnx.save(proto, str(out / case / "model.onnx"))
    expected = np.asarray(model(jax.numpy.asarray(
        make_inputs(spec, 0, np.random.default_rng(SEED + 4))["x"])))
    meta = write_case(out, case, spec, {
        "exporter": f"jax2onnx {jax2onnx.__version__ if hasattr(jax2onnx, '__version__') else ''}",
        "framework": f"jax {jax.__version__}", "notes": spec.notes}, SEED + 4)
    got = np.load(out / case / "expected_0.npz")["y"]
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    return meta


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--only", default="")
    args = parser.parse_args()
    only = set(filter(None, args.only.split(",")))
    out: Path = args.out
    tmp = out.with_name(out.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    start = time.perf_counter()
    metas: list[dict[str, Any]] = []
    for spec in specs(args.large):
        if not only or spec.name in only:
            t0 = time.perf_counter()
            metas += torch_cases(spec, tmp, args.large)
            print(f"[corpus] {spec.name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr,
                  flush=True)
    if not args.large:
        if not only or "bn_preserve" in only:
            metas.append(bn_preserve_case(tmp))
        if not only or "flax_mlp" in only:
            metas.append(flax_case(tmp))
        if not only or "control_flow" in only:
            metas.append(control_flow_case(tmp))
    total: Counter[str] = Counter()
    for meta in metas:
        total.update(meta["ops"])
    (tmp / "manifest.json").write_text(json.dumps({
        "seed": SEED, "large": args.large, "cases": [m["name"] for m in metas],
        "ops": dict(sorted(total.items())),
        "versions": {"torch": torch.__version__, "onnx": onnx.__version__,
                     "onnxruntime": ort.__version__},
        "seconds": round(time.perf_counter() - start, 1)}, indent=1, sort_keys=True))
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    print(json.dumps({"cases": len(metas), "seconds": round(time.perf_counter() - start, 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
