"""Check TF2 SavedModels written by pysavedmodel with every TF2 consumer of TF 2.21.

Runs under real TensorFlow (``tests.support.tf.run_tf``); argv: REPO_ROOT SPEC_JSON.
The spec (written by tests/interop/test_tf2_interop.py)::

    {"work_dir": ..., "models": [{"name", "dir", "inputs": {key: encoded array},
                                  "args": [input keys in serve's positional order],
                                  "train": whether to take a GradientTape step and fit}],
     "twin": {"dir": our dense model, "values": {name: encoded}} or null,
     "multi": [{"name", "dir", "args", "signatures": {key: {input: encoded}}}]}

Each check is independent (a failure is recorded as {"error", "traceback"}).  Prints
one JSON document {model name: {check: result}} (plus "twin").
"""

import json
import os
import subprocess
import sys

REPO_ROOT, SPEC_PATH = sys.argv[1], sys.argv[2]
sys.path.insert(0, REPO_ROOT)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from tests.support import tf_capi  # noqa: E402
from tests.support.arrays_json import decode, encode  # noqa: E402
from tests.support.guarded import guarded  # noqa: E402

with open(SPEC_PATH) as spec_file:
    SPEC = json.load(spec_file)
WORK = SPEC["work_dir"]
CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")



def feeds(model):
    return {k: decode(v) for k, v in model["inputs"].items()}


def positional(model):
    values = feeds(model)
    return [tf.constant(values[k]) for k in model["args"]]


def input_dtype(value):
    """The Keras Input dtype for a feed (strings arrive as numpy object arrays)."""
    return "string" if value.dtype == object else value.dtype.name


def enc(value):
    if isinstance(value, dict):
        return {k: encode(v.numpy()) for k, v in value.items()}
    return encode(value.numpy())


FINGERPRINT_FIELDS = ["saved_model_checksum", "graph_def_program_hash", "signature_def_hash",
                      "saved_object_graph_hash", "checkpoint_hash"]


def fingerprints(path):
    """fingerprint.pb as read_fingerprint returns it and as TF's CreateFingerprintDef
    recomputes it from the files (decimal strings: uint64 values)."""
    from tensorflow.core.protobuf import fingerprint_pb2
    from tensorflow.python.saved_model.pywrap_saved_model import fingerprinting
    read = tf.saved_model.experimental.read_fingerprint(path)
    again = fingerprint_pb2.FingerprintDef.FromString(fingerprinting.CreateFingerprintDef(path))
    return {"read": [str(getattr(read, n)) for n in FINGERPRINT_FIELDS],
            "recomputed": [str(getattr(again, n)) for n in FINGERPRINT_FIELDS]}


def tf2_load(model):
    """tf.saved_model.load: serve, signatures, __call__, variables, a GradientTape step."""
    loaded = tf.saved_model.load(model["dir"])
    args = positional(model)
    report = {
        "serve": enc(loaded.serve(*args)),
        "signature": enc(loaded.signatures["serving_default"](
            **{k: tf.constant(v) for k, v in feeds(model).items()})),
        "call": enc(loaded(*args)),
        "signature_keys": sorted(loaded.signatures),
        "variables": sorted(v.name for v in loaded.variables),
        "trainable_variables": sorted(v.name for v in loaded.trainable_variables),
        "regularization_losses": len(loaded.regularization_losses),
        "fingerprint": fingerprints(model["dir"]),
    }
    if model["train"]:
        before = [v.numpy().copy() for v in loaded.trainable_variables]
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.square(loaded(*args)))
        grads = tape.gradient(loss, loaded.trainable_variables)
        report["grads_none"] = [g is None for g in grads]
        for grad, var in zip(grads, loaded.trainable_variables):
            var.assign_sub(0.01 * grad)
        report["changed"] = [bool(np.any(b != v.numpy()))
                             for b, v in zip(before, loaded.trainable_variables)]
        report["loss_before"] = float(loss)
        report["loss_after"] = float(tf.reduce_sum(tf.square(loaded(*args))))
    return report


def resave(model):
    """tf.saved_model.save(loaded, new_dir, signatures=loaded.signatures), then load the
    copy and serve (without signatures=, TF drops the signatures of a loaded object,
    of its own exports too)."""
    loaded = tf.saved_model.load(model["dir"])
    target = os.path.join(WORK, f"resaved-{model['name']}")
    tf.saved_model.save(loaded, target, signatures=loaded.signatures)
    again = tf.saved_model.load(target)
    return {"serve": enc(again.serve(*positional(model))),
            "signature": enc(again.signatures["serving_default"](
                **{k: tf.constant(v) for k, v in feeds(model).items()})),
            "trainable_variables": sorted(v.name for v in again.trainable_variables)}


