"""The names in pysavedmodel.constants are the ones TensorFlow's SavedModel code uses."""

from __future__ import annotations

from pysavedmodel import constants
from tests.support.tf import run_tf

SCRIPT = """
import json
import tensorflow as tf
from tensorflow.core.protobuf import meta_graph_pb2
from tensorflow.python.saved_model import constants as c, signature_constants as s
from tensorflow.python.saved_model.pywrap_saved_model import constants as pc
print(json.dumps({
    "SAVED_MODEL_SCHEMA_VERSION": c.SAVED_MODEL_SCHEMA_VERSION,
    "SAVED_MODEL_FILENAME_PB": c.SAVED_MODEL_FILENAME_PB,
    "SAVED_MODEL_FILENAME_PBTXT": c.SAVED_MODEL_FILENAME_PBTXT,
    "VARIABLES_DIRECTORY": c.VARIABLES_DIRECTORY,
    "VARIABLES_FILENAME": c.VARIABLES_FILENAME,
    "ASSETS_DIRECTORY": c.ASSETS_DIRECTORY,
    "FINGERPRINT_FILENAME": pc.FINGERPRINT_FILENAME,
    "ASSETS_COLLECTION": c.ASSETS_KEY,
    "MAIN_OP_COLLECTION": c.MAIN_OP_KEY,
    "LEGACY_INIT_OP_COLLECTION": c.LEGACY_INIT_OP_KEY,
    "TRAIN_OP_COLLECTION": c.TRAIN_OP_KEY,
    "INIT_OP_SIGNATURE_KEY": c.INIT_OP_SIGNATURE_KEY,
    "TRAIN_OP_SIGNATURE_KEY": c.TRAIN_OP_SIGNATURE_KEY,
    "DEFAULT_SERVING_SIGNATURE_DEF_KEY": s.DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    "PREDICT_METHOD_NAME": s.PREDICT_METHOD_NAME,
    "CLASSIFY_METHOD_NAME": s.CLASSIFY_METHOD_NAME,
    "REGRESS_METHOD_NAME": s.REGRESS_METHOD_NAME,
    "VARIABLES_COLLECTION": tf.compat.v1.GraphKeys.GLOBAL_VARIABLES,
    "TRAINABLE_VARIABLES_COLLECTION": tf.compat.v1.GraphKeys.TRAINABLE_VARIABLES,
    "ASSET_FILE_DEF_TYPE_URL":
        "type.googleapis.com/" + meta_graph_pb2.AssetFileDef.DESCRIPTOR.full_name,
}))
"""


def test_constants_match_tensorflow() -> None:
    theirs = run_tf(SCRIPT, pythonpath=False)
    ours = {name: getattr(constants, name) for name in theirs}
    assert ours == theirs
    assert constants.RESERVED_SIGNATURE_KEYS == (theirs["INIT_OP_SIGNATURE_KEY"],
                                                 theirs["TRAIN_OP_SIGNATURE_KEY"])
