"""Class 5, second half: look for what `probe_mark.py` left (in a sample of another slot at the same
time, or of the same slot just before), look for other samples' processes, and signal every process
it can see."""
import ctypes
import json
import os
import signal
import socket
import sys
INSIDE = b"_zygote.py" in open("/proc/1/cmdline", "rb").read()  # safety catch: real signals only inside (README)


tag = json.loads(sys.stdin.read())["tag"]
libc = ctypes.CDLL(None, use_errno=True)
key = int(tag[-6:], 16)
found = []
for folder in (".", "/tmp", "/dev/shm", os.environ.get("HOME", "."), "/var/tmp", "/opt", "/"):
    if os.path.exists(os.path.join(folder, tag)):
        found.append("file in " + folder)
if libc.shmget(key, 0, 0) >= 0:
    found.append("System V shared memory")
if libc.msgget(key, 0) >= 0:
    found.append("System V message queue")
try:
    if tag in open("/proc/keys").read():
        found.append("kernel key")
except OSError:
    pass
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("\0" + tag)
    found.append("abstract socket")
except OSError:
    pass
mine = {os.getpid(), os.getppid(), 1}
for pid in (int(p) for p in os.listdir("/proc") if p.isdigit()):
    if pid not in mine:
        found.append(f"process {pid}")
        try:
            os.kill(pid, signal.SIGKILL if INSIDE else 0)
        except OSError:
            pass
print("CONTAINED" if not found else "BREACH: " + "; ".join(found))
