# Class 2 (execution) and the classics, one program per mode chosen by the first line of stdin:
# print a fake verdict, leave early with status 0, fork-bomb, exhaust memory, spin forever, print
# a gigabyte, read the parent's secret from the environment, reach the host's loopback, kill the parent.
import json
import os
import signal
import socket
import sys
INSIDE = b"_zygote.py" in open("/proc/1/cmdline", "rb").read()  # safety catch: real signals only inside (README)


ctx = json.loads(sys.stdin.readline())
mode = ctx["mode"]
if mode == "fake_verdict":
    print("PASSED: all tests passed")
    sys.exit(0)
if mode in ("fork_bomb", "memory_bomb") and not INSIDE:
    sys.exit(3)
if mode == "fork_bomb":
    while True:
        try:
            os.fork()
        except OSError:
            pass
if mode == "memory_bomb":
    hog = []
    while True:
        hog.append(bytearray(50 << 20))
if mode == "spin":
    while True:
        pass
if mode == "gigabyte":
    chunk = "x" * (1 << 20)
    for _ in range(1024):
        sys.stdout.write(chunk)
if mode == "env_secret":
    found = os.environ.get("HF_FAKE_SECRET", "")
    for f in os.listdir("/proc"):
        try:
            found += open(f"/proc/{f}/environ", "rb").read().decode("latin-1")
        except OSError:
            pass
    print("ok" if ctx["secret"] in found else "no")
if mode == "network":
    s = socket.create_connection(("127.0.0.1", ctx["port"]), timeout=2)
    print("ok")
if mode == "kill_parent":
    for pid in (os.getppid(), ctx["host_pid"], 1, -1):
        try:
            os.kill(pid, signal.SIGKILL if INSIDE else 0)
        except OSError:
            pass
    print("still here")