def keras_tfsm(model):
    """Keras 3 TFSMLayer with its default endpoint ("serve"), alone and in a Sequential."""
    import keras
    layer = keras.layers.TFSMLayer(model["dir"])
    args = positional(model)
    alone = layer(*args)
    value = feeds(model)[model["args"][0]]
    sequential = keras.Sequential([keras.Input(shape=value.shape[1:],
                                               dtype=input_dtype(value)), layer])
    return {"alone": enc(alone),
            "sequential": encode(np.asarray(sequential(tf.constant(value)))),
            "trainable_weights": sorted(w.path if hasattr(w, "path") else w.name
                                        for w in layer.trainable_weights)}


def hub_layer(model):
    """hub.KerasLayer(path, trainable=True) in a tf_keras Sequential; fit one step."""
    import tensorflow_hub as hub
    import tf_keras
    layer = hub.KerasLayer(model["dir"], trainable=True)
    value = feeds(model)[model["args"][0]]
    seq = tf_keras.Sequential([tf_keras.Input(shape=value.shape[1:],
                                              dtype=input_dtype(value)), layer])
    report = {"alone": encode(layer(tf.constant(value)).numpy()),
              "sequential": encode(seq(tf.constant(value)).numpy()),
              "trainable_weights": sorted(w.name for w in layer.trainable_weights),
              "non_trainable_weights": sorted(w.name for w in layer.non_trainable_weights)}
    if model["train"]:
        before = [w.numpy().copy() for w in layer.trainable_weights]
        seq.compile(optimizer=tf_keras.optimizers.SGD(0.01), loss="mse")
        target = np.zeros_like(seq(value).numpy())
        seq.fit(value, target, epochs=1, batch_size=len(value), verbose=0)
        report["changed"] = [bool(np.any(b != w.numpy()))
                             for b, w in zip(before, layer.trainable_weights)]
    try:
        import keras
        keras.Sequential([keras.Input(shape=value.shape[1:], dtype=input_dtype(value)),
                          layer])
        report["keras3_sequential"] = "accepted"
    except Exception as exc:  # documented: hub.KerasLayer is a tf_keras layer
        report["keras3_sequential"] = f"{type(exc).__name__}: {exc}"
    return report


def tflite(model):
    converter = tf.lite.TFLiteConverter.from_saved_model(model["dir"])
    flatbuffer = converter.convert()
    runner = tf.lite.Interpreter(model_content=flatbuffer).get_signature_runner(
        "serving_default")
    return {"outputs": {k: encode(v) for k, v in runner(**feeds(model)).items()}}


def capi(model):
    with tf_capi.SavedModelSession(model["dir"], ["serve"]) as session:
        return {k: encode(v) for k, v in
                session.run_signature("serving_default", feeds(model)).items()}


def v1(model):
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], model["dir"])
        sig = meta.signature_def["serving_default"]
        names = sorted(sig.outputs)
        values = sess.run([sig.outputs[n].name for n in names],
                          {sig.inputs[k].name: v for k, v in feeds(model).items()})
        return {n: encode(v) for n, v in zip(names, values)}


