"""Class 5: starve the neighbours — as many busy processes as it may have, each touching memory,
until it is killed. The well-behaved samples of the same batch must still pass in time."""
import os


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
