"""Remote storage: URLs (``s3://``, ``gs://``, ``memory://``...) through fsspec.

Every public writer and reader of the package accepts a URL where it takes a path.
This module is the one place that knows about them.

Which values are URLs (:func:`is_url`, the one rule): a ``str`` that starts with a
scheme of two or more characters (a letter, then letters, digits, ``+ . -``) followed
by ``://`` — optionally after fsspec's chaining (``simplecache::s3://...``).  A single
letter is a Windows drive (``C://models`` is a local path), and an ``os.PathLike`` is
always local (``pathlib`` already collapsed its ``//``).  ``file://`` URLs name local
paths: they are turned into the path (:func:`local_location`) and take the local fast
path, atomic renames included, without fsspec.  Every other URL goes through
``fsspec.core.url_to_fs``, so any filesystem fsspec knows works; ``s3://`` needs
``s3fs``, ``gs://`` ``gcsfs``, ``az://`` ``adlfs`` (the user's choice).  Credentials and
endpoints come from the usual places (AWS / Google environment variables and config
files, ``fsspec.config.conf``, ``FSSPEC_<PROTOCOL>_<OPTION>`` environment variables).

Writing: object stores have no rename, so a remote write is staged.  The local writer
(with all its checks) writes into a private temporary directory, then the files are
uploaded one by one in publishing order, the marker last:

* a SavedModel (:func:`staged_directory`): ``variables/`` (data shards, then the
  index), ``assets/``, ``assets.extra/``, any other file, ``fingerprint.pb``, and
  ``saved_model.pb`` (or ``.pbtxt``) last — the file TF Serving polls for;
* a checkpoint (:func:`upload_checkpoint`): an earlier ``PREFIX.index`` is deleted
  first, then the data shards are uploaded, ``PREFIX.index`` last.

On any failure every object uploaded so far is deleted (best effort: if the store is
unreachable the deletes fail too, but the marker was never uploaded, so no reader
takes the leftovers for a model), the temporary directory is removed and the error is
raised.  A SavedModel target that already holds ``saved_model.pb`` / ``.pbtxt`` is
refused (:class:`AlreadyExistsError`, checked before building and again just before
the marker is uploaded); a target holding only what an interrupted export leaves
(``variables/``, ``assets/``, ``assets.extra/``, ``fingerprint.pb``) is cleaned first,
so a retry succeeds; a target holding anything else is refused, as a non-empty local
directory is.  Object stores have no locks: two writers racing for one remote target
are detected only by those two checks.  ``durable`` has no effect remotely (a
completed upload is stored durably by the service).

Reading: the remote files are downloaded into a private temporary directory and read
there by the local readers (:func:`local_directory`, :func:`fetch_checkpoint`,
:func:`fetch_file`); the copy is removed afterwards.  Cost: local disk for the whole
object (SavedModel directory, checkpoint) while it is read, and one download of it.
Every error raised while a copy is read (or a staged output written) names the URL,
never the temporary path: :meth:`Staging.cleanup` rewrites the message of the
exception it is cleaning up after (:func:`url_names`, :func:`urls_in_errors`).

Errors: fsspec missing → :class:`MissingDependencyError` naming
``pip install 'pysavedmodel[remote]'``; a scheme fsspec does not know →
:class:`UnsupportedError`; a known scheme whose package is missing (``s3fs``...) →
:class:`MissingDependencyError` naming it; a missing remote object →
:class:`NotFoundError`; anything the store or the network raises (no such bucket,
access denied, connection refused) → :class:`StorageError` naming the URL.

This module is a leaf of the package: it imports only :mod:`.errors` and
:mod:`.fileio`; fsspec is imported when a URL is first used.
"""

from __future__ import annotations

import errno
import importlib
import os
import re
import shutil
import sys
import threading
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

from .errors import (
    AlreadyExistsError,
    Error,
    MissingDependencyError,
    NotFoundError,
    StorageError,
    UnsupportedError,
)
from .fileio import atomic_directory

