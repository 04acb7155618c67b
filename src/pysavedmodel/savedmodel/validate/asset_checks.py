"""Checks of the assets: ``asset_file_def`` and collection ``saved_model_assets``.

Each asset's file is a relative path that stays inside ``assets/`` (symlinks
included) and exists there, its tensor is an output of the graph, and no tensor
is fed the path of two assets.
"""

from __future__ import annotations

from pathlib import Path

from ..._proto import meta_graph_pb2
from ...constants import ASSET_FILE_DEF_TYPE_URL, ASSETS_COLLECTION
from ..loader import assets_dir as assets_dir_of
from ..loader import unsafe_asset_name
from .context import MetaGraphContext

AssetFileDef = meta_graph_pb2.AssetFileDef


def check_assets(ctx: MetaGraphContext, root: Path) -> None:
    """Every asset of the meta graph against the files under ``root/assets``."""
    field_defs, collection_defs = _asset_defs(ctx)
    assets_dir = assets_dir_of(root)
    checked: set[tuple[str, str]] = set()
    for asset in field_defs + collection_defs:
        key = (asset.filename, asset.tensor_info.name)
        if key in checked:
            continue
        checked.add(key)
        where = ctx.at(f"asset {asset.filename!r}")
        reason = unsafe_asset_name(asset.filename)
        if reason is not None:
            ctx.report("asset-path-escapes", where,
                       f"an asset filename must be a relative path inside assets/: {reason}")
            continue
        target = assets_dir / asset.filename
        try:
            inside = target.resolve().is_relative_to(assets_dir.resolve())
            exists = target.is_file()
        except (OSError, RuntimeError):  # symlink loops, names too long
            inside, exists = True, False
        if not inside:
            ctx.report("asset-path-escapes", where,
                       f"{target} resolves outside {assets_dir} (symlink?)")
        elif not exists:
            ctx.report("asset-missing", where,
                       f"assets/{asset.filename} does not exist; the loader feeds its path "
                       f"to tensor {asset.tensor_info.name!r}")
        problem = ctx.tensor_exists(asset.tensor_info.name)
        if problem is not None:
            ctx.report("asset-tensor-missing", where,
                       f"tensor {asset.tensor_info.name!r}: {problem}")
    # The C++ loader feeds the asset_file_def field's entries (or, when empty, the
    # collection's): one tensor fed twice makes Session.Run fail.
    used = field_defs if field_defs else collection_defs
    fed: dict[str, str] = {}
    for asset in used:
        tensor = asset.tensor_info.name
        if tensor in fed:
            ctx.report("asset-fed-twice", ctx.at(f"asset {asset.filename!r}"),
                       f"tensor {tensor!r} is also the tensor of asset {fed[tensor]!r}; "
                       f"the loader would feed it twice")
        else:
            fed[tensor] = asset.filename


def _asset_defs(ctx: MetaGraphContext) -> tuple[list[AssetFileDef], list[AssetFileDef]]:
    """(asset_file_def field, collection entries)."""
    from_collection: list[AssetFileDef] = []
    collection = ctx.meta.collection_def.get(ASSETS_COLLECTION)
    if collection is not None:
        where = ctx.at(f"collection {ASSETS_COLLECTION!r}")
        if collection.WhichOneof("kind") not in (None, "any_list"):
            ctx.report("bad-collection", where,
                       f"holds a {collection.WhichOneof('kind')}; expected an any_list of "
                       f"AssetFileDef")
        for index, item in enumerate(collection.any_list.value):
            if item.type_url != ASSET_FILE_DEF_TYPE_URL:
                ctx.report("bad-collection", f"{where} #{index}",
                           f"type_url {item.type_url!r}; expected {ASSET_FILE_DEF_TYPE_URL!r}")
                continue
            asset = meta_graph_pb2.AssetFileDef()
            try:
                asset.ParseFromString(item.value)
            except Exception as exc:  # DecodeError and its kin
                ctx.report("bad-collection", f"{where} #{index}",
                           f"value is not a serialized AssetFileDef: {exc}")
                continue
            from_collection.append(asset)
    return list(ctx.meta.asset_file_def), from_collection
