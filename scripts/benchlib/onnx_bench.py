"""The ONNX groups of scripts/bench.py (opt-in: ``--only onnx,serve``).

* ``onnx``: ``from_onnx`` of a ResNet-50 (~102 MB of float32 weights) and of a
  BERT-base-size encoder (~438 MB), each exported by torch 2.13's dynamo exporter (opset 20,
  weights in ``model.onnx.data``) and by its TorchScript exporter (opset 17, weights inline
  in the protobuf), in a fresh interpreter per run, imports included: wall time seen by the
  parent (interpreter start to exit) and the child's peak RSS (VmHWM), beside a fresh
  interpreter that only imports ``pysavedmodel`` and ``onnx`` (the fixed cost).  Goals
  (issue 10): <= 2 s for ResNet-50, <= 4 s for BERT-base, peak RSS <= 1.5x the model.
* ``serve``: the converted ResNet-50 (dynamo export) served by TensorFlow 2.21
  (``tf.saved_model.load`` signature, NCHW input as ONNX has it) against the same
  architecture written natively with tf.nn ops in NHWC and in NCHW, and against
  onnxruntime on the ``.onnx`` file, batch 1 and 32, all with ``--serve-threads``
  intra-op threads; the contenders live in two long-running workers (TensorFlow's venv and
  the ONNX venv, scripts/benchlib/onnx_serve.py) and run interleaved round by round.
  Before timing, the converted model's output on a random batch is compared with
  onnxruntime's.  Goal: converted <= 1.15x native NHWC.

The models come from scripts/benchlib/onnx_models.py run in the ONNX venv
(scripts/venvs.py ``onnx_python``), cached under ``~/.cache/pysavedmodel/bench-onnx-<key>``
(key: that file's hash and the venv's requirements).  ``--write-docs`` puts these groups'
tables into the marked section of docs/onnx.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .common import MB, REPLY, ROOT
from .report import Row, fmt
from .workers import Worker

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
MODELS_SCRIPT = HERE / "onnx_models.py"
SERVE_SCRIPT = HERE / "onnx_serve.py"
GROUPS = ("onnx", "serve")
CONVERT_GROUP = "onnx conversion (fresh process, imports included)"
SERVE_GROUP = "served ResNet-50, batch {batch} (per inference)"
DOCS = ROOT / "docs" / "onnx.md"
DOCS_START = "<!-- bench-onnx:start -->"
DOCS_END = "<!-- bench-onnx:end -->"

LABELS = {
    "resnet50_dynamo": "ResNet-50, dynamo export (opset 20, external data)",
    "resnet50_ts17": "ResNet-50, TorchScript export (opset 17, inline weights)",
    "bert_base_dynamo": "BERT-base encoder, dynamo export (opset 20, external data)",
    "bert_base_ts17": "BERT-base encoder, TorchScript export (opset 17, inline weights)",
}
GOAL_SECONDS = {"resnet50": 2.0, "bert_base": 4.0}
GOAL_RSS_RATIO = 1.5
GOAL_SERVE_RATIO = 1.15
IMPORTS_ROW = "fresh interpreter: import pysavedmodel, onnx (fixed cost)"

_CONVERT = """
import sys
import pysavedmodel
pysavedmodel.from_onnx(sys.argv[1], sys.argv[2])
"""
_IMPORTS = """
import pysavedmodel
import onnx
"""
_PEAK = """
with open("/proc/self/status") as f:
    hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")]
