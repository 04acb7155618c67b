"""ctypes access to TensorFlow's C API: load a SavedModel the way TF Serving does.

Runs only INSIDE the TensorFlow venv (imported by interop subprocess scripts).
TensorFlow is imported solely to locate ``libtensorflow_cc.so.2``; everything
else goes through the C API (``TF_LoadSessionFromSavedModel`` runs the C++
loader: restore op, asset feeds, init op), see docs/format/savedmodel.md
("Testing against TensorFlow").

Usage::

    with SavedModelSession(export_dir, ["serve"]) as sess:
        outputs = sess.run_signature("serving_default", {"x": array})

The loaded MetaGraphDef is parsed with TensorFlow's own protobuf classes so the
harness does not depend on the project's schema.
"""

from __future__ import annotations

import ctypes
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

TF_OK = 0
DT_STRING = 7
TSTRING_SIZE = 24
"""sizeof(TF_TString) on 64-bit platforms: each string tensor element."""

# TF_DataType numbers (tensorflow/c/tf_datatype.h) for the element types the
# harness feeds and fetches.
_NUMPY_BY_TF_TYPE: dict[int, np.dtype[Any]] = {
    1: np.dtype("<f4"), 2: np.dtype("<f8"), 3: np.dtype("<i4"), 4: np.dtype("u1"),
    5: np.dtype("<i2"), 6: np.dtype("i1"), 9: np.dtype("<i8"), 10: np.dtype("?"),
    17: np.dtype("<u2"), 19: np.dtype("<f2"), 22: np.dtype("<u4"), 23: np.dtype("<u8"),
}


class TFCapiError(RuntimeError):
    """A non-OK TF_Status: ``code`` is TF's error code, the message is TF's."""

    def __init__(self, what: str, code: int, message: str) -> None:
        super().__init__(f"{what} failed (TF code {code}): {message}")
        self.code = code
        self.tf_message = message


class TF_Buffer(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("length", ctypes.c_size_t),
                ("data_deallocator", ctypes.c_void_p)]


class TF_Output(ctypes.Structure):
    _fields_ = [("oper", ctypes.c_void_p), ("index", ctypes.c_int)]


_P = ctypes.c_void_p
_SIGNATURES: dict[str, tuple[Any, Sequence[Any]]] = {
    "TF_NewStatus": (_P, ()),
    "TF_DeleteStatus": (None, (_P,)),
    "TF_GetCode": (ctypes.c_int, (_P,)),
    "TF_Message": (ctypes.c_char_p, (_P,)),
    "TF_NewGraph": (_P, ()),
    "TF_DeleteGraph": (None, (_P,)),
    "TF_NewSessionOptions": (_P, ()),
    "TF_DeleteSessionOptions": (None, (_P,)),
    "TF_NewBuffer": (ctypes.POINTER(TF_Buffer), ()),
    "TF_DeleteBuffer": (None, (ctypes.POINTER(TF_Buffer),)),
    "TF_LoadSessionFromSavedModel": (
        _P, (_P, _P, ctypes.c_char_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int,
             _P, ctypes.POINTER(TF_Buffer), _P)),
    "TF_CloseSession": (None, (_P, _P)),
    "TF_DeleteSession": (None, (_P, _P)),
    "TF_GraphOperationByName": (_P, (_P, ctypes.c_char_p)),
    "TF_OperationNumOutputs": (ctypes.c_int, (_P,)),
    "TF_SessionRun": (
        None, (_P, _P, ctypes.POINTER(TF_Output), ctypes.POINTER(_P), ctypes.c_int,
               ctypes.POINTER(TF_Output), ctypes.POINTER(_P), ctypes.c_int,
               ctypes.POINTER(_P), ctypes.c_int, _P, _P)),
    "TF_AllocateTensor": (_P, (ctypes.c_int, ctypes.POINTER(ctypes.c_int64), ctypes.c_int,
                               ctypes.c_size_t)),
    "TF_DeleteTensor": (None, (_P,)),
    "TF_TensorType": (ctypes.c_int, (_P,)),
    "TF_TensorData": (_P, (_P,)),
    "TF_TensorByteSize": (ctypes.c_size_t, (_P,)),
    "TF_NumDims": (ctypes.c_int, (_P,)),
    "TF_Dim": (ctypes.c_int64, (_P, ctypes.c_int)),
    "TF_StringInit": (None, (_P,)),
    "TF_StringCopy": (None, (_P, ctypes.c_char_p, ctypes.c_size_t)),
    "TF_StringGetDataPointer": (_P, (_P,)),
    "TF_StringGetSize": (ctypes.c_size_t, (_P,)),
}

_lib: ctypes.CDLL | None = None