def start_cli(model):
    exprs = ";".join(f"{k}={v.tolist()!r}" for k, v in feeds(model).items())
    outdir = os.path.join(WORK, f"cli-{model['name']}")
    show = subprocess.Popen([CLI, "show", "--all", "--dir", model["dir"]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    run = subprocess.Popen([CLI, "run", "--dir", model["dir"], "--tag_set", "serve",
                            "--signature_def", "serving_default", "--input_exprs", exprs,
                            "--outdir", outdir], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
    return show, run, outdir


def finish_cli(started):
    show, run, outdir = started
    out = {}
    for name, proc in (("show", show), ("run", run)):
        stdout, stderr = proc.communicate(timeout=300)
        out[name] = {"returncode": proc.returncode, "stdout": stdout[-20000:],
                     "stderr": stderr[-3000:]}
    if os.path.isdir(outdir):
        out["outputs"] = {f[:-4]: encode(np.load(os.path.join(outdir, f)))
                          for f in sorted(os.listdir(outdir)) if f.endswith(".npy")}
    return out


def twin(spec):
    """TF writes the same object tree for the dense model; compare checkpoints and graphs."""
    from tensorflow.core.protobuf import saved_model_pb2
    from tensorflow.python.trackable.autotrackable import AutoTrackable
    values = {k: decode(v) for k, v in spec["values"].items()}
    root, dense = AutoTrackable(), AutoTrackable()
    kernel = tf.Variable(values["dense/kernel"], name="dense/kernel")
    bias = tf.Variable(values["dense/bias"], name="dense/bias")
    scale = tf.Variable(values["scale"], name="scale", trainable=False)
    root.dense = dense
    dense.kernel, dense.bias = kernel, bias
    root.scale = scale
    root.variables = [kernel, bias, scale]
    root.trainable_variables = [kernel, bias]
    root.regularization_losses = []

    @tf.function(input_signature=[tf.TensorSpec([None, 3], tf.float32, name="x")])
    def serve(x):
        return tf.matmul(x, kernel) * scale + bias

    root.serve = serve
    root.__call__ = serve
    target = os.path.join(WORK, "twin")
    tf.saved_model.save(root, target,
                        signatures={"serving_default": serve.get_concrete_function()})

    def read(directory):
        files = {}
        for name in ("variables.index", "variables.data-00000-of-00001"):
            with open(os.path.join(directory, "variables", name), "rb") as f:
                files[name] = f.read()
        with open(os.path.join(directory, "saved_model.pb"), "rb") as f:
            meta = saved_model_pb2.SavedModel.FromString(f.read()).meta_graphs[0]
        nodes = []
        for node in meta.object_graph_def.nodes:
            kind = node.WhichOneof("kind")
            entry = {"kind": kind,
                     "children": [[c.node_id, c.local_name] for c in node.children]}
            if kind == "user_object":
                entry["identifier"] = node.user_object.identifier
            if kind == "variable":
                entry["variable"] = [node.variable.name, node.variable.trainable,
                                     node.variable.dtype,
                                     [d.size for d in node.variable.shape.dim]]
            nodes.append(entry)
        bound = sorted(sorted(cf.bound_inputs)
                       for cf in meta.object_graph_def.concrete_functions.values())
        return files, nodes, bound, sorted(meta.signature_def)

    ours, our_nodes, our_bound, our_sigs = read(spec["dir"])
    theirs, their_nodes, their_bound, their_sigs = read(target)
    return {"files_equal": {name: ours[name] == theirs[name] for name in ours},
            "ours_nodes": our_nodes, "twin_nodes": their_nodes,
            "ours_bound": our_bound, "twin_bound": their_bound,
            "ours_signatures": our_sigs, "twin_signatures": their_sigs}


def text_file_twin(spec):
    """TF's own export of a StaticHashTable(TextFileInitializer) through TFLite."""
    vocab = os.path.join(WORK, "twin_vocab.txt")
    with open(vocab, "w", encoding="utf-8") as f:
        f.write("".join(w + "\n" for w in spec["vocab"]))
    module = tf.Module()
    module.table = tf.lookup.StaticHashTable(tf.lookup.TextFileInitializer(
        vocab, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE, tf.int64,
        tf.lookup.TextFileIndex.LINE_NUMBER), -1)
    module.serve = tf.function(lambda words: module.table.lookup(words),
                               input_signature=[tf.TensorSpec([None], tf.string)])
    target = os.path.join(WORK, "text_file_twin")
    tf.saved_model.save(module, target, signatures={"serving_default": module.serve})
    return tflite({"dir": target, "inputs": {"words": spec["query"]}})


def every_signature(model):
    """Several signatures: each one through tf.saved_model.load, the C API and tf.compat.v1,
    and serve() with the serving signature's inputs as positional arguments."""
    values = {key: {k: decode(v) for k, v in feeds.items()}
              for key, feeds in model["signatures"].items()}
    loaded = tf.saved_model.load(model["dir"])
    serving = values["serving_default"]
    out = {"serve": enc(loaded.serve(*[tf.constant(serving[k]) for k in model["args"]])),
           "trainable_variables": sorted(v.name for v in loaded.trainable_variables),
           "tf2": {key: enc(loaded.signatures[key](**{k: tf.constant(v) for k, v in
                                                      feeds.items()}))
                   for key, feeds in values.items()}}
    with tf_capi.SavedModelSession(model["dir"], ["serve"]) as session:
        out["capi"] = {key: {k: encode(v) for k, v in session.run_signature(key, feeds).items()}
                       for key, feeds in values.items()}
    with tf.compat.v1.Session(graph=tf.Graph()) as sess:
        meta = tf.compat.v1.saved_model.load(sess, ["serve"], model["dir"])
        out["v1"] = {}
        for key, feeds in values.items():
            sig = meta.signature_def[key]
            names = sorted(sig.outputs)
            got = sess.run([sig.outputs[n].name for n in names],
                           {sig.inputs[k].name: v for k, v in feeds.items()})
            out["v1"][key] = {n: encode(v) for n, v in zip(names, got)}
    return out


def main():
    results = {}
    for model in SPEC.get("multi", []):
        results[model["name"]] = guarded(every_signature, model)
    clis = {m["name"]: guarded(start_cli, m) for m in SPEC["models"]}
    for model in SPEC["models"]:
        results[model["name"]] = {
            "tf2": guarded(tf2_load, model), "resave": guarded(resave, model),
            "tfsm": guarded(keras_tfsm, model), "hub": guarded(hub_layer, model),
            "tflite": guarded(tflite, model), "capi": guarded(capi, model),
            "v1": guarded(v1, model)}
    if SPEC.get("text_file_twin"):
        results["text_file_twin"] = guarded(text_file_twin, SPEC["text_file_twin"])
    if SPEC.get("twin"):
        results["twin"] = guarded(twin, SPEC["twin"])
    for name, started in clis.items():
        results[name]["cli"] = started if isinstance(started, dict) else guarded(
            finish_cli, started)
    print(json.dumps(results))


main()
