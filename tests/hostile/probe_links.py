"""Class 4: plant links where the host will read results — a symlink file, a symlinked folder in the
middle of the path, a FIFO (a naive reader blocks), a hard link, a /proc link."""
import json
import os
import sys

secret = json.loads(sys.stdin.read())["secret"]
os.makedirs("res")
with open("res/real.txt", "w") as fh:
    fh.write("fine")
os.symlink(secret, "res/a.txt")
os.symlink(os.path.dirname(secret), "up")
os.mkfifo("res/fifo.txt")
os.symlink("/proc/1/environ", "res/env.txt")
try:
    os.link(secret, "res/hard.txt")
except OSError:
    pass
print("CONTAINED")
