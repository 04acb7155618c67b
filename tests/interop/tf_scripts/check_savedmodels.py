"""Load SavedModels with every TensorFlow loader and report what each one computed.

Runs under real TensorFlow (``tests.support.tf.run_tf``); argv: REPO_ROOT SPEC_JSON.
The spec (written by tests/interop/test_savedmodel_interop.py) lists models::

    {"name", "dir",
     "meta_graphs": [{"tags": [...], "signatures": {key: {input key: encoded array}},
                      "resave_signatures": [keys runnable without the init op],
                      "train": {"signatures": [keys run again after the train op]}}],
     "tflite": {"tags", "signature", "inputs"} or null,
     "cli": whether to run saved_model_cli show --all}

and a scratch ``work_dir``.  Each check is independent: a failure is recorded as
``{"error": ..., "traceback": ...}`` carrying TensorFlow's message, so the pytest
side reports each (model, loader) pair on its own.  Prints one JSON document:
``{model name: {check name: result}}``.
"""

import json
import os
import subprocess
import sys

REPO_ROOT, SPEC_PATH = sys.argv[1], sys.argv[2]
sys.path.insert(0, REPO_ROOT)

import tensorflow as tf  # noqa: E402
from google.protobuf import text_format  # noqa: E402
from tensorflow.core.protobuf import saved_model_pb2  # noqa: E402

from tests.support import tf_capi  # noqa: E402
from tests.support.arrays_json import decode, encode  # noqa: E402
from tests.support.guarded import guarded  # noqa: E402

with open(SPEC_PATH) as spec_file:
    SPEC = json.load(spec_file)


def decode_all(feeds):
    return {name: decode(enc) for name, enc in feeds.items()}



def per_meta_graph(check, model, *extra):
    return {",".join(mg["tags"]): guarded(check, model, mg, *extra) for mg in model["meta_graphs"]}


def devices_of(meta_graph_def):
    return sorted(f"{n.name}@{n.device}" for n in meta_graph_def.graph_def.node if n.device)


def run_in_session(sess, meta_graph_def, mg, keys):
    """Run signatures ``keys`` of ``meta_graph_def`` in a tf.compat.v1 session."""
    outputs = {}
    for key in keys:
        sig = meta_graph_def.signature_def[key]
        names = sorted(sig.outputs)
        feeds = {sig.inputs[n].name: v for n, v in decode_all(mg["signatures"][key]).items()}
        values = sess.run([sig.outputs[n].name for n in names], feeds)
        outputs[key] = {n: encode(v) for n, v in zip(names, values)}
    return outputs


TRAIN_OP_KEY = "__saved_model_train_op"


def train_op_name(meta_graph_def):
    """The op the loaded meta graph's train-op signature names."""
    return meta_graph_def.signature_def[TRAIN_OP_KEY].outputs[TRAIN_OP_KEY].name


def capi_run_signatures(session, mg, keys):
    outputs = {}
    for key in keys:
        result = session.run_signature(key, decode_all(mg["signatures"][key]))
        outputs[key] = {name: encode(value) for name, value in result.items()}
    return outputs


def capi_check(model, mg):
    """C++ loader (TF Serving's path) through the C API; TF_SessionRun per signature.
    With ``train``: then run the train op once as a target and the listed signatures again."""
    with tf_capi.SavedModelSession(model["dir"], mg["tags"]) as session:
        meta = session.meta_graph_def
        report = {"outputs": capi_run_signatures(session, mg, mg["signatures"]),
                  "devices": devices_of(meta), "signature_keys": sorted(meta.signature_def)}
        if "train" in mg:
            session.run({}, [], [train_op_name(meta)])
            report["after_train"] = capi_run_signatures(session, mg, mg["train"]["signatures"])
        return report


def v1_check(model, mg):
    """tf.compat.v1.saved_model.load into a fresh graph's session.
    With ``train``: then run the train op once by name and the listed signatures again."""
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.load(sess, mg["tags"], model["dir"])
        report = {"outputs": run_in_session(sess, meta, mg, mg["signatures"]),
                  "devices": devices_of(meta), "signature_keys": sorted(meta.signature_def)}
        if "train" in mg:
            sess.run(train_op_name(meta))
            report["after_train"] = run_in_session(sess, meta, mg, mg["train"]["signatures"])
        return report


def v2_check(model, mg):
    """tf.saved_model.load: each signature is a concrete function called with tensors."""
    loaded = tf.saved_model.load(model["dir"], tags=mg["tags"])
    outputs = {}
    for key, feeds in mg["signatures"].items():
        result = loaded.signatures[key](**{n: tf.constant(v) for n, v in decode_all(feeds).items()})
        outputs[key] = {name: encode(value.numpy()) for name, value in result.items()}
    return {"outputs": outputs, "signature_keys": sorted(loaded.signatures)}


