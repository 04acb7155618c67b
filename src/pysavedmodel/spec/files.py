"""Where the files a spec names are (``spec.weights.files``, ``spec.assets``): one rule.

Each name is resolved against the spec's directory, ``base_dir`` (a path or a URL;
by default the directory of the spec file, local or remote):

* a URL name (``s3://bucket/w.safetensors``) is itself;
* an absolute local path is itself;
* any other name is joined to ``base_dir``: as :class:`pathlib.Path` joins for a local
  ``base_dir``; ``/``-joined with ``.`` and ``..`` segments resolved for a URL
  (``s3://b/specs`` + ``../w/x.npz`` → ``s3://b/w/x.npz``), so a spec read from a
  bucket reads its files from the bucket, as a local spec reads its files next to it.

``file://`` URLs are local paths (:func:`pysavedmodel.remote.local_location`).
"""

from __future__ import annotations

import os
import posixpath
from pathlib import Path

from .. import remote
from ..aliases import Location

__all__ = ["spec_file", "file_name", "is_file", "weights_exist"]


def spec_file(base_dir: Location, name: str) -> Location:
    """The location of the file ``name`` of a spec whose directory is ``base_dir``."""
    if remote.is_url(name):
        located = remote.local_location(name)
        return located if remote.is_remote(located) else Path(located)
    if isinstance(base_dir, str) and remote.is_remote(base_dir) \
            and not os.path.isabs(name):
        head, _, path = base_dir.partition("://")
        joined = posixpath.normpath(posixpath.join(path, name.replace("\\", "/")))
        return f"{head}://{joined}"
    return Path(os.fspath(base_dir)) / name


def file_name(location: Location) -> str:
    """The base name of a path or URL."""
    if isinstance(location, str):
        return location.rstrip("/").rsplit("/", 1)[-1]
    return location.name


def is_file(location: Location) -> bool:
    """Whether ``location`` (a path or URL) is a file."""
    if isinstance(location, str):
        return remote.is_file(location)
    return location.is_file()


def weights_exist(location: Location) -> bool:
    """Whether ``location`` exists, or is a checkpoint prefix (``location.index`` does)."""
    if isinstance(location, str):
        return remote.exists(location) or remote.exists(f"{location}.index")
    return location.exists() or Path(f"{location}.index").exists()
