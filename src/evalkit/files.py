"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Everything evalkit publishes (score tables, reports, index pages) goes through here: the bytes
are written to a temporary file in the same folder, flushed to disk, then renamed over the
target, which POSIX makes atomic.
"""
from __future__ import annotations

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
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`write_with`)."""
    return write_with(path, lambda tmp: Path(tmp).write_bytes(data))


def write_text(path: str | Path, text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))
