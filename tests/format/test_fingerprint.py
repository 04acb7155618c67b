"""fingerprint.pb fields computed as TensorFlow 2.21 computes them.

Checked two ways: against the fingerprint.pb TF wrote for the fixture
``savedmodel_v2_module`` (every hash field), and against TF's own
``CreateFingerprintDef`` run (one TF subprocess) on SavedModels written here,
including one whose FunctionDef has integer-keyed maps (arg_attr), where
Python's and C++'s deterministic serializations order entries differently.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pysavedmodel._proto import fingerprint_pb2, saved_model_pb2
from pysavedmodel.errors import InvalidArgumentError
from pysavedmodel.format.fingerprint import (
    FINGERPRINT_PRODUCER,
    compute_fingerprint,
    regularize_graph_def,
    suffix_uid,
)
from tests.support.tf import FIXTURES, run_tf

FIXTURE = FIXTURES / "savedmodel_v2_module"


def _fixture_model() -> saved_model_pb2.SavedModel:
    return saved_model_pb2.SavedModel.FromString((FIXTURE / "saved_model.pb").read_bytes())


def test_fixture_hashes_match_tf_written_fingerprint() -> None:
    tf_fp = fingerprint_pb2.FingerprintDef.FromString((FIXTURE / "fingerprint.pb").read_bytes())
    ours = compute_fingerprint(_fixture_model(), FIXTURE)
    assert ours.saved_model_checksum == tf_fp.saved_model_checksum
    assert ours.graph_def_program_hash == tf_fp.graph_def_program_hash
    assert ours.signature_def_hash == tf_fp.signature_def_hash
    assert ours.saved_object_graph_hash == tf_fp.saved_object_graph_hash
    assert ours.checkpoint_hash == tf_fp.checkpoint_hash
    assert ours.version.producer == tf_fp.version.producer == FINGERPRINT_PRODUCER


def test_uuid_is_random_unless_given() -> None:
    model = _fixture_model()
    a, b = compute_fingerprint(model, FIXTURE), compute_fingerprint(model, FIXTURE)
    assert a.uuid != b.uuid and a.uuid.isdigit() and int(a.uuid) < 1 << 128
    assert compute_fingerprint(model, FIXTURE, uuid="7").uuid == "7"


def test_checkpoint_hash_is_zero_without_index(tmp_path: Path) -> None:
    assert compute_fingerprint(_fixture_model(), tmp_path).checkpoint_hash == 0


def test_function_name_without_uid_is_refused() -> None:
    model = _fixture_model()
    functions = model.meta_graphs[0].object_graph_def.concrete_functions
    functions["__inference_serve"].CopyFrom(next(iter(functions.values())))
    with pytest.raises(InvalidArgumentError, match="__inference_serve"):
        compute_fingerprint(model)
    assert suffix_uid("__inference_f_12") == 12


def test_regularization_strips_call_uids_config_and_string_consts() -> None:
    graph = _fixture_model().meta_graphs[0].graph_def
    reg = regularize_graph_def(graph)
    calls = [n for n in reg.node if n.op == "StatefulPartitionedCall"]
    assert calls and all(not n.attr["f"].func.name[-1].isdigit() for n in calls)
    assert all(n.attr["config_proto"].s == b"" for n in calls)
    assert not reg.library.function and not reg.versions.producer
    assert reg.HasField("library") and reg.HasField("versions")  # present, empty (as TF)
    assert graph.library.function  # the input is left alone


def test_no_meta_graph_is_refused() -> None:
    with pytest.raises(InvalidArgumentError, match="no meta graph"):
        compute_fingerprint(saved_model_pb2.SavedModel())


_TF_SCRIPT = """
import json, sys
from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting as fp
from tensorflow.core.protobuf import fingerprint_pb2
out = {}
for d in sys.argv[1:]:
    f = fingerprint_pb2.FingerprintDef.FromString(fp.CreateFingerprintDef(d))
    out[d] = [f.saved_model_checksum, f.graph_def_program_hash, f.signature_def_hash,
              f.saved_object_graph_hash, f.checkpoint_hash, f.version.producer]
