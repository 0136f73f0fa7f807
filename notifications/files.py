"""Writing a file whole or not at all.

Every file lps writes (``.eml`` messages, reports, calendars, certificates) goes through
:func:`write_file`: the data goes to a temporary file beside the target, all of it (a short
write is continued, a full disk is an error), and only then is it renamed over the target. A
reader, or a later run, sees the old file or the new one, never a cut-off one.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import uuid
from pathlib import Path

__all__ = ["temporary_name", "write_all", "write_file"]

_DESCRIPTOR = re.compile(r"/(?:dev/std(out|err)|dev/fd/(\d+)|proc/self/fd/(\d+))")
# A memory-backed file system like any other folder, where mail may go.
_SHARED_MEMORY = "/dev/shm/"


def write_all(descriptor: int, data: bytes) -> None:
    """Write all of ``data`` to ``descriptor``, continuing after short writes.

    Raises ``OSError`` when the system refuses the rest (``ENOSPC`` on a full disk, ``EFBIG``
    beyond the file size limit); a write of nothing counts as a full disk.
    """
    view = memoryview(data)
    while view:
        written = os.write(descriptor, view)
        if written <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view = view[written:]


def temporary_name(target: Path) -> Path:
    """A fresh hidden name beside ``target`` for the file that will replace it; names of this
    form (``.{name}.*.tmp``) are what a crash can leave behind."""
    return target.with_name(f".{target.name}.{uuid.uuid4().hex[:12]}.tmp")


def write_file(target: Path | str, data: bytes, *, fsync: bool = True) -> None:
    """Replace ``target`` with ``data`` atomically, or leave it as it was and raise ``OSError``.

    The data is written to a temporary file in the same folder (kept with the mode of the file
    it replaces), optionally ``fsync``-ed with its folder, and renamed over ``target``; on any
    failure the temporary file is removed. A symbolic link is followed, so the link stays. A
    target that is not a regular file (``/dev/full``, a pipe) or is under ``/dev`` or ``/proc``
    (but not in the shared-memory file system ``/dev/shm``) is written to directly, as a device
    node must never be replaced by a file; ``/dev/stdout``, ``/dev/stderr`` and ``/dev/fd/N``
    are written to that descriptor.
    """
    path = Path(target)
    absolute = os.path.abspath(path)
    alias = _DESCRIPTOR.fullmatch(absolute)
    if alias:
        # /dev/stdout and the like stand for a descriptor this process holds: reopening what
        # they point to would write over the output from its start, renaming would lose it.
        number = alias.group(2) or alias.group(3)
        write_all(int(number) if number else 1 if alias.group(1) == "out" else 2, data)
        return
    if absolute.startswith(("/dev/", "/proc/")) and not absolute.startswith(_SHARED_MEMORY):
        _write_through(path, data)
        return
    try:
        status = path.lstat()
        if stat.S_ISLNK(status.st_mode):
            path = Path(os.path.realpath(path))
            status = path.stat()
    except FileNotFoundError:
        status = None
    if status is not None and stat.S_ISDIR(status.st_mode):
        raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
    if status is not None and not stat.S_ISREG(status.st_mode):
        _write_through(path, data)
        return
    temporary = temporary_name(path)
    mode = stat.S_IMODE(status.st_mode) if status is not None else 0o666
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        try:
            if status is not None:
                os.fchmod(descriptor, mode)
            write_all(descriptor, data)
            if fsync:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    if fsync:
        _sync_folder(path.parent)


def _write_through(path: Path, data: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY)
    try:
        write_all(descriptor, data)
    finally:
        os.close(descriptor)


def _sync_folder(folder: Path) -> None:
    """Make the rename durable; folders that cannot be opened for it are left alone."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
