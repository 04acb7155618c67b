"""SavedModel ``fingerprint.pb``: the FingerprintDef TF 2.21 writes beside ``saved_model.pb``.

Wire format: one serialized ``tensorflow.FingerprintDef`` (fingerprint.proto):

==  ========================  ===================================================
#   field                     value (all hashes FarmHash Fingerprint64, uint64)
==  ========================  ===================================================
1   saved_model_checksum      hash of the SavedModel proto serialized
                              deterministically as C++ does it (map entries
                              sorted by key, integer keys numerically; Python's
                              upb backend orders integer keys otherwise, so
                              the bytes are re-ordered before hashing)
2   graph_def_program_hash    hash of meta_graphs[0].graph_def after
                              regularization (below), serialized deterministically
3   signature_def_hash        fold (``FingerprintCat64``, from 0) over the
                              signature_def map in key order of
                              hash(key), then hash(deterministic SignatureDef)
4   saved_object_graph_hash   fold over object_graph_def.concrete_functions in
                              order of the integer UID each name ends with
                              (``..._<uid>``) of hash(name without the uid
                              digits), then hash(deterministic
                              SavedConcreteFunction); 0 with no functions
5   checkpoint_hash           hash of the bytes of variables/variables.index,
                              0 when there is none
6   version                   VersionDef; TF 2.21 writes ``producer: 4``
7   uuid                      a random 128-bit integer in decimal; differs on
                              every save, so it is the one field that is not a
                              function of the files
==  ========================  ===================================================

Graph regularization: for PartitionedCall / StatefulPartitionedCall nodes the
``f`` attr's function name loses its UID digits (when it ends with ``_<int>``)
and the ``config_proto`` attr's string is emptied; Const nodes of dtype
DT_STRING have their ``value`` attr cleared; the function library and the
``versions`` field are cleared but stay present (serialized as empty messages).

A concrete-function name that does not end in ``_<integer>`` makes TensorFlow's
fingerprinting fail, so :func:`compute_fingerprint` refuses it the same way.
"""

from __future__ import annotations

import os
import re
from operator import itemgetter
from pathlib import Path
from typing import Any

from google.protobuf.descriptor import FieldDescriptor

from .._proto import fingerprint_pb2, graph_pb2, saved_model_pb2, types_pb2
from ..errors import InvalidArgumentError
from .farmhash import fingerprint64, fingerprint_cat64

__all__ = ["FINGERPRINT_PRODUCER", "compute_fingerprint", "checkpoint_hash",
           "regularize_graph_def", "suffix_uid", "stable_uuid"]

FINGERPRINT_PRODUCER = 4
"""``version.producer`` TensorFlow 2.21 writes into fingerprint.pb."""

_CALL_OPS = frozenset({"PartitionedCall", "StatefulPartitionedCall"})
_UID = re.compile(r"\s*[+-]?[0-9]+\s*")


def suffix_uid(function_name: str) -> int:
    """The integer after the last ``_`` of a concrete-function name.

    Raises InvalidArgumentError when the name does not end in an integer, as
    TensorFlow's fingerprinting does.
    """
    last = function_name.split("_")[-1]
    if not _UID.fullmatch(last):
        raise InvalidArgumentError(
            f"function name {function_name!r} does not end in an integer "
            f"(expected a name like '__inference_serve_42')")
    return int(last)


def _strip_uid(name: str, uid: int) -> str:
    text = str(uid)
    return name[: -len(text)] if name.endswith(text) else name


