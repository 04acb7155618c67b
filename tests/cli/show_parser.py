"""Parse ``show --all`` text (saved_model_cli's or ours) into comparable facts."""

from __future__ import annotations

import ast
import re
from typing import Any

_META_GRAPH = re.compile(
    r"^MetaGraphDef with tag-set: '(.*)' contains the following SignatureDefs:$")
_SIGNATURE = re.compile(r"^signature_def\['(.*)'\]:$")
_TENSOR = re.compile(r"^(inputs|outputs)\['(.*)'\] tensor_info:$")
_FIELD = re.compile(r"^(dtype|shape|name): ?(.*)$")
_OPS = re.compile(r"^The MetaGraph with tag set (\[.*\]) contains the following ops: (.*)$")


def parse_all(text: str) -> dict[str, Any]:
    """{tag set 'a, b': {"signatures": {key: {method_name, inputs, outputs}}, "ops": set}}.

    Tensor facts are {dtype, shape, name} as printed.  Everything after the meta graph
    sections that is not one of these lines (saved_model_cli's concrete functions, our
    variables and assets) is ignored.
    """
    graphs: dict[str, Any] = {}
    graph: dict[str, Any] | None = None
    signature: dict[str, Any] | None = None
    tensor: dict[str, str] | None = None
    for raw in text.splitlines():
        line = raw.strip()
        if match := _META_GRAPH.match(line):
            graph = graphs.setdefault(match.group(1), {"signatures": {}, "ops": None})
            signature = tensor = None
        elif graph is None:
            continue
        elif match := _SIGNATURE.match(line):
            signature = graph["signatures"].setdefault(
                match.group(1), {"inputs": {}, "outputs": {}, "method_name": None})
            tensor = None
        elif match := _OPS.match(line):
            graph["ops"] = set(ast.literal_eval(match.group(2)))
            signature = tensor = None
            graph = None
        elif signature is not None and (match := _TENSOR.match(line)):
            tensor = signature[match.group(1)].setdefault(match.group(2), {})
        elif signature is not None and line.startswith("Method name is:"):
            signature["method_name"] = line[len("Method name is:"):].strip()
            tensor = None
        elif tensor is not None and (match := _FIELD.match(line)):
            tensor[match.group(1)] = match.group(2)
    return graphs
