"""Holding off Python's cyclic garbage collector while a batch of steps is built.

A batch (a cohort's teaching day, an import, a sweep's due reminders) makes tens of thousands
of objects that live until the batch is written: rows, steps, audit entries, outbox rows. None
of them needs the cyclic collector, which reference counting leaves nothing to do for, yet it
walks them all again each time a generation fills up: a fifth of a bulk step's time. The
standard library can switch the collector off and on, but not for one stretch of code shared
by threads, so this module keeps that count.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

__all__ = ["collector_paused"]

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block. Nested and concurrent pauses (the
    threads of one web server) share one pause; the collector runs again, if it ran before,
    when the last of them ends. Reference counting frees memory throughout as always."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