def regularize_graph_def(graph_def: graph_pb2.GraphDef) -> graph_pb2.GraphDef:
    """A copy of ``graph_def`` regularized the way TF does before hashing it."""
    out = graph_pb2.GraphDef()
    for field, value in graph_def.ListFields():  # all but the library (not copied)
        if field.name in ("library", "versions"):
            continue
        if hasattr(value, "extend"):  # repeated (node)
            getattr(out, field.name).extend(value)
        elif field.message_type is not None:
            getattr(out, field.name).CopyFrom(value)
        else:
            setattr(out, field.name, value)
    for node in out.node:
        if node.op in _CALL_OPS:
            if "f" in node.attr:
                func = node.attr["f"].func
                try:
                    func.name = _strip_uid(func.name, suffix_uid(func.name))
                except InvalidArgumentError:
                    pass
            if "config_proto" in node.attr:
                node.attr["config_proto"].s = b""
        if (node.op == "Const" and "value" in node.attr and "dtype" in node.attr
                and node.attr["dtype"].type == types_pb2.DT_STRING):
            node.attr["value"].ClearField("value")
    # TF clears both through their mutable accessors, which marks them present: the
    # hashed bytes hold an empty ``library`` and an empty ``versions`` field.
    out.ClearField("library")
    out.ClearField("versions")
    out.library.SetInParent()
    out.versions.SetInParent()
    return out


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """``(field number, wire type, start, payload start, end)`` of each field (the
    payload start is meaningful for length-delimited fields)."""
    out = []
    pos = 0
    size = len(data)
    while pos < size:
        start = pos
        tag = data[pos]
        pos += 1
        if tag >= 0x80:
            tag, pos = _varint(data, start)
        wire = tag & 7
        body = pos
        if wire == 0:
            while data[pos] >= 0x80:
                pos += 1
            pos += 1
        elif wire == 2:
            length = data[pos]
            pos += 1
            if length >= 0x80:
                length, pos = _varint(data, body)
            body = pos
            pos += length
        elif wire == 1:
            pos += 8
        elif wire == 5:
            pos += 4
        else:
            raise InvalidArgumentError(f"unexpected protobuf wire type {wire} while hashing")
        out.append((tag >> 3, wire, start, body, pos))
    return out


def _int_key(data: bytes, pos: int, signed: bool) -> int:
    """The integer map key whose varint starts at ``pos`` (two's complement when signed)."""
    value, _ = _varint(data, pos)
    return value - (1 << 64) if signed and value >= 1 << 63 else value


def _map_key(entry: bytes, signed: bool) -> tuple[int, bytes]:
    if len(entry) > 1 and entry[0] == 0x0A and entry[1] < 0x80:  # a short string key first
        return 0, entry[2:2 + entry[1]]
    for number, wire, _start, body, end in _fields(entry):
        if number == 1:
            if wire == 0:
                return _int_key(entry, body, signed), b""
            return 0, entry[body:end]
    return 0, b""


_REORDERED: dict[Any, bool] = {}
"""By message descriptor (hashable, one object per type): read per message hashed."""


def _may_reorder(descriptor: Any) -> bool:
    """Whether a message of this type can hold a map (directly or in any message
    reachable from it): only maps are ordered differently by upb and C++, so
    :func:`_cpp_order` leaves other messages (tensors, shapes...) as they are."""
    known = _REORDERED.get(descriptor)
    if known is not None:
        return known
    seen = {descriptor.full_name}
    stack = [descriptor]
    found = False
    while stack and not found:
        for field in stack.pop().fields:
            sub = field.message_type
            if sub is None:
                continue
            if sub.GetOptions().map_entry:
                found = True
                break
            if sub.full_name not in seen:
                seen.add(sub.full_name)
                stack.append(sub)
    _REORDERED[descriptor] = found
    return found


_SIGNED_KEYS = (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64,
                FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64,
                FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64)
_PLANS: dict[Any, dict[int, tuple[Any, bool, bool]]] = {}


def _plan(descriptor: Any) -> dict[int, tuple[Any, bool, bool]]:
    """Per field number of a message type whose sub-messages may hold maps:
    ``(sub-message type, is a map, map key is signed)``."""
    plan = _PLANS.get(descriptor)
    if plan is None:
        plan = {}
        for field in descriptor.fields:
            sub = field.message_type
            if sub is None:
                continue
            is_map = bool(sub.GetOptions().map_entry)
            if is_map or _may_reorder(sub):
                signed = is_map and sub.fields_by_number[1].type in _SIGNED_KEYS
                plan[field.number] = (sub, is_map, signed)
        _PLANS[descriptor] = plan
    return plan


_FIRST_PLANNED: dict[Any, int] = {}


def _first_planned(descriptor: Any) -> int:
    """The lowest field number of a message type that :func:`_cpp_order` may change."""
    first = _FIRST_PLANNED.get(descriptor)
    if first is None:
        plan = _plan(descriptor)
        first = _FIRST_PLANNED[descriptor] = min(plan) if plan else 1 << 29
    return first


def _leading_end(data: bytes, first: int) -> int:
    """The offset of the first field numbered ``first`` or above (the serialization
    lists fields by number, so what comes before cannot move)."""
    for number, _wire, start, _body, _end in _fields(data):
        if number >= first:
            return start
    return len(data)


