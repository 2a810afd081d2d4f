"""How a scoring run takes memory from the system and gives it back (glibc's allocator).

A national scoring run makes and frees numpy arrays of tens to hundreds of megabytes all the
time. By default glibc serves every block over its mmap threshold (128 KiB, growing to at
most 32 MiB) with a fresh mapping and unmaps it on free, so each new array is faulted in and
zeroed by the kernel page by page: about a quarter of a national run's CPU time went to
that. Within :func:`heap_for_large_arrays`, blocks up to :data:`LARGE_ARRAY_BYTES` come from
the heap instead, and a freed one is reused by the next; :func:`give_back` hands the heap's
free memory back between steps, so the peak stays that of what the run holds.

Elsewhere than glibc (no ``mallopt`` / ``malloc_trim``), both do nothing.
"""
from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import threading

# glibc's mallopt parameter and its default value (malloc.h).
M_MMAP_THRESHOLD = -3
DEFAULT_MMAP_THRESHOLD = 128 * 1024

#: Blocks up to this size come from the heap within :func:`heap_for_large_arrays` (the
#: largest arrays of a national run, a column of 32 million observations, 256 MB, stay below).
LARGE_ARRAY_BYTES = 1024 * 1024 * 1024

_libc = None
_depth = 0
_lock = threading.Lock()


def _c():
    global _libc
    if _libc is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c"))
            libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
            libc.malloc_trim.argtypes = [ctypes.c_size_t]
            _libc = libc
        except (OSError, AttributeError, TypeError):
            _libc = False
    return _libc


def give_back() -> None:
    """Hand the allocator's free memory back to the system (``malloc_trim(0)``)."""
    libc = _c()
    if libc:
        libc.malloc_trim(0)


@contextlib.contextmanager
def heap_for_large_arrays(limit: int = LARGE_ARRAY_BYTES):
    """Within the block, serve allocations up to ``limit`` bytes from the heap (glibc's
    ``M_MMAP_THRESHOLD``), so that freed arrays are reused rather than unmapped and faulted in
    again; on leaving (the outermost block, when nested or on several threads), the default
    threshold is set back and the free memory given back."""
    global _depth
    libc = _c()
    with _lock:
        _depth += 1
        if _depth == 1 and libc:
            libc.mallopt(M_MMAP_THRESHOLD, int(limit))
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and libc:
                libc.mallopt(M_MMAP_THRESHOLD, DEFAULT_MMAP_THRESHOLD)
                libc.malloc_trim(0)
