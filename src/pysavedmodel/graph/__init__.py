"""The graph layer: TF 2.21's op registry, attr conversion, shapes, and :class:`Graph`."""

from __future__ import annotations

from .graph import AssetSpec, Graph, Tensor, VariableSpec

__all__ = ["Graph", "Tensor", "VariableSpec", "AssetSpec"]
