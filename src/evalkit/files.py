"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Everything evalkit publishes (score tables, reports, index pages) goes through here: the bytes
are written to a temporary file in the same folder, flushed to disk, then renamed over the
target, which POSIX makes atomic.

A write that the system refuses (a read-only folder, no permission, a full disk, a parent that
is a file) raises :class:`OSError` naming the file being published, not its temporary name, with
the system's reason; DuckDB's I/O errors (a ``COPY`` into the temporary file) are raised as such
an :class:`OSError` too.
"""
from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_with(path: str | Path, write) -> Path:
    """Publish ``path`` atomically from ``write(tmp)``, a callable that writes a temporary file
    beside it (a DuckDB ``COPY`` writes to a path, not a file object); readable as any new file
    would be (mkstemp's owner-only mode would hide published reports from a web server)."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError as exc:     # the folder's name is taken by a file
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), exc.filename
                                 ) from exc
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as exc:
        raise _naming(exc, path, None) from exc
    os.close(fd)
    try:
        try:
            write(tmp)
            with open(tmp, "rb") as fh:
                os.fsync(fh.fileno())
            os.chmod(tmp, 0o666 & ~_umask())
            os.replace(tmp, path)
        except OSError as exc:
            raise _naming(exc, path, tmp) from exc
        except Exception as exc:
            error = _duckdb_io_error(exc, path)
            if error is None:
                raise
            raise error from exc
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path


def _naming(exc: OSError, path: Path, tmp: str | None) -> OSError:
    """``exc`` naming ``path``, when it names no file or only the temporary one."""
    named = exc.filename
    if named is not None and named != tmp \
            and not str(named).startswith(str(path.parent / f".{path.name}.")):
        return exc
    # OSError(errno, ...) is the errno's subclass (PermissionError, ...).
    return OSError(exc.errno, exc.strerror or str(exc), str(path))


# The system's reasons DuckDB's I/O errors may end with, most specific first.
_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOTDIR,
           errno.ENOENT, errno.EISDIR)


def _duckdb_io_error(exc: Exception, path: Path) -> OSError | None:
    """A DuckDB I/O error as the :class:`OSError` it reports, naming ``path`` (None for any
    other exception)."""
    try:
        import duckdb
    except ImportError:     # pragma: no cover - DuckDB is a dependency
        return None
    if not isinstance(exc, duckdb.IOException):
        return None
    message = str(exc)
    for code in _ERRNOS:
        if os.strerror(code) in message:
            return OSError(code, os.strerror(code), str(path))
    return OSError(errno.EIO, message.removeprefix("IO Error: "), str(path))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_with`)."""
    return write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def output_file(path: str | Path, suffix: str) -> Path:
    """``path`` as the name of a file to write with ``suffix`` (``".xlsx"``): anything else,
    or a folder, is an :class:`~evalkit.errors.EvalkitError` naming it."""
    from .errors import EvalkitError

    path = Path(path)
    if path.suffix.lower() != suffix:
        raise EvalkitError(f"{path}: expected a file name ending in {suffix}")
    if path.is_dir():
        raise EvalkitError(f"{path}: is a folder; expected a file name ending in {suffix}")
    return path
