"""The private descriptor pool the generated modules register into."""

from typing import Any, Dict

from google.protobuf import any_pb2, descriptor_pool, wrappers_pb2
from google.protobuf.internal import builder as _builder

POOL = descriptor_pool.DescriptorPool()

# Well-known types our files import must live in the private pool too, with
# message classes of their own (the pure-Python runtime needs them to parse).
WELL_KNOWN: Dict[str, Dict[str, Any]] = {}
for _module in (any_pb2, wrappers_pb2):
    _file = POOL.AddSerializedFile(_module.DESCRIPTOR.serialized_pb)
    _namespace: Dict[str, Any] = {}
    _builder.BuildMessageAndEnumDescriptors(_file, _namespace)
    _builder.BuildTopDescriptorsAndMessages(_file, __name__, _namespace)
    WELL_KNOWN[_module.DESCRIPTOR.name] = _namespace