_MEMO_LIMIT = 512
"""Payloads up to this many bytes are remembered per message type during one
:func:`_det` call: graphs repeat the same attr entries (``T``, ``dtype``,
``_output_shapes``...) thousands of times."""


def _cpp_order(data: bytes, descriptor: Any,
               memo: dict[Any, dict[bytes, tuple[bytes, Any]]]) -> bytes:
    """Re-order map entries of a serialized message the way C++'s deterministic
    serialization orders them: by key ascending, compared as C++ compares them
    (integer keys numerically, string keys bytewise with a prefix first); Python's upb
    backend orders integer keys, and string keys one of which is a prefix of the other
    (``config`` / ``config_proto``), otherwise, so its bytes hash differently.
    ``memo`` maps a message type to ``{payload: (re-ordered payload, map key or None)}``
    for short payloads already seen (and ``(type, "rest")`` to the same for what
    follows a message's leading fields, :func:`_with_lead`).  Returns ``data`` itself
    when nothing moves (most messages): pieces are collected only from the first change
    on."""
    if not _may_reorder(descriptor):
        return data
    first_planned = _first_planned(descriptor)
    if first_planned > 1:
        ordered = _with_lead(data, 0, len(data), descriptor, first_planned,
                             _rests(memo, descriptor), memo)
        return data if ordered is None else ordered
    return _reorder_fields(data, descriptor, memo)


def _rests(memo: dict[Any, dict[bytes, tuple[bytes, Any]]],
           descriptor: Any) -> dict[bytes, tuple[bytes, Any]]:
    rests = memo.get((descriptor, "rest"))  # apart from whole payloads of the type
    if rests is None:
        rests = memo[(descriptor, "rest")] = {}
    return rests


def _with_lead(data: bytes, start: int, end: int, descriptor: Any, first_planned: int,
               rests: dict[bytes, tuple[bytes, Any]],
               memo: dict[Any, dict[bytes, tuple[bytes, Any]]]) -> bytes | None:
    """:func:`_cpp_order` of the message ``data[start:end]``, whose fields numbered below
    ``first_planned`` (a NodeDef's name, op, inputs and device) cannot move: they stay,
    and the rest (its attrs), which repeats across messages, is remembered by its bytes
    in ``rests`` (:func:`_rests`), whatever the length of the whole message.  Returns
    the re-ordered message, or None when nothing moves (the message is not copied)."""
    # The common lead: one-byte tags of length-delimited fields, lengths below 128.
    lead = start
    limit = first_planned << 3
    while lead < end:
        tag = data[lead]
        if tag >= limit:
            break
        if tag >= 0x80 or tag & 7 != 2 or data[lead + 1] >= 0x80:
            # anything else (rare): a full walk
            lead = start + _leading_end(data[start:end], first_planned)
            break
        lead += 2 + data[lead + 1]
    if lead == start:
        message = data[start:end]
        ordered = _reorder_fields(message, descriptor, memo)
        return None if ordered is message else ordered
    rest = data[lead:end]
    known = rests.get(rest)
    if known is None:
        ordered = _reorder_fields(rest, descriptor, memo)
        known = (ordered, ordered is rest)  # (re-ordered rest, whether unchanged)
        if len(rest) <= _MEMO_LIMIT:
            rests[rest] = known
    return None if known[1] else data[start:lead] + known[0]


def _one_still_field(data: bytes, start: int, plan: dict[int, Any]) -> bool:
    """Whether ``data[start:]`` is one short field (a one-byte tag; a varint of up to
    two bytes, or up to 127 bytes of payload) that ``plan`` does not list, so nothing
    in it can move."""
    size = len(data) - start
    if size < 2:
        return False
    tag = data[start]
    if tag >= 0x80 or tag >> 3 in plan:
        return False
    wire = tag & 7
    if wire == 2:
        return data[start + 1] < 0x80 and 2 + data[start + 1] == size
    if wire == 0:
        return data[-1] < 0x80 and (size == 2 or (size == 3 and data[start + 1] >= 0x80))
    return False


_VALUE_TYPES: dict[Any, Any] = {}


def _value_type(entry: Any) -> Any:
    """The value type of a map entry type when its values may need re-ordering, else None."""
    try:
        return _VALUE_TYPES[entry]
    except KeyError:
        value = entry.fields_by_number[2].message_type
        found = _VALUE_TYPES[entry] = value if value is not None and _may_reorder(value) \
            else None
        return found


