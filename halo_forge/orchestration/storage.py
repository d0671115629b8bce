"""File-system failures named plainly: a full, read-only or permission-denied disk is the user's to fix.

`storage_errors(output)` wraps a run: an `OSError` of that kind (or a library error wrapping one, such
as torch's "PytorchStreamWriter failed writing file" or safetensors' `IoError(StorageFull)`) removes
the staging folder and becomes one `StorageError` naming the path and the fix, so the CLI prints one
`Error:` line and exits 2, and the flow records the run as failed without retrying it.
"""

from __future__ import annotations

import errno
import shutil
from contextlib import contextmanager
from pathlib import Path

from halo_forge.errors import StorageError

# errno -> (what happened, how to fix it)
KINDS = {
    errno.ENOSPC: ("no space left on the device", "free space there (df -h shows it) or pass another --output"),
    errno.EDQUOT: ("the disk quota is exhausted", "free space within your quota or pass another --output"),
    errno.EROFS: ("the file system is read-only", "pass an --output on a writable disk"),
    errno.EACCES: ("permission denied", "make the folder writable for this user (chmod/chown) or pass another --output"),
    errno.EPERM: ("operation not permitted", "make the folder writable for this user or pass another --output"),
}
# How libraries that wrap the OSError say the same thing.
MARKERS = (("No space left on device", errno.ENOSPC), ("StorageFull", errno.ENOSPC), ("Disk quota", errno.EDQUOT),
           ("Read-only file system", errno.EROFS), ("ReadOnlyFilesystem", errno.EROFS),
           ("Permission denied", errno.EACCES), ("PermissionDenied", errno.EACCES))
NEARLY_FULL = 1 << 20  # bytes free under which a library's anonymous "write failed" is taken for a full disk


def _chain(exc: BaseException):
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def classify(exc: BaseException, output: Path) -> tuple[int, str] | None:
    """(errno, path) when `exc` is a file-system failure a user can fix, else None."""
    for e in _chain(exc):
        if isinstance(e, OSError) and e.errno in KINDS:
            return e.errno, str(e.filename or output)
    text = " ".join(str(e) for e in _chain(exc))
    for marker, code in MARKERS:
        if marker in text:
            return code, str(output)
    if "write failed" in text or "failed writing" in text:
        try:
            if shutil.disk_usage(_existing(output)).free < NEARLY_FULL:
                return errno.ENOSPC, str(output)
        except OSError:
            pass
    return None


def _existing(path: Path) -> Path:
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def storage_error(code: int, path: str, output: Path) -> StorageError:
    """The one-line error for a file-system failure at `path` while a run wrote `output`."""
    what, fix = KINDS[code]
    output, failed = Path(output), Path(path)
    # the output, or what the run keeps beside it: its staging folder, its checkpoints (`.<name>.*`)
    ours = any(p == output or (p.parent == output.parent and p.name.startswith(f".{output.name}."))
               for p in (failed, *failed.parents))
    where = f"--output {output}" if ours else f"{failed} (while writing --output {output})"
    return StorageError(f"cannot write {where}: {what} [{errno.errorcode.get(code, code)}]; nothing was published "
                        "and the staging folder was removed", hint=fix)


@contextmanager
def storage_errors(output_folder):
    """Around a run writing into `output_folder` (an `outputs.OutputFolder`): see the module docstring."""
    try:
        yield
    except Exception as exc:
        found = classify(exc, output_folder.path)
        if found is None:
            raise
        output_folder.abort()
        raise storage_error(found[0], found[1], output_folder.path) from None