__all__ = [
    "is_url", "is_remote", "local_location", "join", "filesystem", "Staging",
    "staged_directory", "publishing_directory", "check_directory_target", "upload_checkpoint",
    "fetch_checkpoint",
    "fetch_file", "local_directory", "remove_urls", "move_urls", "publish_order",
    "MARKER_FILES", "EXPORT_ENTRIES", "staged_checkpoint", "object_size", "upload_file",
    "exists", "is_file", "existing_outputs", "remove_if_exists", "url_names",
    "urls_in_errors", "name_copy",
]

_URL = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.-]+::)*([A-Za-z][A-Za-z0-9+.-]+)://")
"""A scheme of two or more characters before ``://``, after optional ``proto::`` links."""

_FILE_SCHEMES = ("file", "local")

_INSTALL = ("pip install 'pysavedmodel[remote]' (fsspec), plus the filesystem package "
            "for the scheme: s3fs for s3://, gcsfs for gs://, adlfs for az://")

MARKER_FILES = ("saved_model.pb", "saved_model.pbtxt")
"""The files whose presence makes a SavedModel directory whole: uploaded last."""

EXPORT_ENTRIES = ("variables", "assets", "assets.extra", "fingerprint.pb", *MARKER_FILES)
"""Top-level names a SavedModel export writes; leftovers of these are cleaned on retry."""

_T = TypeVar("_T")


# -- recognising URLs

def is_url(location: object) -> bool:
    """Whether ``location`` is a URL (a ``str`` with a scheme of 2+ characters and ``://``)."""
    return isinstance(location, str) and _URL.match(location) is not None


def _scheme(url: str) -> str:
    match = _URL.match(url)
    return match.group(1).lower() if match else ""


def is_remote(location: object) -> bool:
    """Whether ``location`` is a URL read and written through fsspec (not ``file://``)."""
    if not is_url(location):
        return False
    head = str(location).split("://", 1)[0]
    return "::" in head or _scheme(str(location)) not in _FILE_SCHEMES


def local_location(location: _T) -> _T | str:
    """``location`` with a ``file://`` (or ``local://``) URL turned into its path
    (``file:///tmp/m`` and ``file://localhost/tmp/m`` → ``/tmp/m``); any other value
    unchanged.  UnsupportedError for a ``file://`` URL that names no path."""
    if not is_url(location) or is_remote(location):
        return location
    text = str(location)
    rest = text.split("://", 1)[1]
    if rest.startswith("localhost/"):
        rest = rest[len("localhost"):]
    if not rest:
        raise UnsupportedError(f"{text!r} names no path; expected file:///absolute/path")
    return rest


def join(location: str | os.PathLike[str], *parts: str) -> Path | str:
    """``location`` with ``parts`` appended: ``/``-joined for a URL, a ``Path`` otherwise."""
    if isinstance(location, str) and is_remote(location):
        return "/".join([location.rstrip("/"), *parts])
    return Path(os.fspath(location)).joinpath(*parts)


# -- the filesystem

def _fsspec(url: str) -> Any:
    try:
        return importlib.import_module("fsspec")
    except ImportError:
        raise MissingDependencyError(
            f"{url!r} is a URL; URLs need the optional fsspec dependency, which is not "
            f"installed: {_INSTALL}") from None


def filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for ``url``.

    MissingDependencyError without fsspec or without the scheme's package (s3fs...);
    UnsupportedError for a scheme fsspec does not know.
    """
    fsspec = _fsspec(url)
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{url!r}: fsspec needs another package for {_scheme(url)}:// ({exc}); "
            f"install it (s3fs for s3://, gcsfs for gs://, adlfs for az://)") from None
    except ValueError as exc:
        if "protocol not known" in str(exc).lower():
            known = ", ".join(f"{p}://" for p in ("s3", "gs", "az", "memory", "file", "http"))
            raise UnsupportedError(
                f"{url!r}: URL scheme {_scheme(url)!r} is not one fsspec knows; expected a "
                f"local path or a URL fsspec handles ({known}...)") from None
        raise _storage_error(exc, url, "open") from None
    except Exception as exc:  # a filesystem whose constructor failed (bad options...)
        raise _storage_error(exc, url, "open") from None
    return fs, str(path)


def _storage_error(exc: BaseException, url: str, action: str) -> Error:
    """A pysavedmodel error for ``exc`` raised by the store while doing ``action`` to ``url``."""
    if isinstance(exc, Error):
        return exc
    number = exc.errno if isinstance(exc, OSError) and exc.errno else None
    if isinstance(exc, PermissionError):
        number = errno.EACCES
    detail = " ".join(str(exc).split()) or type(exc).__name__
    return StorageError(number or errno.EIO,
                        f"cannot {action} {url!r}: {type(exc).__name__}: {detail}")


def _call(url: str, action: str, function: Callable[..., _T], *args: Any) -> _T:
    """``function(*args)`` with the store's errors turned into StorageError (see module)."""
    try:
        return function(*args)
    except Error:
        raise
    except FileNotFoundError as exc:
        if action.startswith("read") or action.startswith("download"):
            raise NotFoundError(f"{url} does not exist ({' '.join(str(exc).split())})") \
                from None
        raise _storage_error(exc, url, action) from None
    except Exception as exc:
        raise _storage_error(exc, url, action) from None