def library_path() -> str:
    """Path of ``libtensorflow_cc.so.2`` inside the installed tensorflow package."""
    import tensorflow as tf  # loads the framework libraries the C API depends on

    path = os.path.join(os.path.dirname(tf.__file__), "libtensorflow_cc.so.2")
    if not os.path.exists(path):
        raise FileNotFoundError(f"TensorFlow's C API library not found at {path}")
    return path


def lib() -> ctypes.CDLL:
    """The C API library with argument/return types declared (loaded once)."""
    global _lib
    if _lib is None:
        handle = ctypes.CDLL(library_path(), mode=ctypes.RTLD_GLOBAL)
        for name, (restype, argtypes) in _SIGNATURES.items():
            fn = getattr(handle, name)
            fn.restype = restype
            fn.argtypes = list(argtypes)
        _lib = handle
    return _lib


class _Status:
    """A TF_Status owned by Python; :meth:`check` raises on a non-OK code."""

    def __init__(self) -> None:
        self.ptr = lib().TF_NewStatus()

    def check(self, what: str) -> None:
        code = lib().TF_GetCode(self.ptr)
        if code != TF_OK:
            message = (lib().TF_Message(self.ptr) or b"").decode("utf-8", "replace")
            raise TFCapiError(what, code, message)

    def __del__(self) -> None:
        if getattr(self, "ptr", None) and _lib is not None:
            _lib.TF_DeleteStatus(self.ptr)
            self.ptr = None


def split_tensor_name(name: str) -> tuple[str, int]:
    """``"op:1"`` -> ("op", 1); ``"op"`` -> ("op", 0)."""
    op, sep, index = name.rpartition(":")
    if sep and index.isdigit():
        return op, int(index)
    return name, 0


def numpy_to_tensor(value: Any, tf_type: int) -> int:
    """A new TF_Tensor (caller deletes it) holding ``value`` as TF type ``tf_type``."""
    api = lib()
    if tf_type == DT_STRING:
        items = np.asarray(value, dtype=object)
        flat = [x if isinstance(x, bytes) else str(x).encode("utf-8") for x in items.reshape(-1)]
        dims = (ctypes.c_int64 * max(items.ndim, 1))(*items.shape)
        tensor = api.TF_AllocateTensor(DT_STRING, dims, items.ndim, TSTRING_SIZE * len(flat))
        base = api.TF_TensorData(tensor)
        for i, item in enumerate(flat):
            element = base + i * TSTRING_SIZE
            api.TF_StringInit(element)
            api.TF_StringCopy(element, item, len(item))
        return tensor
    dtype = _NUMPY_BY_TF_TYPE.get(tf_type)
    if dtype is None:
        raise TypeError(f"tf_capi cannot feed TF_DataType {tf_type}")
    # order="C", not ascontiguousarray: that one turns a 0-d scalar into shape [1].
    array = np.asarray(value, dtype=dtype, order="C")
    dims = (ctypes.c_int64 * max(array.ndim, 1))(*array.shape)
    tensor = api.TF_AllocateTensor(tf_type, dims, array.ndim, array.nbytes)
    if array.nbytes:
        ctypes.memmove(api.TF_TensorData(tensor), array.ctypes.data, array.nbytes)
    return tensor


def tensor_to_numpy(tensor: int) -> np.ndarray:
    """Copy a TF_Tensor's contents into a numpy array (strings -> object array of bytes)."""
    api = lib()
    shape = tuple(api.TF_Dim(tensor, i) for i in range(api.TF_NumDims(tensor)))
    tf_type = api.TF_TensorType(tensor)
    count = int(np.prod(shape, dtype=np.int64))
    base = api.TF_TensorData(tensor)
    if tf_type == DT_STRING:
        out = np.empty(count, dtype=object)
        for i in range(count):
            element = base + i * TSTRING_SIZE
            size = api.TF_StringGetSize(element)
            data = api.TF_StringGetDataPointer(element)
            out[i] = ctypes.string_at(data, size) if size else b""
        return out.reshape(shape)
    dtype = _NUMPY_BY_TF_TYPE.get(tf_type)
    if dtype is None:
        raise TypeError(f"tf_capi cannot read TF_DataType {tf_type}")
    nbytes = api.TF_TensorByteSize(tensor)
    raw = ctypes.string_at(base, nbytes) if nbytes else b""
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()