print("@@bench " + str(int(hwm[0]) * 1024))
"""


def _venvs() -> Any:
    sys.path.insert(0, str(HERE.parent))
    import venvs

    return venvs


def models(log: Callable[[str], None], small: bool = False) -> tuple[Path, dict[str, Any]]:
    """The bench models (generated on first use, in the ONNX venv) and their manifest;
    ``small``: the toy-width variants (``--onnx-small``, for the bench's own test)."""
    venvs = _venvs()
    key = hashlib.sha256(MODELS_SCRIPT.read_bytes() + venvs.onnx_key().encode()
                         ).hexdigest()[:12]
    cache = venvs.CACHE / f"bench-onnx-{'small-' if small else ''}{key}"
    manifest = cache / "manifest.json"
    if not manifest.exists():
        python = venvs.onnx_python()
        log(f"onnx: exporting the bench models into {cache} (once; ~1 min)")
        partial = cache.with_name(cache.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        proc = subprocess.run([str(python), str(MODELS_SCRIPT), str(partial),
                               *(["--small"] if small else [])],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit(f"exporting the ONNX bench models failed:\n{proc.stderr[-3000:]}")
        shutil.rmtree(cache, ignore_errors=True)
        partial.rename(cache)
    loaded: dict[str, Any] = json.loads(manifest.read_text())
    return cache, loaded


def _fresh(env: dict[str, str], code: str, *args: str) -> tuple[float, float]:
    """Run ``code`` in a fresh interpreter: (wall seconds, peak RSS bytes)."""
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code + _PEAK, *args], capture_output=True,
                          text=True, env=env)
    seconds = time.perf_counter() - start
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(REPLY)]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"{code.strip()!r} {args} failed:\n{proc.stderr[-3000:]}")
    return seconds, float(lines[-1][len(REPLY):])


def convert_group(bench: Any) -> None:
    """``onnx``: from_onnx of each bench model in fresh interpreters, interleaved."""
    cache, manifest = models(bench.log, bench.args.onnx_small)
    env = bench.env("core")
    cases = [case for case in LABELS if case in manifest]
    samples: dict[str, list[float]] = {case: [] for case in [*cases, "imports"]}
    peaks: dict[str, float] = {}
    load = [os.getloadavg()[0]]
    for round_ in range(bench.args.rounds + 1):
        bench.log(f"onnx: {'warm-up' if round_ == 0 else f'round {round_}'}")
        seconds, peak = _fresh(env, _IMPORTS)
        if round_:
            samples["imports"].append(seconds)
        peaks["imports"] = max(peaks.get("imports", 0.0), peak)
        for case in cases:
            out = bench.workdir / f"onnx-{case}"
            shutil.rmtree(out, ignore_errors=True)
            seconds, peak = _fresh(env, _CONVERT, str(cache / case / "model.onnx"), str(out))
            shutil.rmtree(out, ignore_errors=True)
            if round_:
                samples[case].append(seconds)
            peaks[case] = max(peaks.get(case, 0.0), peak)
            if bench.args.verbose:
                bench.log(f"  {case}: {seconds:.3f} s, peak RSS {peak / MB:.0f} MB")
    load.append(os.getloadavg()[0])
    imports = Row(CONVERT_GROUP, IMPORTS_ROW, samples=samples["imports"],
                  peak_rss_mb=peaks["imports"] / MB)
    imports.finish()
    bench.rows.append(imports)
    for case in cases:
        size = int(manifest[case]["bytes"])
        row = Row(CONVERT_GROUP, f"{LABELS[case]}, {size / MB:.0f} MB", nbytes=size,
                  samples=samples[case], peak_rss_mb=peaks[case] / MB)
        row.finish()
        row.note = f"peak RSS {peaks[case] / size:.2f}x the model"
        bench.rows.append(row)
    bench.onnx_load = getattr(bench, "onnx_load", []) + [("onnx", load)]


class ServeWorker(Worker):
    """A scripts/benchlib/onnx_serve.py worker (TensorFlow's venv or the ONNX venv)."""

    def __init__(self, python: str, kind: str, env: dict[str, str]) -> None:
        self.kind = kind
        self.proc = subprocess.Popen([python, str(SERVE_SCRIPT), kind], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, env=env)
        self._hello = None