def _map_entry(payload: bytes, entry: Any, signed: bool,
               memo: dict[Any, dict[bytes, tuple[bytes, Any]]]) -> tuple[bytes, Any] | None:
    """:func:`_cpp_order` of one map entry and its key (as :func:`_map_key`) for the
    layout upb writes, ``key`` (a string or varint, short) then ``value`` ending the
    entry, without walking it field by field; None for any other layout."""
    size = len(payload)
    tag = payload[0] if size > 1 else 0
    if tag == 0x0A:  # a string key
        length = payload[1]
        pos = 2 + length
        if length >= 0x80 or pos > size:
            return None
        key: Any = (0, payload[2:pos])
    elif tag == 0x08:  # an integer key
        pos = 1
        while pos < size and payload[pos] >= 0x80:
            pos += 1
        pos += 1
        if pos > size:
            return None
        key = (_int_key(payload, 1, signed), b"")
    else:
        return None
    value_type = _value_type(entry)
    if pos == size or value_type is None:
        return payload, key
    if payload[pos] != 0x12:
        return None
    start = pos + 1
    length = payload[start]
    start += 1
    if length >= 0x80:
        length, start = _varint(payload, pos + 1)
    if start + length != size:
        return None
    if _one_still_field(payload, start, _plan(value_type)):
        return payload, key
    value_bytes = payload[start:]
    seen = memo.get(value_type)
    if seen is None:
        seen = memo[value_type] = {}
    known = seen.get(value_bytes)
    if known is None:
        known = (_cpp_order(value_bytes, value_type, memo), None)
        if length <= _MEMO_LIMIT:
            seen[value_bytes] = known
    ordered = known[0]
    return (payload if ordered == value_bytes else payload[:start] + ordered), key


def _reorder_fields(data: bytes, descriptor: Any,
                    memo: dict[Any, dict[bytes, tuple[bytes, Any]]]) -> bytes:
    """:func:`_cpp_order`'s walk over every field of a message that may hold maps."""
    plan = _plan(descriptor)
    if _one_still_field(data, 0, plan):
        return data  # one short field that cannot move (an AttrValue's s, type, shape...)
    fields = _fields(data)
    out: list[bytes] | None = None
    i = 0
    count = len(fields)
    while i < count:
        number, wire, first, _body, end = fields[i]
        entry = plan.get(number) if wire == 2 else None
        if entry is None:
            if out is not None:
                out.append(data[first:end])
            i += 1
            continue
        sub, is_map, signed = entry
        seen = memo.get(sub)
        if seen is None:
            seen = memo[sub] = {}
        j = i
        if not is_map:
            # A run of messages (a GraphDef's nodes...): each is rewritten in place, or
            # kept; their order stays.  Messages with leading fields that cannot move
            # are unique as a whole (a NodeDef by its name) but repeat in the rest: no
            # whole-payload memo for them.
            sub_first = _first_planned(sub)
            sub_rests = _rests(memo, sub) if sub_first > 1 else seen
            while j < count:
                field = fields[j]
                if field[0] != number:
                    break
                start, body, end = field[2], field[3], field[4]
                if sub_first > 1:
                    ordered = _with_lead(data, body, end, sub, sub_first, sub_rests, memo)
                else:
                    payload = data[body:end]
                    known = seen.get(payload)
                    if known is None:
                        known = (_cpp_order(payload, sub, memo), None)
                        if end - body <= _MEMO_LIMIT:
                            seen[payload] = known
                    ordered = None if known[0] == payload else known[0]
                if ordered is not None:
                    if out is None:
                        out = [data[:start]]
                    out.append(data[start:body])  # the same length: only entries move
                    out.append(ordered)
                elif out is not None:
                    out.append(data[start:end])
                j += 1
            i = j
            continue
        chunks: list[tuple[Any, int, int, bytes]] = []
        changed = False
        while j < count and fields[j][0] == number:
            _, _, start, body, end = fields[j]
            payload = data[body:end]
            known = seen.get(payload)
            if known is None:
                known = _map_entry(payload, sub, signed, memo)
                if known is None:
                    ordered = _cpp_order(payload, sub, memo)
                    known = (ordered, _map_key(ordered, signed))
                if end - body <= _MEMO_LIMIT:
                    seen[payload] = known
            if not changed and known[0] != payload:
                changed = True
            chunks.append((known[1], start, body, known[0]))
            j += 1
        if len(chunks) > 1:
            keys = [chunk[0] for chunk in chunks]
            if keys != sorted(keys):  # map keys are distinct: a total order
                chunks.sort(key=itemgetter(0))
                changed = True
        if changed and out is None:
            out = [data[:first]]
        if out is not None:
            for _key, start, body, ordered in chunks:
                # the rewritten payload has the same length: only entries moved
                out.append(data[start:body])
                out.append(ordered)
        i = j
    return data if out is None else b"".join(out)


