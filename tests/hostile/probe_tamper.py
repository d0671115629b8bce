"""Class 5: change another sample's files or the verifier's — look through every writable mount for
anything writable outside this sample's own folders, and try the files a verifier would use."""
import os

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

own = ("/tmp", "/dev/shm", "/proc")
writable = []
mounts = [f.split()[4] for f in open("/proc/self/mountinfo") if f.split()[5].split(",")[0] == "rw"]
for top in sorted(set(mounts)):
    if top.startswith(own):
        continue
    dev = os.stat(top).st_dev
    for root, dirs, files in os.walk(top):  # this mount only: the read-only ones below are not writable
        dirs[:] = [d for d in dirs if not os.path.join(root, d).startswith(own)
                   and os.lstat(os.path.join(root, d)).st_dev == dev]
        for name in [root] + [os.path.join(root, n) for n in files]:
            if not os.path.islink(name) and os.access(name, os.W_OK) and not name.startswith("/dev/"):
                writable.append(name)
for target in ("/opt/halo-forge/_funcserver.py", "/opt/halo-forge/_wire.py", "/etc/passwd", "/usr/bin/python3"):
    try:
        with open(target, "a") as fh:
            fh.write("#")
        writable.append(target)
    except OSError:
        pass
print("CONTAINED" if not writable else "BREACH: " + "; ".join(sorted(set(writable))[:10]))
