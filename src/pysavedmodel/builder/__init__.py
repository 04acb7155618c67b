"""SavedModel building: the builder, the saver subgraph, signatures, assets."""

from __future__ import annotations

from .builder import SavedModelBuilder
from .signatures import (
    CLASSIFY_METHOD_NAME,
    DEFAULT_SERVING_SIGNATURE_DEF_KEY,
    PREDICT_METHOD_NAME,
    REGRESS_METHOD_NAME,
    build_signature_def,
    classification_signature_def,
    predict_signature_def,
    regression_signature_def,
)

__all__ = [
    "SavedModelBuilder", "build_signature_def", "classification_signature_def",
    "predict_signature_def", "regression_signature_def", "PREDICT_METHOD_NAME",
    "CLASSIFY_METHOD_NAME", "REGRESS_METHOD_NAME", "DEFAULT_SERVING_SIGNATURE_DEF_KEY",
]