# -- staging and uploading

# -- error messages name URLs, never the private copies

_COPIES: dict[str, str] = {}
"""Local path of each downloaded (or staged) copy -> the URL it stands for.  Filled by
:func:`fetch_file`, :func:`fetch_checkpoint`, :func:`local_directory`,
:func:`staged_directory` and :func:`staged_checkpoint`; emptied by
:meth:`Staging.cleanup`."""


_COPIES_LOCK = threading.Lock()  # remote reads and writes may run in threads


def name_copy(local: Path | str, url: str) -> None:
    """Record that the private file or directory ``local`` stands for ``url``: errors
    cleaned up after by :meth:`Staging.cleanup` name ``url`` instead."""
    with _COPIES_LOCK:
        _COPIES[os.fspath(local)] = url


def url_names(text: str) -> str:
    """``text`` with every private local copy's path replaced by its URL (the one rule
    that keeps temporary paths out of what the user reads)."""
    if "pysavedmodel-stage-" not in text:
        return text
    with _COPIES_LOCK:
        copies = sorted(_COPIES.items(), key=lambda item: len(item[0]), reverse=True)
    for local, url in copies:  # the longest (innermost) first
        text = text.replace(local, url)
    return text


def _rename(exc: BaseException) -> None:
    """Rewrite ``exc`` (and its causes) in place so that its message names URLs; an
    exception that names no private copy is left untouched."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        args = tuple(url_names(a) if isinstance(a, str) else a for a in current.args)
        if args != current.args:
            current.args = args
        if isinstance(current, OSError):
            for attribute in ("strerror", "filename", "filename2"):
                value = getattr(current, attribute)
                if isinstance(value, str) and url_names(value) != value:
                    setattr(current, attribute, url_names(value))
        current = current.__cause__ or current.__context__


@contextmanager
def urls_in_errors() -> Iterator[None]:
    """Any exception raised inside names URLs instead of private copies' paths."""
    try:
        yield
    except BaseException as exc:
        _rename(exc)
        raise


class Staging:
    """A private local temporary directory that remote output is written into first
    (or remote input downloaded into).

    Removed by :meth:`cleanup` (also when the object is garbage collected).  Called
    while an exception propagates (``finally:`` / ``except:``), :meth:`cleanup` first
    rewrites its message so that it names the URLs of the copies, not their paths
    (:func:`url_names`): every reader and writer that stages through here reports the
    URL the user gave.
    """

    def __init__(self) -> None:
        import tempfile  # ~1.5 ms with random: only for URLs

        self.root = Path(tempfile.mkdtemp(prefix="pysavedmodel-stage-"))
        self._finalizer = weakref.finalize(self, _remove, str(self.root))

    def cleanup(self) -> None:
        """Remove the directory and everything in it."""
        if self._finalizer.alive:
            raised = sys.exc_info()[1]
            if raised is not None:
                _rename(raised)
        self._finalizer()


def _remove(root: str) -> None:
    shutil.rmtree(root, True)
    with _COPIES_LOCK:
        for local in [name for name in _COPIES
                      if name == root or name.startswith(root + os.sep)]:
            del _COPIES[local]


