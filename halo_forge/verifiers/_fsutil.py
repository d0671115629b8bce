"""Reading and removing a scratch tree that hostile code wrote. Standard library only (it also runs
inside the sandbox, in the supervisor that collects a sample's result files).

- :func:`read_beneath` opens every path component relative to the scratch directory's descriptor with
  ``O_NOFOLLOW``: a symlink at any component, a FIFO, a device or a directory where a file was
  expected reads as missing; nothing outside the scratch tree is ever opened.
- :func:`remove_tree` empties a tree of any depth with two descriptors open and no recursion: each
  subdirectory's entries are renamed up into the top directory, then the emptied subdirectory is
  removed. ``shutil.rmtree`` recurses (a 2,000-deep tree raises RecursionError) and follows the
  program's permissions; this does neither.
"""

from __future__ import annotations

import os
import stat

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC


def _parts(relpath: str) -> list[str]:
    parts = [p for p in relpath.split("/") if p]
    if not parts or any(p in (".", "..") for p in parts):
        raise ValueError(f"not a plain relative path: {relpath!r}")
    return parts


def read_beneath(root_fd: int, relpath: str, cap: int) -> bytes | None:
    """The first ``cap`` bytes of the regular file ``relpath`` under the directory ``root_fd``, or None
    when it is missing, unreadable or anything but a regular file reached through real directories."""
    parts = _parts(relpath)
    fd = os.dup(root_fd)
    try:
        for name in parts[:-1]:
            nxt = os.open(name, _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = nxt
        ffd = os.open(parts[-1], _FILE_FLAGS, dir_fd=fd)
    except OSError:
        os.close(fd)
        return None
    os.close(fd)
    try:
        if not stat.S_ISREG(os.fstat(ffd).st_mode):
            return None
        chunks, left = [], cap
        while left > 0:
            chunk = os.read(ffd, min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    except OSError:
        return None
    finally:
        os.close(ffd)


def _unlink_or_none(name: str, dir_fd: int) -> bool:
    """Remove a non-directory entry; True when it was one (or vanished)."""
    try:
        st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return True
    if stat.S_ISDIR(st.st_mode):
        return False
    try:
        os.unlink(name, dir_fd=dir_fd)
    except FileNotFoundError:
        pass
    return True


def _open_dir(name: str, dir_fd: int) -> int:
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
    except PermissionError:  # the program chmod-ed it 000: we own it (or are root), so give it back
        os.chmod(name, 0o700, dir_fd=dir_fd, follow_symlinks=False)
        return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)


def _free_name(dir_fd: int, counter: int) -> int:
    while True:
        counter += 1
        try:
            os.stat(f".hf-rm-{counter}", dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            return counter


def remove_tree(path: str) -> None:
    """Remove ``path`` and everything under it, however deep or odd; never follows a symlink. Raises
    OSError only when an entry cannot be removed at all (then the caller reports it)."""
    try:
        top = os.open(path, _DIR_FLAGS)
    except FileNotFoundError:
        return
    except NotADirectoryError:
        os.unlink(path)
        return
    counter = 0
    try:
        os.chmod(top, 0o700)
        while True:
            names = os.listdir(top)
            if not names:
                break
            for name in names:
                if _unlink_or_none(name, top):
                    continue
                sub = _open_dir(name, top)
                try:
                    for child in os.listdir(sub):  # hoist the children one level up, under fresh names
                        counter = _free_name(top, counter)
                        os.rename(child, f".hf-rm-{counter}", src_dir_fd=sub, dst_dir_fd=top)
                finally:
                    os.close(sub)
                os.rmdir(name, dir_fd=top)
    finally:
        os.close(top)
    os.rmdir(path)