def serve_group(bench: Any) -> None:
    """``serve``: converted ResNet-50 vs native TF NHWC/NCHW vs onnxruntime, interleaved."""
    args = bench.args
    if args.tf_python is None:
        raise SystemExit("the serve group needs TensorFlow's venv (--tf-python)")
    if bench.args.onnx_small:
        raise SystemExit("the serve group times the full-size ResNet-50: drop --onnx-small")
    cache, manifest = models(bench.log)
    model = cache / "resnet50_dynamo" / "model.onnx"
    converted = bench.workdir / "serve-resnet50"
    shutil.rmtree(converted, ignore_errors=True)
    bench.log("serve: converting ResNet-50 (dynamo export)")
    _fresh(bench.env("core"), _CONVERT, str(model), str(converted))
    env = dict(bench.env("tf"), PYSAVEDMODEL_BENCH_THREADS=str(args.serve_threads))
    bench.log("serve: starting the TensorFlow and onnxruntime workers")
    tf = ServeWorker(str(args.tf_python), "tf", env)
    ort = ServeWorker(str(_venvs().onnx_python()), "ort", env)
    load = [os.getloadavg()[0]]
    try:
        tf.call(op="load", converted=str(converted))
        ort.call(op="load", model=str(model))
        note = _agreement(bench.workdir, tf, ort)
        order = [("converted", tf), ("native_nhwc", tf), ("native_nchw", tf), ("ort", ort)]
        names = {
            "converted": "TF: converted by from_onnx (NCHW signature)",
            "native_nhwc": "TF: native tf.nn ResNet-50, NHWC",
            "native_nchw": "TF: native tf.nn ResNet-50, NCHW",
            "ort": "onnxruntime on the .onnx",
        }
        against = {"converted": "native_nhwc", "native_nchw": "native_nhwc",
                   "ort": "converted"}
        for batch, iterations in zip((1, 32), args.serve_iterations):
            group = SERVE_GROUP.format(batch=batch)
            rows = {c: Row(group, names[c]) for c, _ in order}
            for round_ in range(args.rounds + 1):
                bench.log(f"serve batch {batch}: {'warm-up' if round_ == 0 else f'round {round_}'}")
                for contender, worker in order:
                    result = worker.call(op="run", contender=contender, batch=batch,
                                         iterations=1 if round_ == 0 else iterations)
                    if round_:
                        rows[contender].samples.append(result["seconds"])
            for row in rows.values():
                row.finish()
            for contender, reference in against.items():
                row, ref = rows[contender], rows[reference]
                if row.seconds and ref.seconds:
                    row.ratio, row.ratio_to = ref.seconds / row.seconds, ref.name
            rows["converted"].note = note
            bench.rows.extend(rows.values())
    finally:
        tf.close()
        ort.close()
        shutil.rmtree(converted, ignore_errors=True)
    load.append(os.getloadavg()[0])
    bench.onnx_load = getattr(bench, "onnx_load", []) + [("serve", load)]


def _agreement(workdir: Path, tf: Worker, ort: Worker) -> str:
    """Compare the converted model's output with onnxruntime's on one random batch."""
    import numpy as np

    source = workdir / "serve-input.npy"
    np.save(source, np.random.default_rng(7).standard_normal((2, 3, 224, 224),
                                                             dtype=np.float32))
    outputs = {}
    for name, worker, contender in (("tf", tf, "converted"), ("ort", ort, "ort")):
        target = workdir / f"serve-output-{name}.npy"
        worker.call(op="output", contender=contender, input=str(source), output=str(target))
        outputs[name] = np.load(target)
    diff = float(np.max(np.abs(outputs["tf"] - outputs["ort"])))
    close = bool(np.allclose(outputs["tf"], outputs["ort"], rtol=1e-3, atol=1e-4))
    if not close:
        raise SystemExit(f"serve: the converted ResNet-50 disagrees with onnxruntime "
                         f"(max abs diff {diff:.3g})")
    return f"output matches onnxruntime, max abs diff {diff:.1e}"