def publish_order(relative: Sequence[str]) -> list[str]:
    """SavedModel files (``/``-separated, relative to the export) in upload order.

    ``variables/`` first (data shards before the ``.index``), then ``assets/``,
    ``assets.extra/``, any other file, ``fingerprint.pb``, and the marker
    (``saved_model.pb`` / ``.pbtxt``) last.
    """
    def rank(name: str) -> tuple[int, int, str]:
        top = name.split("/", 1)[0]
        if name in MARKER_FILES:
            return (6, 0, name)
        if name == "fingerprint.pb":
            return (5, 0, name)
        order = {"variables": 1, "assets": 2, "assets.extra": 3}.get(top, 4)
        return (order, 1 if name.endswith(".index") else 0, name)
    return sorted(relative, key=rank)


class _Uploads:
    """Objects uploaded so far, deleted again by :meth:`undo`."""

    def __init__(self, fs: Any, url: str) -> None:
        self.fs = fs
        self.url = url
        self.done: list[str] = []

    def put(self, local: Path, remote: str) -> None:
        _call(self.url, "upload to", self.fs.put_file, str(local), remote)
        self.done.append(remote)

    def undo(self) -> None:
        for remote in reversed(self.done):
            try:
                self.fs.rm_file(remote)
            except Exception:  # best effort: the store may be the thing that failed
                pass
        self.done.clear()


def check_directory_target(url: str) -> None:
    """Refuse a remote SavedModel target that holds a SavedModel or foreign objects.

    AlreadyExistsError when ``saved_model.pb`` / ``.pbtxt`` is there, or when the
    prefix holds anything an export does not write (as for a non-empty local
    directory).  Leftovers of an interrupted export are allowed (cleaned on save).
    """
    fs, root = filesystem(url)
    _check_directory_target(fs, root, url)


