"""File safety: the one place that creates directories, temporary names and renames.

Every writer in the package publishes its output through this module, so that a
reader never sees half-written files and a failure leaves nothing behind:

* :func:`make_parents` creates missing parent directories and returns the ones it
  created, so that a failed write can remove exactly those (:func:`remove_dirs`);
* :func:`atomic_file` writes one file under a temporary sibling name and renames it
  into place (weights files, merged indexes);
* :class:`AtomicGroup` publishes several files in a fixed order, the file that marks
  the group complete last (a checkpoint: data shards, then ``PREFIX.index``); on
  failure every temporary and every already-renamed file is removed;
* :func:`atomic_directory` builds a whole directory under a temporary sibling name and
  renames it into place (a SavedModel version directory).

Temporary names carry a random token, so two processes writing the same target never
share a temporary file; checkpoint files use TensorFlow's ``<final>.tempstate<token>``
pattern, other files a hidden ``.<name>.tmp-<token>``.

Durability seam: every entry point takes ``durable``.  When true, each file is
``fsync``-ed after it is written, and the directories holding renamed entries are
``fsync``-ed after the renames, so that once the call returns the result survives a
power loss (POSIX: a rename is durable only once its directory is synced).

Remote-storage seam: the functions here work on local paths through ``os``.  Remote
filesystems (fsspec URLs) are :mod:`pysavedmodel.remote`: it stages into a local
temporary directory through these helpers and then uploads, publishing the marker file
(``saved_model.pb``, ``PREFIX.index``) last, since object stores have no rename.

Concurrency: two writers never share a temporary name.  Of two processes exporting
the same SavedModel directory at once, exactly one renames its tree into place and
the other gets :class:`~pysavedmodel.errors.AlreadyExistsError` (a rename onto a
non-empty directory fails).  A checkpoint prefix is guarded by an exclusive ``flock``
on ``PREFIX.index.lock`` for the whole write (the kernel releases it if the writer
dies; the file is removed at the end): a second writer to the same prefix at the same
time gets ``AlreadyExistsError`` instead of mixing its shards with the first one's.

Errors: an ``OSError`` meaning the target cannot take the files (no space, quota,
read-only filesystem, permission, I/O error) becomes
:class:`~pysavedmodel.errors.StorageError` (still an ``OSError``, same ``errno``)
naming the target; everything written so far is removed first.

This module is a leaf of the package: it imports only :mod:`pysavedmodel.errors`.
"""

from __future__ import annotations

import errno
import os
import shutil
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from .errors import AlreadyExistsError, Error, StorageError

__all__ = [
    "new_token", "temp_path", "make_parents", "remove_dirs", "remove_quietly", "fsync_file",
    "fsync_dir", "atomic_file", "AtomicGroup", "atomic_directory", "exclusive_lock",
    "as_storage_error",
]

_STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES,
                             errno.EPERM, errno.EIO, errno.EFBIG})
"""Errors that say the target cannot take the files (as opposed to a bug or bad input)."""


def as_storage_error(exc: BaseException, target: Path) -> BaseException:
    """``exc`` as a :class:`StorageError` naming ``target`` when it is an ``OSError`` about
    the storage (no space, read-only, permission...); any other exception unchanged."""
    if isinstance(exc, OSError) and not isinstance(exc, Error) \
            and exc.errno in _STORAGE_ERRNOS:
        where = f" ({exc.filename})" if exc.filename else ""
        error = StorageError(exc.errno, f"cannot write {str(target)!r}: "
                                        f"{exc.strerror or exc}{where}")
        error.filename = str(target)
        return error
    return exc


