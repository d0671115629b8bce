"""Class 3: write as many bytes as possible, in many files, everywhere writable (working folder,
/tmp, /dev/shm); contained when the total stays within the sample's quota."""
import json
import os
import sys

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

quota = json.loads(sys.stdin.read())["quota_bytes"]
chunk = b"x" * (1 << 16)
made = []
for folder in (".", "/tmp", "/dev/shm"):
    for i in range(100_000):
        path = os.path.join(folder, f"fill-{i}")
        try:
            fh = open(path, "wb")
        except OSError:
            break
        made.append(path)
        try:
            with fh:
                for _ in range(256):  # up to 16 MiB a file: the per-file limit
                    fh.write(chunk)
        except OSError:
            pass
        if os.path.getsize(path) == 0 or sum(map(os.path.getsize, made)) > 4 * quota:
            break
total = sum(map(os.path.getsize, made))
print("CONTAINED" if total <= quota else f"BREACH: wrote {total} bytes")
