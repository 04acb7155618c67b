"""Names the SavedModel format fixes: TensorFlow's loaders look for exactly these.

One place for the file and directory names, collection keys, reserved signature
keys and TF Serving method names that the builder writes and the readers
(loader, describe, validate) look up.
"""

from __future__ import annotations

from typing import Final

SAVED_MODEL_SCHEMA_VERSION: Final = 1
SAVED_MODEL_FILENAME_PB: Final = "saved_model.pb"
SAVED_MODEL_FILENAME_PBTXT: Final = "saved_model.pbtxt"
VARIABLES_DIRECTORY: Final = "variables"
VARIABLES_FILENAME: Final = "variables"
ASSETS_DIRECTORY: Final = "assets"
FINGERPRINT_FILENAME: Final = "fingerprint.pb"

ASSETS_COLLECTION: Final = "saved_model_assets"
ASSET_FILE_DEF_TYPE_URL: Final = "type.googleapis.com/tensorflow.AssetFileDef"
MAIN_OP_COLLECTION: Final = "saved_model_main_op"
LEGACY_INIT_OP_COLLECTION: Final = "legacy_init_op"
TRAIN_OP_COLLECTION: Final = "saved_model_train_op"
VARIABLES_COLLECTION: Final = "variables"
TRAINABLE_VARIABLES_COLLECTION: Final = "trainable_variables"

INIT_OP_SIGNATURE_KEY: Final = "__saved_model_init_op"
TRAIN_OP_SIGNATURE_KEY: Final = "__saved_model_train_op"
RESERVED_SIGNATURE_KEYS: Final = (INIT_OP_SIGNATURE_KEY, TRAIN_OP_SIGNATURE_KEY)
"""Signature keys that hold the init and train ops, not model signatures."""
DEFAULT_SERVING_SIGNATURE_DEF_KEY: Final = "serving_default"

PREDICT_METHOD_NAME: Final = "tensorflow/serving/predict"
CLASSIFY_METHOD_NAME: Final = "tensorflow/serving/classify"
REGRESS_METHOD_NAME: Final = "tensorflow/serving/regress"
