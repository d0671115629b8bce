"""Class 5, first half: leave marks for another sample everywhere this one can — files in every
writable folder, System V shared memory and a message queue, a POSIX semaphore, an abstract unix
socket kept open, a kernel key. `probe_seek.py` looks for them."""
import ctypes
import json
import os
import socket
import sys
import time

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

tag = json.loads(sys.stdin.read())["tag"]
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
key = int(tag[-6:], 16)
for folder in (".", "/tmp", "/dev/shm", os.environ.get("HOME", "."), "/var/tmp", "/opt", "/"):
    try:
        with open(os.path.join(folder, tag), "w") as fh:
            fh.write(tag)
    except OSError:
        pass
libc.shmget(key, 4096, 0o1666)
libc.msgget(key, 0o1666)
libc.syscall(248, b"user", tag.encode(), b"x", 1, -4)
srv = socket.socket(socket.AF_UNIX)
try:
    srv.bind("\0" + tag)
    srv.listen(1)
except OSError:
    pass
time.sleep(0.5)
print("CONTAINED")