@contextmanager
def exclusive_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, removed at the end).

    :class:`AlreadyExistsError` if another process holds it: another writer is
    publishing the same target right now.  Where ``flock`` is missing (Windows) the
    lock is a no-op.
    """
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    while True:
        fd = os.open(path, os.O_CREAT | os.O_RDWR, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise AlreadyExistsError(
                f"{str(path)!r} is locked: another writer is writing the same target "
                f"right now") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file we opened: lock the new one
    try:
        yield
    finally:
        remove_quietly(path)
        os.close(fd)


def new_token() -> str:
    """12 random hex digits: the part of a temporary name no other writer will pick."""
    return os.urandom(6).hex()


def temp_path(final: Path, token: str, *, hidden: bool = False) -> Path:
    """The temporary name ``final`` is written under before its rename.

    ``<final>.tempstate<token>`` (TensorFlow's pattern for checkpoint files), or with
    ``hidden=True`` ``.<name>.tmp-<token>`` beside it (kept out of directory listings).
    """
    if hidden:
        return final.with_name(f".{final.name}.tmp-{token}")
    return Path(f"{final}.tempstate{token}")


def make_parents(path: Path) -> list[Path]:
    """Create the missing parent directories of ``path``; return them, outermost first.

    Directories another writer creates at the same moment are not an error.
    """
    missing: list[Path] = []
    parent = path.parent
    while not parent.exists():
        missing.append(parent)
        if parent.parent == parent:
            break
        parent = parent.parent
    created: list[Path] = []
    for directory in reversed(missing):
        try:
            directory.mkdir()
        except FileExistsError:
            continue
        created.append(directory)
    return created


def remove_dirs(created: Sequence[Path]) -> None:
    """Remove directories :func:`make_parents` created (innermost first) if still empty."""
    for directory in reversed(created):
        try:
            directory.rmdir()
        except OSError:
            pass  # not empty (another writer's files) or already gone


def remove_quietly(path: Path) -> None:
    """Unlink ``path``; a missing file or an error while cleaning up is not raised."""
    try:
        path.unlink()
    except OSError:
        pass


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data and metadata to stable storage."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush directory ``path`` (its entries: renames, new files) to stable storage.

    A no-op where directories cannot be opened (Windows).
    """
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_file(path: Path, *, durable: bool = False, hidden: bool = True) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary sibling, renamed into place on success.

    Missing parents are created; on any failure the temporary file and the directories
    created here are removed.  ``hidden`` picks the temporary name style
    (:func:`temp_path`).

    >>> with atomic_file(Path(tmp) / "out.bin") as out:   # doctest: +SKIP
    ...     out.write(b"data")
    """
    try:
        created = make_parents(path)
    except OSError as exc:
        converted = as_storage_error(exc, path)
        if converted is exc:
            raise
        raise converted from exc
    temp = temp_path(path, new_token(), hidden=hidden)
    try:
        with open(temp, "wb") as out:
            yield out
            if durable:
                out.flush()
                os.fsync(out.fileno())
        os.replace(temp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException as exc:
        remove_quietly(temp)
        remove_dirs(created)
        converted = as_storage_error(exc, path)
        if converted is exc:
            raise
        raise converted from exc


class AtomicGroup:
    """Several files published together, in order, the completing one last.

    ::

        with AtomicGroup([shard0, shard1, index], remove_first=[index]) as group:
            write(group.temp(shard0)); write(group.temp(shard1)); write(group.temp(index))
            group.commit()

    :meth:`commit` first removes the ``remove_first`` paths (an old index over new data
    would be worse than none), then renames each temporary file into place in the
    order given.  Leaving the ``with`` block without a commit, or with an exception,
    removes the temporaries, the files already renamed and the directories created.
    """

    def __init__(self, finals: Sequence[Path], *, remove_first: Sequence[Path] = (),
                 durable: bool = False, lock: Path | None = None) -> None:
        self.finals = [Path(p) for p in finals]
        self._remove_first = [Path(p) for p in remove_first]
        self._durable = durable
        token = new_token()
        self._temps = {final: temp_path(final, token) for final in self.finals}
        self._renamed: list[Path] = []
        self._committed = False
        self._created: list[Path] = []
        self._lock_path = lock
        self._lock: AbstractContextManager[None] | None = None

    def __enter__(self) -> AtomicGroup:
        try:
            for final in self.finals:
                self._created.extend(make_parents(final))
            if self._lock_path is not None:
                self._lock = exclusive_lock(self._lock_path)
                self._lock.__enter__()
        except BaseException as exc:
            remove_dirs(self._created)
            converted = as_storage_error(exc, self.finals[-1])
            if converted is exc:
                raise
            raise converted from exc
        return self

    def temp(self, final: Path) -> Path:
        """The temporary path to write ``final``'s content to."""
        return self._temps[Path(final)]

    def commit(self) -> None:
        """Publish: remove ``remove_first``, then rename every file into place in order."""
        if self._durable:
            for temp in self._temps.values():
                fsync_file(temp)
        for path in self._remove_first:
            try:
                path.unlink()
            except FileNotFoundError:
                pass
        for final in self.finals:
            os.replace(self._temps[final], final)
            self._renamed.append(final)
        if self._durable:
            for directory in dict.fromkeys(final.parent for final in self.finals):
                fsync_dir(directory)
        self._committed = True

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if self._committed and exc_type is None:
                return
            for path in [*self._temps.values(), *self._renamed]:
                remove_quietly(path)
        finally:
            if self._lock is not None:
                self._lock.__exit__(None, None, None)
        remove_dirs(self._created)
        if exc is not None:
            converted = as_storage_error(exc, self.finals[-1])
            if converted is not exc:
                raise converted from exc


@contextmanager
def atomic_directory(final: Path, *, durable: bool = False) -> Iterator[Path]:
    """Build a directory under a temporary sibling name; rename it to ``final`` at the end.

    Yields the temporary directory to fill.  ``final`` may exist only as an empty
    directory (it is replaced); otherwise :class:`AlreadyExistsError` — so of two
    writers racing for one target exactly one wins.  On failure the temporary tree and
    the parent directories created here are removed.
    """
    created: list[Path] = []
    try:
        created = make_parents(final)
        while True:
            temp = temp_path(final, new_token(), hidden=True)
            try:
                temp.mkdir()  # mode 0o777 & ~umask, as the final directory should be
                break
            except FileExistsError:
                continue
    except BaseException as exc:
        remove_dirs(created)
        converted = as_storage_error(exc, final)
        if converted is exc:
            raise
        raise converted from exc
    try:
        yield temp
        if durable:
            _fsync_tree(temp)
        if final.is_dir():
            try:
                final.rmdir()  # empty: rename cannot replace a directory everywhere
            except OSError:
                raise AlreadyExistsError(
                    f"export directory {str(final)!r} already exists and is not empty") from None
        try:
            os.rename(temp, final)
        except OSError as exc:
            if final.exists():
                raise AlreadyExistsError(
                    f"export directory {str(final)!r} appeared while writing (another "
                    f"writer won): {exc}") from None
            raise
        if durable:
            fsync_dir(final.parent)
    except BaseException as exc:
        shutil.rmtree(temp, ignore_errors=True)
        remove_dirs(created)
        converted = as_storage_error(exc, final)
        if converted is exc:
            raise
        raise converted from exc


def _fsync_tree(root: Path) -> None:
    """fsync every file below ``root``, then every directory, deepest first."""
    directories: list[Path] = []
    for dirpath, _, filenames in os.walk(root):
        directories.append(Path(dirpath))
        for name in filenames:
            fsync_file(Path(dirpath) / name)
    for directory in reversed(directories):
        fsync_dir(directory)