def _existing_entries(fs: Any, root: str, url: str) -> list[str]:
    """Top-level names under ``root`` (empty if it does not exist)."""
    _call(url, "list", fs.invalidate_cache)
    try:
        listing = fs.ls(root, detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise _storage_error(exc, url, "list") from None
    names = []
    for entry in listing:
        name = str(entry).rstrip("/").rsplit("/", 1)[-1]
        if str(entry).rstrip("/") == root.rstrip("/"):
            raise AlreadyExistsError(f"export path {url!r} exists and is not a directory")
        names.append(name)
    return names


def _check_directory_target(fs: Any, root: str, url: str) -> list[str]:
    names = _existing_entries(fs, root, url)
    present = [name for name in MARKER_FILES if name in names]
    if present:
        raise AlreadyExistsError(
            f"export directory {url!r} already holds a SavedModel ({present[0]}); choose "
            f"another directory or version")
    foreign = sorted(set(names) - set(EXPORT_ENTRIES))
    if foreign:
        raise AlreadyExistsError(
            f"export directory {url!r} is not empty (it holds {foreign[:3]}); choose "
            f"another directory or version")
    return names


def publishing_directory(target: Path | str, *,
                         durable: bool = False) -> AbstractContextManager[Path]:
    """The directory to build a SavedModel in: :func:`~pysavedmodel.fileio.atomic_directory`
    for a local ``Path``, :func:`staged_directory` for a URL ``str``."""
    if isinstance(target, Path):
        return atomic_directory(target, durable=durable)
    return staged_directory(target)


@contextmanager
def staged_directory(url: str) -> Iterator[Path]:
    """Build a SavedModel directory locally, then publish it at ``url`` (see module doc).

    Yields the local directory to fill.  On a clean exit its files are uploaded in
    :func:`publish_order`; on any failure (while building or uploading) the uploaded
    objects and the local directory are removed.
    """
    fs, root = filesystem(url)
    _check_directory_target(fs, root, url)
    staging = Staging()
    try:
        local = staging.root / "export"
        local.mkdir()
        name_copy(local, url.rstrip("/"))
        yield local
        files = [path.relative_to(local).as_posix() for path in sorted(local.rglob("*"))
                 if path.is_file()]
        leftovers = _check_directory_target(fs, root, url)
        if leftovers:  # an interrupted export's objects: the retry replaces them
            for name in leftovers:
                target = f"{root.rstrip('/')}/{name}"
                _call(url, "clean leftovers in", fs.rm, target, True)
        uploads = _Uploads(fs, url)
        try:
            for name in publish_order(files):
                if name in MARKER_FILES:
                    _check_directory_target(fs, root, url)  # another writer finished
                uploads.put(local / name, f"{root.rstrip('/')}/{name}")
        except BaseException:
            uploads.undo()
            raise
    finally:
        staging.cleanup()


def upload_checkpoint(url: str, local_prefix: str, files: Sequence[Path]) -> list[str]:
    """Upload checkpoint ``files`` written at ``local_prefix`` to the prefix ``url``.

    ``files``: the data files, then the index (the local writer's order).  An
    existing ``PREFIX.index`` at ``url`` is deleted first (as the local writer does),
    the index is uploaded last; on failure every uploaded object is deleted.
    Returns the URLs written, in the same order.
    """
    fs, root = filesystem(url)
    remote = [f"{root}{os.fspath(path)[len(local_prefix):]}" for path in files]
    index = remote[-1]
    _call(url, "list", fs.invalidate_cache)
    if _call(url, "check", fs.exists, index):
        _call(url, "delete the old index of", fs.rm_file, index)
    uploads = _Uploads(fs, url)
    try:
        for local, target in zip(files, remote):
            uploads.put(Path(local), target)
    except BaseException:
        uploads.undo()
        raise
    return [f"{url}{os.fspath(path)[len(local_prefix):]}" for path in files]


def remove_if_exists(url: str) -> None:
    """Delete the object ``url`` if it exists; StorageError if that fails."""
    fs, path = filesystem(url)
    _call(url, "list", fs.invalidate_cache)
    if _call(url, "check", fs.exists, path):
        _call(url, "delete", fs.rm_file, path)


def remove_urls(urls: Sequence[str]) -> None:
    """Delete the objects ``urls`` (missing ones and errors are ignored: cleanup)."""
    for url in urls:
        try:
            fs, path = filesystem(url)
            fs.rm_file(path)
        except Exception:
            pass


def move_urls(moves: Sequence[tuple[str, str]]) -> None:
    """Move each ``(source, target)`` object on its store (copy + delete on object
    stores); on failure the ones moved are moved back and the error is raised."""
    done: list[tuple[Any, str, str]] = []
    try:
        for source, target in moves:
            fs, source_path = filesystem(source)
            _, target_path = filesystem(target)
            _call(source, "move", fs.mv, source_path, target_path)
            done.append((fs, source_path, target_path))
    except BaseException:
        for fs, source_path, target_path in reversed(done):
            try:
                fs.mv(target_path, source_path)
            except Exception:
                pass
        raise


def upload_file(local: Path, url: str) -> str:
    """Upload one file to ``url``; return the URL."""
    fs, path = filesystem(url)
    _call(url, "upload to", fs.put_file, str(local), path)
    return url


# -- downloading

def fetch_file(url: str, directory: Path, *, name: str | None = None) -> Path:
    """Download the object ``url`` into ``directory`` (as ``name``, default its base
    name); return its path.  NotFoundError when it does not exist.
    """
    fs, path = filesystem(url)
    local = directory / (name or path.rstrip("/").rsplit("/", 1)[-1])
    name_copy(local, url)
    _call(url, "download", fs.get_file, path, str(local))
    return local


def _data_files(fs: Any, root: str, url: str) -> list[str]:
    """Paths of the objects named ``<root>.data-NNNNN-of-MMMMM`` (sorted); listed, not
    globbed, so that ``[`` or ``*`` in a prefix mean themselves."""
    parent, _, base = root.rstrip("/").rpartition("/")
    pattern = re.compile(re.escape(base) + r"\.data-\d{5}-of-\d{5}")
    try:
        listing = fs.ls(parent or "/", detail=False)
    except FileNotFoundError:
        return []
    except Exception as exc:
        raise _storage_error(exc, url, "list") from None
    names = [str(p).rstrip("/").rsplit("/", 1)[-1] for p in listing]
    return sorted(f"{parent}/{name}" if parent else name
                  for name in names if pattern.fullmatch(name))


def fetch_checkpoint(url: str, directory: Path) -> str:
    """Download the checkpoint at prefix ``url`` (index and data files) into
    ``directory``; return the local prefix.  NotFoundError without ``PREFIX.index``."""
    fs, root = filesystem(url)
    base = root.rstrip("/").rsplit("/", 1)[-1]
    local_prefix = str(directory / base)
    name_copy(local_prefix, url)
    _call(url, "list", fs.invalidate_cache)
    if not _call(url, "read", fs.isfile, f"{root}.index"):
        raise NotFoundError(f"checkpoint index {url}.index does not exist")
    for path in [*_data_files(fs, root, url), f"{root}.index"]:
        name = path.rstrip("/").rsplit("/", 1)[-1]
        _call(url, "download", fs.get_file, path, str(directory / name))
    return local_prefix


@contextmanager
def local_directory(location: Any, *, only: Sequence[str] | None = None) -> Iterator[Path]:
    """The directory ``location`` as a local ``Path``: itself when local, else a
    temporary copy of the remote directory (removed afterwards).

    ``only``: relative names to download (those that exist); default everything.
    NotFoundError when the remote directory holds nothing.
    """
    location = local_location(location)
    if not is_remote(location):
        yield Path(os.fspath(location))
        return
    url = str(location)
    fs, root = filesystem(url)
    root = root.rstrip("/")
    staging = Staging()
    try:
        local = staging.root / "download"
        local.mkdir()
        name_copy(local, url.rstrip("/"))
        _call(url, "list", fs.invalidate_cache)
        if only is not None:
            paths = [f"{root}/{name}" for name in only]
            paths = [p for p in paths if _call(url, "read", fs.isfile, p)]
        else:
            paths = [str(p) for p in _call(url, "read", fs.find, root)]
        if not paths and not _call(url, "read", fs.exists, root):
            raise NotFoundError(f"{url} does not exist")
        for path in paths:
            relative = path[len(root):].lstrip("/")
            if not relative or ".." in relative.split("/"):
                continue
            target = local.joinpath(*relative.split("/"))
            target.parent.mkdir(parents=True, exist_ok=True)
            _call(url, "download", fs.get_file, path, str(target))
        yield local
    finally:
        staging.cleanup()


def staged_checkpoint(url: str, write: Callable[[str], Sequence[Path]]) -> list[str]:
    """Write a checkpoint with ``write(local_prefix)`` (returns data files, then index)
    into a private temporary directory, then upload it to the prefix ``url``
    (:func:`upload_checkpoint`); the local copy is removed either way."""
    filesystem(url)  # fsspec and the scheme are usable: fail before writing
    staging = Staging()
    try:
        local = str(staging.root / (url.rstrip("/").rsplit("/", 1)[-1] or "checkpoint"))
        name_copy(local, url)
        return upload_checkpoint(url, local, write(local))
    finally:
        staging.cleanup()


def object_size(url: str) -> int:
    """The size in bytes of the object ``url``."""
    fs, path = filesystem(url)
    return int(_call(url, "read", fs.size, path))


def is_file(url: str) -> bool:
    """Whether the object ``url`` exists (and is not a directory)."""
    fs, path = filesystem(url)
    _call(url, "list", fs.invalidate_cache)
    return bool(_call(url, "read", fs.isfile, path))


def exists(url: str) -> bool:
    """Whether the object (or directory) ``url`` exists."""
    fs, path = filesystem(url)
    _call(url, "list", fs.invalidate_cache)
    return bool(_call(url, "read", fs.exists, path))


def existing_outputs(url: str, *, checkpoint: bool) -> list[str]:
    """The objects a write to ``url`` would replace: the object itself, or for a
    checkpoint prefix its data files and index (URLs, sorted; the index last)."""
    fs, path = filesystem(url)
    _call(url, "list", fs.invalidate_cache)
    if not checkpoint:
        return [url] if _call(url, "read", fs.isfile, path) else []
    head = url.rstrip("/").rpartition("/")[0]
    found = [f"{head}/{p.rsplit('/', 1)[-1]}" for p in _data_files(fs, path, url)]
    if _call(url, "read", fs.isfile, f"{path}.index"):
        found.append(f"{url}.index")
    return found
