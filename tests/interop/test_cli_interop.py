"""``pysavedmodel show`` reports the facts TensorFlow's ``saved_model_cli show`` reports.

One TensorFlow subprocess runs saved_model_cli's show modes on the SavedModel fixtures
and on three models built here (an MLP; a lookup table on an asset with an init op; two
meta graphs).  Facts are compared after parsing both outputs, not as bytes: the
``--all`` output of saved_model_cli also lists concrete functions (loading the model)
and ours adds variables and assets.
"""

from __future__ import annotations

import ast
import contextlib
import io
from pathlib import Path
from typing import Any

import pytest

from pysavedmodel.cli import main
from tests.cli.cli_run import run_ok
from tests.cli.models import build_lookup, build_mlp, build_two_meta_graphs
from tests.cli.show_parser import parse_all
from tests.support.tf import run_tf

TF_SCRIPT = r"""
import contextlib, io, json, subprocess, sys
from pathlib import Path
from tensorflow.python.tools import saved_model_cli as cli, saved_model_utils

def captured(func, *args):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        func(*args)
    return out.getvalue()

result = {}
for directory in sys.argv[1:]:
    facts = {"all": captured(cli._show_all, directory),
             "tag_sets": captured(cli._show_tag_sets, directory), "by_tag": {}}
    for meta_graph in saved_model_utils.read_saved_model(directory).meta_graphs:
        tag_set = ",".join(meta_graph.meta_info_def.tags)
        facts["by_tag"][tag_set] = {
            "ops_and_keys": captured(cli._show_ops_in_metagraph, directory, tag_set)
                            + captured(cli._show_signature_def_map_keys, directory, tag_set),
            "signatures": {key: captured(cli._show_inputs_outputs, directory, tag_set, key)
                           for key in meta_graph.signature_def}}
    result[directory] = facts
# The command itself, once, to tie the functions above to what users run.
first = sys.argv[1]
binary = Path(sys.executable).with_name("saved_model_cli")
shown = subprocess.run([str(binary), "show", "--dir", first, "--all"], capture_output=True,
                       text=True, check=True)
result["binary_all"] = shown.stdout
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def directories(tmp_path_factory: pytest.TempPathFactory, fixtures_dir: Path) -> list[str]:
    root = tmp_path_factory.mktemp("cli_models")
    build_mlp(root / "mlp")
    build_lookup(root / "lookup", tmp_path_factory.mktemp("cli_work"))
    build_two_meta_graphs(root / "two")
    return [str(root / "mlp"), str(root / "lookup"), str(root / "two"),
            str(fixtures_dir / "savedmodel_v1_builder"),
            str(fixtures_dir / "savedmodel_v2_module")]


@pytest.fixture(scope="module")
def tf_output(directories: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = run_tf(TF_SCRIPT, *directories)
    return result


def _show(*args: str) -> str:
    """``pysavedmodel show ARGS`` in this process (the many small modes; --all and the
    tag-set listing go through the real entry point)."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["show", *args]) == 0
    return out.getvalue()


def _ops_and_keys(text: str) -> tuple[set[str], list[str]]:
    ops_line, *keys = text.splitlines()
    prefix, _, ops = ops_line.partition(" contains the following ops: ")
    assert prefix.startswith("The MetaGraph with tag set [")
    return set(ast.literal_eval(ops)), keys


def test_the_saved_model_cli_binary_agrees_with_its_functions(
        tf_output: dict[str, Any], directories: list[str]) -> None:
    assert parse_all(tf_output["binary_all"]) == parse_all(tf_output[directories[0]]["all"])


@pytest.mark.parametrize("index", range(5), ids=["mlp", "lookup", "two_meta_graphs",
                                                 "fixture_v1_builder", "fixture_v2_module"])
def test_show_reports_saved_model_clis_facts(tf_output: dict[str, Any],
                                             directories: list[str], index: int) -> None:
    directory = directories[index]
    tf = tf_output[directory]
    ours_all = parse_all(run_ok("show", directory, "--all"))
    assert ours_all == parse_all(tf["all"])
    assert ours_all and all(graph["signatures"] for graph in ours_all.values())
    assert run_ok("show", directory).splitlines() == tf["tag_sets"].splitlines()
    assert set(tf["by_tag"]) == {tags.replace(", ", ",") for tags in ours_all}
    for tag_set, expected in tf["by_tag"].items():
        ours = _show(directory, "--tag_set", tag_set, "--list_ops")
        assert _ops_and_keys(ours) == _ops_and_keys(expected["ops_and_keys"])
        for key, text in expected["signatures"].items():
            mine = _show(directory, "--tag_set", tag_set, "--signature_def", key)
            wrap = "MetaGraphDef with tag-set: 't' contains the following SignatureDefs:\n" \
                   f"signature_def['{key}']:\n"
            assert parse_all(wrap + mine) == parse_all(wrap + text)
            assert mine.splitlines() == text.splitlines()