def read_saved_model(export_dir):
    """saved_model.pb, or saved_model.pbtxt (text format) when that is what was written."""
    text_path = os.path.join(export_dir, "saved_model.pbtxt")
    if os.path.exists(text_path):
        with open(text_path, encoding="utf-8") as f:
            return text_format.Parse(f.read(), saved_model_pb2.SavedModel())
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        return saved_model_pb2.SavedModel.FromString(f.read())


def read_meta_graph(export_dir, tags):
    saved_model = read_saved_model(export_dir)
    for meta_graph_def in saved_model.meta_graphs:
        if sorted(meta_graph_def.meta_info_def.tags) == sorted(tags):
            return meta_graph_def
    raise KeyError(f"no meta graph with tags {tags}")


def read_checkpoint(prefix):
    reader = tf.train.load_checkpoint(prefix)
    names = sorted(reader.get_variable_to_shape_map())
    return {name: encode(reader.get_tensor(name)) for name in names}


def resave_check(model, mg, work_dir):
    """Import the meta graph alone (no loader), restore by running restore_op_name,
    run the signatures, then save through save_tensor_name to a new prefix."""
    meta = read_meta_graph(model["dir"], mg["tags"])
    saver_def = meta.saver_def
    if not saver_def.restore_op_name:
        return {"saver_def": False}
    variables_dir = os.path.join(model["dir"], "variables")
    ours = os.path.join(variables_dir, "variables")
    scratch = os.path.join(work_dir, f"{model['name']}-{'-'.join(mg['tags'])}")
    os.makedirs(scratch)
    new_prefix = os.path.join(scratch, "variables")
    graph = tf.Graph()
    with graph.as_default():
        tf.compat.v1.train.import_meta_graph(meta, clear_devices=False)
    with tf.compat.v1.Session(graph=graph) as sess:
        sess.run(saver_def.restore_op_name, {saver_def.filename_tensor_name: ours})
        outputs = run_in_session(sess, meta, mg, mg.get("resave_signatures", mg["signatures"]))
        saved_to = sess.run(saver_def.save_tensor_name,
                            {saver_def.filename_tensor_name: new_prefix})
    files_equal = {}
    for name in sorted(os.listdir(variables_dir)):
        theirs = os.path.join(scratch, name)
        with open(os.path.join(variables_dir, name), "rb") as f:
            ours_bytes = f.read()
        if os.path.exists(theirs):
            with open(theirs, "rb") as f:
                files_equal[name] = f.read() == ours_bytes
        else:
            files_equal[name] = False
    return {"saver_def": True, "outputs": outputs, "saved_to": saved_to.decode(),
            "resaved_files": sorted(os.listdir(scratch)),
            "ours": read_checkpoint(ours), "resaved": read_checkpoint(new_prefix),
            "files_equal": files_equal}


def tflite_check(model):
    spec = model["tflite"]
    converter = tf.lite.TFLiteConverter.from_saved_model(
        model["dir"], signature_keys=[spec["signature"]], tags=set(spec["tags"]))
    flatbuffer = converter.convert()
    runner = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner(spec["signature"])
    result = runner(**decode_all(spec["inputs"]))
    return {"outputs": {k: encode(v) for k, v in result.items()}, "size": len(flatbuffer)}


def start_cli(model):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    return subprocess.Popen([cli, "show", "--all", "--dir", model["dir"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finish_cli(proc):
    stdout, stderr = proc.communicate(timeout=300)
    return {"returncode": proc.returncode, "stdout": stdout[-20000:], "stderr": stderr[-5000:]}


def main():
    results = {}
    # The CLI runs (one process each) overlap with the in-process checks.
    clis = {model["name"]: guarded(start_cli, model) for model in SPEC["models"]
            if model["cli"]}
    for model in SPEC["models"]:
        report = results[model["name"]] = {
            "capi": per_meta_graph(capi_check, model),
            "v1": per_meta_graph(v1_check, model),
            "v2": per_meta_graph(v2_check, model),
            "resave": per_meta_graph(resave_check, model, SPEC["work_dir"]),
        }
        if model.get("tflite"):
            report["tflite"] = guarded(tflite_check, model)
    for name, proc in clis.items():
        results[name]["cli"] = proc if isinstance(proc, dict) else guarded(finish_cli, proc)
    print(json.dumps(results))


main()