def _det(message: Any, memo: dict[Any, dict[bytes, tuple[bytes, Any]]] | None = None,
         serialized: bytes | None = None) -> bytes:
    """``message`` serialized as C++'s deterministic serialization does; ``memo``: shared
    by the calls of one fingerprint (the regularized graph repeats the SavedModel's
    nodes); ``serialized``: its upb deterministic serialization if already made."""
    data = message.SerializeToString(deterministic=True) if serialized is None else serialized
    assert isinstance(data, bytes)
    return _cpp_order(data, message.DESCRIPTOR, {} if memo is None else memo)


def checkpoint_hash(index_bytes: bytes | None) -> int:
    """``checkpoint_hash``: FarmHash Fingerprint64 of ``variables/variables.index``'s
    bytes, 0 without a checkpoint (None)."""
    return fingerprint64(index_bytes) if index_bytes is not None else 0


def stable_uuid(fingerprint: fingerprint_pb2.FingerprintDef) -> str:
    """A 128-bit decimal uuid derived from the five hashes, for reproducible output.

    TF draws the uuid at random; nothing reads it back but to tell exports apart,
    and exports with equal hashes are equal files.
    """
    fields = (fingerprint.saved_model_checksum, fingerprint.graph_def_program_hash,
              fingerprint.signature_def_hash, fingerprint.saved_object_graph_hash,
              fingerprint.checkpoint_hash)
    text = "/".join(str(f) for f in fields).encode("ascii")
    return str((fingerprint64(text + b"/hi") << 64) | fingerprint64(text + b"/lo"))


def compute_fingerprint(saved_model: saved_model_pb2.SavedModel,
                        export_dir: str | os.PathLike[str] | None = None,
                        *, index_bytes: bytes | None = None,
                        uuid: str | None = None,
                        serialized: bytes | None = None) -> fingerprint_pb2.FingerprintDef:
    """The FingerprintDef TF 2.21 would write for ``saved_model``.

    The checkpoint hash comes from ``index_bytes`` when given, else from
    ``export_dir/variables/variables.index`` (0 when absent).  ``uuid`` is
    random unless given.  ``serialized``: ``saved_model.SerializeToString(
    deterministic=True)`` if the caller has it (the builder writes those bytes).
    """
    if not saved_model.meta_graphs:
        raise InvalidArgumentError("SavedModel has no meta graph to fingerprint")
    meta = saved_model.meta_graphs[0]
    fp = fingerprint_pb2.FingerprintDef()
    memo: dict[Any, dict[bytes, tuple[bytes, Any]]] = {}
    fp.saved_model_checksum = fingerprint64(_det(saved_model, memo, serialized))
    fp.graph_def_program_hash = fingerprint64(_det(regularize_graph_def(meta.graph_def), memo))
    sig_hash = 0
    for key in sorted(meta.signature_def):
        sig_hash = fingerprint_cat64(sig_hash, fingerprint64(key.encode("utf-8")))
        sig_hash = fingerprint_cat64(sig_hash,
                                     fingerprint64(_det(meta.signature_def[key], memo)))
    fp.signature_def_hash = sig_hash
    functions = meta.object_graph_def.concrete_functions
    by_uid: dict[int, str] = {}
    for name in functions:
        by_uid.setdefault(suffix_uid(name), name)  # TF keeps the first of equal uids
    obj_hash = 0
    for uid in sorted(by_uid):
        name = by_uid[uid]
        obj_hash = fingerprint_cat64(obj_hash, fingerprint64(_strip_uid(name, uid).encode("utf-8")))
        obj_hash = fingerprint_cat64(obj_hash, fingerprint64(_det(functions[name], memo)))
    fp.saved_object_graph_hash = obj_hash
    if index_bytes is None and export_dir is not None:
        index = Path(export_dir) / "variables" / "variables.index"
        index_bytes = index.read_bytes() if index.is_file() else None
    fp.checkpoint_hash = checkpoint_hash(index_bytes)
    fp.version.producer = FINGERPRINT_PRODUCER
    fp.uuid = uuid if uuid is not None else str(int.from_bytes(os.urandom(16), "big"))
    return fp
