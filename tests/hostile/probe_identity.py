"""Class 1: any sign of host root — uid 0 inside or outside, a capability, a writable kernel setting,
a root-only file or socket, a setuid program, a new user namespace, the supervisor's secrets."""
import ctypes
import json
import os
import socket
import subprocess
import sys

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

ctx = json.loads(sys.stdin.read())
breach = []
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long


def attempt(name, fn):
    try:
        if fn() is not False:
            breach.append(name)
    except Exception:
        pass


status = dict(line.split(":", 1) for line in open("/proc/self/status").read().splitlines() if ":" in line)
if os.getuid() == 0 or os.geteuid() == 0:
    breach.append("uid 0 inside")
for inside, outside, count in (map(int, line.split()) for line in open("/proc/self/uid_map")):
    if inside <= os.getuid() < inside + count and outside + os.getuid() - inside == 0:
        breach.append("uid 0 outside")
for key in ("CapEff", "CapPrm", "CapInh", "CapAmb"):
    if int(status[key].strip(), 16):
        breach.append(key)
if status["NoNewPrivs"].strip() != "1":
    breach.append("no_new_privs off")


def write(path, data):
    with open(path, "w") as fh:
        fh.write(data)


def connect(addr):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    s.connect(addr)
    s.close()


def run_ok(argv, want=None):
    r = subprocess.run(argv, capture_output=True, text=True, timeout=5)
    return r.returncode == 0 and (want is None or r.stdout.strip() == want)


attempt("wrote " + ctx["sysctl"], lambda: write(ctx["sysctl"], ctx["sysctl_value"]))
attempt("core_pattern open for writing", lambda: open("/proc/sys/kernel/core_pattern", "w").close())
attempt("sysrq-trigger open for writing", lambda: open("/proc/sysrq-trigger", "w").close())
for path in ctx["root_files"] + ["/etc/shadow", "/etc/gshadow"]:
    attempt("read " + path, lambda p=path: open(p).read())
attempt("connected to " + ctx["socket"], lambda: connect(ctx["socket"]))
attempt("connected to the host's abstract socket", lambda: connect("\0" + ctx["abstract"]))
attempt("setuid(0)", lambda: os.setuid(0))
attempt("read pid 1's environment", lambda: open("/proc/1/environ", "rb").read())
attempt("signal pid 1", lambda: os.kill(1, 0))
attempt("ptrace pid 1", lambda: libc.ptrace(16, 1, None, None) == 0)
attempt("mount through the setuid mount", lambda: run_ok(["mount", "-t", "tmpfs", "none", os.getcwd()]) or False)
attempt("user namespace", lambda: run_ok(["unshare", "-Ur", "id", "-u"], "0") or False)
attempt("kernel keyring", lambda: libc.syscall(248, b"user", b"hf-probe", b"x", 1, -4) > 0 or False)
print("CONTAINED" if not breach else "BREACH: " + "; ".join(breach))
