"""A small seccomp filter for the sample: the system calls that would let it leave state behind for a
later sample of the same uid, or reach kernel surfaces no verifier program needs. Standard library only
(it runs inside the sandbox, in the worker, after ``no_new_privs``).

Denied with EPERM: kernel keyrings (``add_key``, ``request_key``, ``keyctl``: a uid's keyrings outlive
its processes), ``unshare``, ``setns``, ``clone`` with any namespace flag, ``bpf``, ``userfaultfd``,
``perf_event_open`` and io_uring; ``clone3`` answers ENOSYS (its flags cannot be inspected; libc then
falls back to ``clone``). System calls of another ABI (i386 or x32 on x86_64) are denied. Known
architectures: x86_64 and aarch64; elsewhere :func:`install` returns False and nothing is filtered.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 22, 2
RET_ALLOW, RET_ERRNO = 0x7FFF0000, 0x00050000
LD_W_ABS, JEQ_K, JSET_K, JGE_K, RET_K = 0x20, 0x15, 0x45, 0x35, 0x06
CLONE_NS_FLAGS = 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00020000

# arch audit value, x32 bit (or 0), {name: number}
ARCHES = {
    "x86_64": (0xC000003E, 0x40000000, {"add_key": 248, "request_key": 249, "keyctl": 250, "unshare": 272,
                                        "setns": 308, "bpf": 321, "userfaultfd": 323, "perf_event_open": 298,
                                        "io_uring_setup": 425, "io_uring_enter": 426, "io_uring_register": 427,
                                        "clone": 56, "clone3": 435}),
    "aarch64": (0xC00000B7, 0, {"add_key": 217, "request_key": 218, "keyctl": 219, "unshare": 97, "setns": 268,
                                "bpf": 280, "userfaultfd": 282, "perf_event_open": 241, "io_uring_setup": 425,
                                "io_uring_enter": 426, "io_uring_register": 427, "clone": 220, "clone3": 435}),
}


def _ins(code: int, k: int, jt: int = 0, jf: int = 0) -> bytes:
    return struct.pack("HBBI", code, jt, jf, k & 0xFFFFFFFF)


def program(machine: str) -> bytes | None:
    if machine not in ARCHES:
        return None
    audit, x32, nrs = ARCHES[machine]
    deny = RET_ERRNO | errno.EPERM
    denied = [n for name, n in nrs.items() if name not in ("clone", "clone3")]
    prog = [_ins(LD_W_ABS, 4), _ins(JEQ_K, audit, 1, 0), _ins(RET_K, deny), _ins(LD_W_ABS, 0)]
    if x32:
        prog += [_ins(JGE_K, x32, 0, 1), _ins(RET_K, deny)]
    for nr in denied:
        prog += [_ins(JEQ_K, nr, 0, 1), _ins(RET_K, deny)]
    prog += [_ins(JEQ_K, nrs["clone3"], 0, 1), _ins(RET_K, RET_ERRNO | errno.ENOSYS)]
    # clone: deny when the flags (first argument, low 32 bits at offset 16) ask for a namespace
    prog += [_ins(JEQ_K, nrs["clone"], 0, 3), _ins(LD_W_ABS, 16), _ins(JSET_K, CLONE_NS_FLAGS, 0, 1),
             _ins(RET_K, deny)]
    prog += [_ins(RET_K, RET_ALLOW)]
    return b"".join(prog)


def install() -> bool:
    """Load the filter into this process (inherited by its children). Needs no_new_privs first."""
    prog = program(platform.machine())
    if prog is None:
        return False
    buf = ctypes.create_string_buffer(prog, len(prog))

    class Fprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = Fprog(len(prog) // 8, ctypes.addressof(buf))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_void_p, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"seccomp: {errno.errorcode.get(err, err)}")
    return True
