"""Class 3: create as many files and folders as possible; contained when the count stays within the
sample's file quota."""
import json
import os
import sys


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

limit = json.loads(sys.stdin.read())["quota_files"]
made = 0
for folder in (".", "/tmp", "/dev/shm"):
    for i in range(limit * 3):
        try:
            if i % 2:
                os.mkdir(os.path.join(folder, f"d{i}"))
            else:
                open(os.path.join(folder, f"f{i}"), "w").close()
            made += 1
        except OSError:
            break
print("CONTAINED" if made <= limit else f"BREACH: made {made} entries")