class SavedModelSession:
    """A session created by the C++ SavedModel loader (``TF_LoadSessionFromSavedModel``)."""

    def __init__(self, export_dir: str | os.PathLike[str], tags: Sequence[str]) -> None:
        from tensorflow.core.protobuf import meta_graph_pb2

        api = lib()
        self.export_dir = os.fspath(export_dir)
        self.tags = list(tags)
        self.graph = api.TF_NewGraph()
        self.session: int | None = None
        options = api.TF_NewSessionOptions()
        buffer = api.TF_NewBuffer()
        status = _Status()
        try:
            tag_array = (ctypes.c_char_p * max(len(self.tags), 1))(*[t.encode() for t in self.tags])
            self.session = api.TF_LoadSessionFromSavedModel(
                options, None, self.export_dir.encode(), tag_array, len(self.tags),
                self.graph, buffer, status.ptr)
            status.check(f"TF_LoadSessionFromSavedModel({self.export_dir!r}, tags={self.tags})")
            loaded = buffer.contents
            self.meta_graph_def_bytes = ctypes.string_at(loaded.data, loaded.length)
        except BaseException:
            self.close()
            raise
        finally:
            api.TF_DeleteBuffer(buffer)
            api.TF_DeleteSessionOptions(options)
        self.meta_graph_def = meta_graph_pb2.MetaGraphDef.FromString(self.meta_graph_def_bytes)

    def _output(self, tensor_name: str) -> TF_Output:
        op_name, index = split_tensor_name(tensor_name)
        oper = lib().TF_GraphOperationByName(self.graph, op_name.encode())
        if not oper:
            raise KeyError(f"no operation {op_name!r} in the loaded graph")
        if index >= lib().TF_OperationNumOutputs(oper):
            raise KeyError(f"operation {op_name!r} has no output {index}")
        return TF_Output(oper, index)

    def run(self, feeds: Mapping[str, tuple[Any, int]], fetches: Sequence[str],
            targets: Sequence[str] = ()) -> list[np.ndarray]:
        """``TF_SessionRun``: feeds map tensor name -> (value, TF_DataType)."""
        api = lib()
        if self.session is None:
            raise RuntimeError("session is closed")
        names = list(feeds)
        inputs = (TF_Output * max(len(names), 1))(*[self._output(n) for n in names])
        input_values = (_P * max(len(names), 1))()
        outputs = (TF_Output * max(len(fetches), 1))(*[self._output(n) for n in fetches])
        output_values = (_P * max(len(fetches), 1))()
        target_opers = (_P * max(len(targets), 1))()
        for i, target in enumerate(targets):
            oper = api.TF_GraphOperationByName(self.graph, split_tensor_name(target)[0].encode())
            if not oper:
                raise KeyError(f"no operation {target!r} in the loaded graph")
            target_opers[i] = oper
        status = _Status()
        try:
            for i, name in enumerate(names):
                value, tf_type = feeds[name]
                input_values[i] = numpy_to_tensor(value, tf_type)
            api.TF_SessionRun(self.session, None, inputs, input_values, len(names),
                              outputs, output_values, len(fetches), target_opers, len(targets),
                              None, status.ptr)
            status.check(f"TF_SessionRun(fetches={list(fetches)})")
            return [tensor_to_numpy(output_values[i]) for i in range(len(fetches))]
        finally:
            for i in range(len(names)):
                if input_values[i]:
                    api.TF_DeleteTensor(input_values[i])
            for i in range(len(fetches)):
                if output_values[i]:
                    api.TF_DeleteTensor(output_values[i])

    def run_signature(self, key: str, inputs: Mapping[str, Any]) -> dict[str, np.ndarray]:
        """Run signature ``key`` of the loaded MetaGraphDef; returns {output key: array}."""
        signatures = self.meta_graph_def.signature_def
        if key not in signatures:
            raise KeyError(f"no signature {key!r}; have {sorted(signatures)}")
        signature = signatures[key]
        if set(inputs) != set(signature.inputs):
            raise KeyError(f"signature {key!r} takes inputs {sorted(signature.inputs)}, "
                           f"got {sorted(inputs)}")
        feeds = {signature.inputs[k].name: (value, signature.inputs[k].dtype)
                 for k, value in inputs.items()}
        keys = sorted(signature.outputs)
        values = self.run(feeds, [signature.outputs[k].name for k in keys])
        return dict(zip(keys, values))

    def close(self) -> None:
        """TF_CloseSession + TF_DeleteSession + TF_DeleteGraph (idempotent)."""
        api = lib()
        if self.session:
            status = _Status()
            api.TF_CloseSession(self.session, status.ptr)
            close_status = status
            status = _Status()
            api.TF_DeleteSession(self.session, status.ptr)
            self.session = None
            close_status.check("TF_CloseSession")
            status.check("TF_DeleteSession")
        if self.graph:
            api.TF_DeleteGraph(self.graph)
            self.graph = None

    def __enter__(self) -> SavedModelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
