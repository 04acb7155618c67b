"""The README's examples run as written and do what they say.

The quickstart's Python block runs in a temporary directory, then every command of
its ``sh`` blocks runs there, in order, through the real entry point (with a copy
of ``examples/`` beside it, as in a checkout).
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from pysavedmodel import load_weights, read_checkpoint
from pysavedmodel._proto import saved_model_pb2

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _section(title: str) -> str:
    text = README.read_text()
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, f"README lost its {title!r} section"
    return match.group(1)


def _blocks(section: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", section, re.S)


def _commands(section: str) -> list[list[str]]:
    """Every command line of the section's ``sh`` blocks, comments stripped."""
    commands = []
    for block in _blocks(section, "sh"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                commands.append(words)
    return commands


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A directory where the quickstart's Python block and commands have all run."""
    work = tmp_path_factory.mktemp("readme")
    shutil.copytree(ROOT / "examples", work / "examples")
    section = _section("Quickstart")
    (code,) = _blocks(section, "python")
    cwd = os.getcwd()
    os.chdir(work)
    try:
        exec(compile(code, str(README), "exec"), {})
    finally:
        os.chdir(cwd)
    outputs = []
    for words in _commands(section):
        assert words[0] == "pysavedmodel", words
        done = subprocess.run([sys.executable, "-m", "pysavedmodel", *words[1:]], cwd=work,
                              capture_output=True, text=True)
        assert done.returncode == 0, (words, done.stderr)
        assert done.stderr == "", (words, done.stderr)
        outputs.append((words, done.stdout))
    (work / "outputs.txt").write_text(repr(outputs))
    return work


def test_mlp_example_is_ten_lines() -> None:
    (code,) = _blocks(_section("Quickstart"), "python")
    body = [line for line in code.splitlines()
            if line.strip() and not line.startswith("import ") and not line.startswith("    ")]
    assert len(body) <= 10


def test_mlp_example_exports_a_savedmodel(quickstart: Path) -> None:
    export = quickstart / "export" / "mlp" / "1"
    model = saved_model_pb2.SavedModel.FromString((export / "saved_model.pb").read_bytes())
    signature = model.meta_graphs[0].signature_def["serving_default"]
    assert signature.outputs["probs"].name == "StatefulPartitionedCall:0"  # a TF2 export
    variables = load_weights(export)
    assert sorted(variables) == ["dense/bias", "dense/kernel", "out/kernel"]
    assert variables["dense/kernel"].shape == (4, 8)
    np.testing.assert_array_equal(variables["dense/bias"], np.zeros(8, np.float32))


def test_quickstart_commands_say_what_the_readme_says(quickstart: Path) -> None:
    outputs = dict((" ".join(words), out) for words, out in eval((quickstart / "outputs.txt")
                                                                 .read_text()))
    show = outputs["pysavedmodel show export/mlp/1 --all"]
    assert "signature_def['serving_default']" in show
    assert "dense/kernel" in show
    assert outputs["pysavedmodel validate export/mlp/1"].startswith(
        "OK: export/mlp/1 (1 meta graphs, 1 signatures, 3 variables)")
    listing = outputs["pysavedmodel checkpoint export/mlp/1/variables/variables"]
    assert "dense/kernel" in listing and "float32" in listing
    assert "0." in outputs[
        "pysavedmodel checkpoint export/mlp/1/variables/variables --tensor dense/bias"]
    assert outputs["pysavedmodel validate export/mlp-torch/1"].startswith("OK:")


def test_pytorch_example_builds_and_converts(quickstart: Path) -> None:
    torch_weights = load_weights(ROOT / "examples" / "mlp" / "weights.safetensors")
    built = load_weights(quickstart / "export" / "mlp-torch" / "1")
    np.testing.assert_array_equal(built["fc1/kernel"], torch_weights["fc1.weight"].T)
    np.testing.assert_array_equal(built["fc2/bias"], torch_weights["fc2.bias"])
    converted = read_checkpoint(quickstart / "export" / "ckpt" / "weights")
    npz = load_weights(quickstart / "export" / "weights.npz")
    assert sorted(converted) == sorted(npz) == sorted(torch_weights)
    for name, value in torch_weights.items():
        np.testing.assert_array_equal(converted[name], value)
        np.testing.assert_array_equal(npz[name], value)
