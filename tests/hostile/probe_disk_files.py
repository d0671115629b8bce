"""Class 3: create as many files and folders as possible; contained when the count stays within the
sample's file quota."""
import json
import os
import sys

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

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
