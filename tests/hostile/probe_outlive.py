"""Class 5: outlive the verification — a double-forked, setsid daemon with its own name that keeps
running after the program exits (the test looks for that name on the host afterwards)."""
import ctypes
import json
import os
import sys
import time

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

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
