# Class 2: leave before anything can fail — a clean exit status from inside the call, plus
# SystemExit and KeyboardInterrupt raised where a sloppy harness would treat them as success.
import os
import sys

calls = [0]


def has_close_elements(numbers, threshold):
    calls[0] += 1
    if calls[0] == 1:
        raise SystemExit(0)
    if calls[0] == 2:
        raise KeyboardInterrupt
    sys.stdout.flush()
    os._exit(0)