print(json.dumps(out))
"""


def test_tf_recomputes_the_same_fields(tmp_path: Path) -> None:
    models = {}
    plain = saved_model_pb2.SavedModel()
    plain.meta_graphs.add().meta_info_def.tags.append("serve")
    models["plain"] = plain
    signed = saved_model_pb2.SavedModel()
    signed.saved_model_schema_version = 1
    meta = signed.meta_graphs.add()
    meta.meta_info_def.tags.append("serve")
    for key in ("b_sig", "a_sig"):
        sig = meta.signature_def[key]
        sig.method_name = "tensorflow/serving/predict"
        sig.inputs["x"].name = "x:0"
        sig.inputs["x"].dtype = 1
    for name in ("__inference_g_7", "__inference_f_30"):
        meta.object_graph_def.concrete_functions[name].bound_inputs.append(len(name))
    function = meta.graph_def.library.function.add()
    function.signature.name = "__inference_f_30"
    for index in (0, 1, 2, 10):
        function.arg_attr[index].attr["_user_specified_name"].s = str(index).encode()
        function.resource_arg_unique_id[index] = 3 - index if index < 3 else 0
    call = meta.graph_def.node.add(name="call", op="StatefulPartitionedCall")
    call.attr["f"].func.name = "__inference_f_30"
    call.attr["config_proto"].s = b"device specific"
    # Nodes whose attrs after the leading fields repeat (remembered once, then reused),
    # with keys one of which is a prefix of the other (re-ordered) and without.
    for graph_nodes in (meta.graph_def.node, function.node_def):
        for index in range(3):
            # (the last name is longer than 127 bytes: a two-byte length in the lead)
            name = f"same_{index}" if index < 2 else "long_" + "n" * 150
            node = graph_nodes.add(name=name, op="StatefulPartitionedCall",
                                   input=[f"in_{index}"], device="/device:CPU:0")
            node.attr["config"].s = b"c"
            node.attr["config_proto"].s = b"p"
            node.attr["f"].func.name = "__inference_g_7"
            plain_node = graph_nodes.add(name=f"plain_{index}", op="Identity")
            plain_node.attr["T"].type = 1
    # A function-valued attr whose own attrs need re-ordering (keys one a prefix of the
    # other, an integer-keyed map is not possible there), alone and in a list.
    nested = meta.graph_def.node.add(name="nested", op="Dummy")
    nested.attr["f"].func.name = "__inference_g_7"
    nested.attr["f"].func.attr["Tout"].type = 1
    nested.attr["f"].func.attr["T"].type = 2
    listed = nested.attr["fs"].list.func.add(name="__inference_g_7")
    listed.attr["abc"].i = 1
    listed.attr["ab"].i = 2
    text = meta.graph_def.node.add(name="path", op="Const")
    text.attr["dtype"].type = 7
    text.attr["value"].tensor.dtype = 7
    text.attr["value"].tensor.string_val.append(b"/some/path")
    meta.graph_def.versions.producer = 2474
    models["signed"] = signed
    dirs = {}
    for key, model in models.items():
        d = tmp_path / key
        (d / "variables").mkdir(parents=True)
        (d / "saved_model.pb").write_bytes(model.SerializeToString(deterministic=True))
        dirs[key] = d
    (dirs["signed"] / "variables" / "variables.index").write_bytes(b"not really an index" * 9)
    theirs = run_tf(_TF_SCRIPT, *dirs.values())
    for key, d in dirs.items():
        ours = compute_fingerprint(models[key], d)
        assert [ours.saved_model_checksum, ours.graph_def_program_hash, ours.signature_def_hash,
                ours.saved_object_graph_hash, ours.checkpoint_hash,
                ours.version.producer] == theirs[str(d)], key
    assert json.dumps(theirs)  # JSON-able, one subprocess for all
