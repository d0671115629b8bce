"""Class 5: starve the neighbours — as many busy processes as it may have, each touching memory,
until it is killed. The well-behaved samples of the same batch must still pass in time."""
import os

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

hog = []
for _ in range(200):
    try:
        if os.fork() == 0:
            block = bytearray(8 << 20)
            while True:
                block[0] = (block[0] + 1) % 256
    except OSError:
        break
while True:
    try:
        hog.append(bytearray(16 << 20))
    except MemoryError:
        pass
