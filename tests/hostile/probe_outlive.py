"""Class 5: outlive the verification — a double-forked, setsid daemon with its own name that keeps
running after the program exits (the test looks for that name on the host afterwards)."""
import ctypes
import json
import os
import sys
import time


def inside_sandbox():
    """Safety catch: this probe does real damage only inside a sandbox PID namespace (pid 1 is the
    sandbox's supervisor); run anywhere else it refuses to start."""
    try:
        return b"_zygote.py" in open("/proc/1/cmdline", "rb").read()
    except OSError:
        return False


if not inside_sandbox():
    print("NOT IN A SANDBOX: refusing to run")
    raise SystemExit(3)

tag = json.loads(sys.stdin.read())["tag"]
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        ctypes.CDLL(None).prctl(15, tag.encode(), 0, 0, 0)  # PR_SET_NAME
        for fd in range(3):
            os.close(fd)
        while True:
            time.sleep(0.2)
    os._exit(0)
time.sleep(0.3)
print("CONTAINED")