def targets(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The issue's ONNX goals, evaluated on a run's rows (as dicts; absent rows skipped)."""
    out = []

    def add(name: str, value: float | None, bound: float, unit: str) -> None:
        if value is None:
            return
        out.append({"target": name, "value": round(value, 3), "bound": f"<= {bound}{unit}",
                    "met": value <= bound, "note": ""})

    for row in rows:
        if row["group"] == CONVERT_GROUP and row["nbytes"]:
            case = next((c for c, label in LABELS.items() if row["name"].startswith(label)),
                        None)
            if case is None:
                continue
            short = LABELS[case].split(", ")[0] + ", " + case.rsplit("_", 1)[1]
            add(f"from_onnx {short}, fresh process (s)", row["seconds"],
                GOAL_SECONDS[case.rsplit("_", 1)[0]], " s")
            if row["peak_rss_mb"] is not None:
                add(f"from_onnx {short}: peak RSS / model size",
                    row["peak_rss_mb"] * MB / row["nbytes"], GOAL_RSS_RATIO, "x")
        elif (row["group"].startswith("served ResNet-50") and row["name"].startswith(
                "TF: converted") and row["ratio"]):
            batch = row["group"].split("batch ")[1].split(" ")[0]
            add(f"served converted ResNet-50 / native TF NHWC, batch {batch} (time ratio)",
                1 / row["ratio"], GOAL_SERVE_RATIO, "x")
    return out


def is_onnx_row(row: dict[str, Any]) -> bool:
    group: str = row["group"]
    return group == CONVERT_GROUP or group.startswith("served ResNet-50")


def render_docs_section(result: dict[str, Any], date: str) -> str:
    """The generated section of docs/onnx.md: these groups' tables and goals."""
    m, c = result["machine"], result["config"]
    loads = result.get("onnx_load", [])
    load_text = "; ".join(f"{group}: {a:.2f} → {b:.2f}" for group, (a, b) in loads)
    lines = [
        DOCS_START,
        "<!-- generated by scripts/bench.py --only onnx,serve --write-docs; "
        "do not edit by hand -->",
        "",
        f"Generated {date} by `{c['command']}` on {m['cpu']}, {m['cores']} cores, "
        f"{m['memory_gb']} GB RAM, Python {m['python']}. Medians of {c['rounds']} timed "
        "rounds after a warm-up, with min–max; contenders interleaved round by round. "
        f"This is a shared VM: 1-minute load average at the start → end of each group: "
        f"{load_text or 'not recorded'}.",
        "",
    ]
    group = None
    for row in result["rows"]:
        if not is_onnx_row(row):
            continue
        if row["group"] != group:
            group = row["group"]
            lines += ["", f"**{group}**", "",
                      "| contender | median s | min–max s | ratio | against | peak RSS MB |",
                      "|---|---|---|---|---|---|"]
        spread = (f"{fmt(row.get('min_seconds'), '.3f')}–{fmt(row.get('max_seconds'), '.3f')}"
                  if row.get("min_seconds") is not None else "-")
        ratio = fmt(row["ratio"], ".2f") + "x" if row["ratio"] is not None else "-"
        name = row["name"] + (f" ({row['note']})" if row["note"] else "")
        lines.append(f"| {name} | {fmt(row['seconds'], '.3f')} | {spread} | {ratio} | "
                     f"{row['ratio_to'] or ''} | {fmt(row['peak_rss_mb'], '.0f')} |")
    lines += ["", "| goal | value | bound | met |", "|---|---|---|---|"]
    for t in result["targets"]:
        if t["target"].startswith(("from_onnx", "served converted")):
            lines.append(f"| {t['target']} | {t['value']} | {t['bound']} | "
                         f"{'yes' if t['met'] else '**no**'} |")
    lines.append(DOCS_END)
    return "\n".join(lines)


def write_docs(result: dict[str, Any], date: str, path: Path) -> None:
    """Replace the marked section of docs/onnx.md with this run's tables."""
    text = path.read_text(encoding="utf-8")
    if DOCS_START not in text or DOCS_END not in text:
        raise SystemExit(f"{path}: no {DOCS_START} ... {DOCS_END} section to write into")
    head, rest = text.split(DOCS_START, 1)
    tail = rest.split(DOCS_END, 1)[1]
    path.write_text(head + render_docs_section(result, date) + tail, encoding="utf-8")
