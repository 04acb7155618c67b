"""The ONNX benchmark models, exported by torch (run in the ONNX venv, not imported).

Usage: ``python onnx_models.py OUT_DIR [--small]`` writes, for each model and exporter,
``OUT_DIR/<model>_<exporter>/model.onnx`` (the dynamo exporter also writes
``model.onnx.data``) and ``OUT_DIR/manifest.json``:

* ``resnet50``: torchvision's ResNet-50 layout (7x7/2 stem, 3x3/2 max pool, bottleneck
  stages 3-4-6-3 with the stride on the 3x3 conv, 1000 classes), 25.6 M parameters
  (~102 MB float32); input ``images`` float32 [batch, 3, 224, 224], dynamic batch.  Both
  exporters fold eval-mode BatchNorm into the convolutions.
* ``bert_base``: a BERT-base-size post-norm encoder written here (30522-token vocabulary,
  512 positions, 2 token types, hidden 768, 12 layers of 12-head attention, GELU MLP of
  3072, a tanh pooler), 109.5 M parameters (~438 MB); inputs ``input_ids`` and
  ``attention_mask`` int64 [batch, sequence], both dims dynamic.

Exporters: ``dynamo`` (torch 2.13's default: opset 20, weights in ``model.onnx.data``) and
``ts17`` (the TorchScript exporter, opset 17, weights inline in the protobuf).

``--small`` writes the same graphs at toy widths (ResNet base width 8 on 64x64 images,
BERT hidden 32 with 2 layers and a 100-token vocabulary) for the bench's own test.

The models are seeded; BatchNorm statistics, biases and norm scales get non-trivial values.
The generated files are cached by scripts/benchlib/onnx_bench.py (keyed by this file's hash).
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

warnings.filterwarnings("ignore")

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402
import torch.nn.functional as F  # noqa: E402

SEED = 1204
torch.set_num_threads(min(2, os.cpu_count() or 1))


def _randomise(model: nn.Module) -> nn.Module:
    gen = torch.Generator().manual_seed(SEED)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.weight.copy_(0.6 + 0.8 * torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
                module.running_mean.copy_(0.1 * torch.randn(module.running_mean.shape,
                                                            generator=gen))
                module.running_var.copy_(0.6 + 0.8 * torch.rand(module.running_var.shape,
                                                                generator=gen))
            elif isinstance(module, nn.LayerNorm):
                module.weight.copy_(0.6 + 0.8 * torch.rand(module.weight.shape, generator=gen))
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
            elif isinstance(module, (nn.Linear, nn.Conv2d)) and module.bias is not None:
                module.bias.copy_(0.1 * torch.randn(module.bias.shape, generator=gen))
    return model.eval()


# ----------------------------------------------------------------------------- ResNet-50


class ConvBN(nn.Sequential):
    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, relu: bool = True) -> None:
        layers: list[nn.Module] = [nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False),
                                   nn.BatchNorm2d(cout)]
        if relu:
            layers.append(nn.ReLU())
        super().__init__(*layers)


class Bottleneck(nn.Module):
    def __init__(self, cin: int, width: int, stride: int) -> None:
        super().__init__()
        cout = width * 4
        self.body = nn.Sequential(ConvBN(cin, width, 1), ConvBN(width, width, 3, stride),
                                  ConvBN(width, cout, 1, relu=False))
        self.down = (ConvBN(cin, cout, 1, stride, relu=False)
                     if stride != 1 or cin != cout else nn.Identity())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.body(x) + self.down(x))


class ResNet50(nn.Module):
    def __init__(self, base: int = 64) -> None:
        super().__init__()
        self.stem = ConvBN(3, base, 7, 2)
        self.pool = nn.MaxPool2d(3, 2, 1)
        blocks: list[nn.Module] = []
        cin = base
        for stage, count in enumerate([3, 4, 6, 3]):
            width = base * 2 ** stage
            for j in range(count):
                blocks.append(Bottleneck(cin, width, 2 if j == 0 and stage > 0 else 1))
                cin = width * 4
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(cin, 1000)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.pool(self.stem(x)))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ----------------------------------------------------------------------------- BERT-base


class EncoderLayer(nn.Module):
    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.q = nn.Linear(dim, dim)
        self.k = nn.Linear(dim, dim)
        self.v = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm1 = nn.LayerNorm(dim, eps=1e-12)
        self.up = nn.Linear(dim, ffn)
        self.down = nn.Linear(ffn, dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-12)

    def split(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.heads, c // self.heads).transpose(1, 2)

    def forward(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.split(self.q(x)), self.split(self.k(x)), self.split(self.v(x))
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(c // self.heads)) + bias
        context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(b, n, c)
        x = self.norm1(x + self.out(context))
        return self.norm2(x + self.down(F.gelu(self.up(x))))


class BertBase(nn.Module):
    def __init__(self, vocab: int = 30522, positions: int = 512, dim: int = 768,
                 layers: int = 12, heads: int = 12, ffn: int = 3072) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, dim)
        self.positions = nn.Embedding(positions, dim)
        self.types = nn.Embedding(2, dim)
        self.norm = nn.LayerNorm(dim, eps=1e-12)
        self.layers = nn.ModuleList(EncoderLayer(dim, heads, ffn) for _ in range(layers))
        self.pool = nn.Linear(dim, dim)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor]:
        n = input_ids.shape[1]
        position = torch.arange(n, dtype=torch.int64, device=input_ids.device)
        x = self.tokens(input_ids) + self.positions(position) + self.types.weight[0]
        x = self.norm(x)
        bias = (1.0 - attention_mask[:, None, None, :].to(x.dtype)) * -10000.0
        for layer in self.layers:
            x = layer(x, bias)
        return x, torch.tanh(self.pool(x[:, 0]))


# ----------------------------------------------------------------------------- export

MODELS: dict[str, dict[str, Any]] = {
    "resnet50": {"build": ResNet50, "inputs": {"images": ("float32", [2, 3, 224, 224])},
                 "outputs": ["logits"], "dynamic": {"images": {0: "batch"}}},
    "bert_base": {"build": BertBase,
                  "inputs": {"input_ids": ("int64", [2, 16]),
                             "attention_mask": ("int64", [2, 16])},
                  "outputs": ["last_hidden_state", "pooler_output"],
                  "dynamic": {"input_ids": {0: "batch", 1: "sequence"},
                              "attention_mask": {0: "batch", 1: "sequence"}}},
}
EXPORTERS = ("dynamo", "ts17")


def example(spec: dict[str, Any]) -> tuple[torch.Tensor, ...]:
    gen = torch.Generator().manual_seed(SEED)
    out = []
    for name, (dtype, shape) in spec["inputs"].items():
        if dtype == "float32":
            out.append(torch.randn(shape, generator=gen))
        elif name == "attention_mask":
            out.append(torch.ones(shape, dtype=torch.int64))
        else:
            out.append(torch.randint(0, 100, shape, generator=gen))
    return tuple(out)


def export(name: str, exporter: str, module: nn.Module, path: Path) -> None:
    spec = MODELS[name]
    names = list(spec["inputs"])
    args = example(spec)
    if exporter == "ts17":
        dynamic = dict(spec["dynamic"])
        for out_name in spec["outputs"]:
            dynamic[out_name] = {0: "batch"}
        torch.onnx.export(module, args, str(path), input_names=names,
                          output_names=spec["outputs"], opset_version=17,
                          dynamic_axes=dynamic, dynamo=False)
        return
    dims = {s: torch.export.Dim(s, min=1, max=512) for axes in spec["dynamic"].values()
            for s in axes.values()}
    shapes = tuple({a: dims[s] for a, s in spec["dynamic"][n].items()} for n in names)
    program = torch.onnx.export(module, args, input_names=names, output_names=spec["outputs"],
                                dynamic_shapes=shapes, dynamo=True, optimize=True,
                                verbose=False)
    assert program is not None
    program.save(str(path), external_data=True)


SMALL: dict[str, dict[str, Any]] = {
    "resnet50": {"build": lambda: ResNet50(8), "inputs": {"images": ("float32", [2, 3, 64, 64])}},
    "bert_base": {"build": lambda: BertBase(100, 64, 32, 2, 4, 64)},
}


def main(argv: list[str]) -> int:
    out = Path(argv[0])
    out.mkdir(parents=True, exist_ok=True)
    if "--small" in argv[1:]:
        for name, changes in SMALL.items():
            MODELS[name] = {**MODELS[name], **changes}
    manifest: dict[str, Any] = {}
    for name, spec in MODELS.items():
        torch.manual_seed(SEED)
        module = _randomise(spec["build"]())
        params = sum(p.numel() for p in module.parameters())
        for exporter in EXPORTERS:
            case = f"{name}_{exporter}"
            cdir = out / case
            cdir.mkdir(exist_ok=True)
            start = time.perf_counter()
            with torch.no_grad():
                export(name, exporter, module, cdir / "model.onnx")
            files = {p.name: p.stat().st_size for p in sorted(cdir.iterdir())}
            manifest[case] = {"model": name, "exporter": exporter, "parameters": params,
                              "bytes": sum(files.values()), "files": files,
                              "inputs": {k: [d, s] for k, (d, s) in spec["inputs"].items()},
                              "export_seconds": round(time.perf_counter() - start, 1)}
            print(f"{case}: {manifest[case]['bytes'] / 1e6:.1f} MB in "
                  f"{manifest[case]['export_seconds']} s", file=sys.stderr, flush=True)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
