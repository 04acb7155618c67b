"""The pysavedmodel error family.

Every error the library raises on purpose derives from :class:`Error`, and
from the builtin exception a caller would naturally catch (``ValueError`` for
bad input, ``FileNotFoundError`` for a missing file...), so both
``except pysavedmodel.Error`` and ``except ValueError`` work.
"""

from __future__ import annotations

__all__ = [
    "Error",
    "InvalidArgumentError",
    "UnsupportedDTypeError",
    "NotFoundError",
    "AlreadyExistsError",
    "CorruptCheckpointError",
    "ChecksumError",
    "GraphError",
    "OpError",
    "SignatureError",
    "FormatError",
    "BuilderStateError",
    "CorruptSavedModelError",
    "MissingDependencyError",
    "StorageError",
    "UnsupportedError",
    "ModelError",
]


class Error(Exception):
    """Base class of every error pysavedmodel raises on purpose."""


class InvalidArgumentError(Error, ValueError):
    """A value given to the API is not what it expects."""


class UnsupportedDTypeError(InvalidArgumentError, TypeError):
    """A dtype that the format or the operation cannot hold."""


class NotFoundError(Error, KeyError, FileNotFoundError):
    """A file, tensor, node or key that does not exist."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class AlreadyExistsError(Error, FileExistsError):
    """A destination that must not exist (or must be empty) does."""


class CorruptCheckpointError(Error, ValueError):
    """A checkpoint file whose bytes are not a valid TensorBundle."""


class ChecksumError(CorruptCheckpointError):
    """Stored and computed CRC32C checksums differ."""


class GraphError(InvalidArgumentError):
    """A graph that is not well formed (names, inputs, cycles, attrs)."""


class OpError(GraphError):
    """A node that does not match its op's definition."""


class SignatureError(InvalidArgumentError):
    """A SignatureDef that TensorFlow's loaders or TF Serving would reject."""


class FormatError(InvalidArgumentError):
    """An export the requested SavedModel format cannot express (a train op, a second
    meta graph or a non-placeholder signature input in a TF2 export...);
    ``format="auto"`` writes such an export TF1-style instead."""


class BuilderStateError(Error, RuntimeError):
    """A SavedModelBuilder method called out of order."""


class CorruptSavedModelError(Error, ValueError):
    """A saved_model.pb / saved_model.pbtxt whose bytes are not a valid SavedModel."""


class MissingDependencyError(Error, ImportError):
    """An optional extra (torch, onnx, fsspec...) is needed and is not installed.

    The message names the ``pip install 'pysavedmodel[extra]'`` that provides it.
    """


class UnsupportedError(Error, NotImplementedError):
    """A valid input that pysavedmodel cannot handle (an ONNX op, attribute or opset it lacks)."""


class ModelError(InvalidArgumentError):
    """A model given for conversion (an ONNX file) is malformed, inconsistent or unsafe."""


class StorageError(Error, OSError):
    """Writing to the target failed: no space left, a read-only filesystem, no permission.

    Keeps the ``errno`` of the underlying ``OSError``; the message names the path.
    Nothing half-written is left behind.
    """
