"""Class 5: raise its own limits — hard rlimits, the OOM score, the cgroup files, pid 1's limits."""
import os
import resource

if b"_zygote.py" not in open("/proc/1/cmdline", "rb").read():  # safety catch: only inside a sandbox (README)
    raise SystemExit("NOT IN A SANDBOX: refusing to run")

breach = []
for name in ("RLIMIT_NPROC", "RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NOFILE", "RLIMIT_FSIZE"):
    res = getattr(resource, name)
    soft, hard = resource.getrlimit(res)
    try:
        resource.setrlimit(res, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
        breach.append(name)
    except (ValueError, OSError):
        pass
    if hard == resource.RLIM_INFINITY and name != "RLIMIT_NPROC":
        breach.append(name + " unlimited")
try:
    with open("/proc/self/oom_score_adj", "w") as fh:
        fh.write("-1000")
    breach.append("oom_score_adj")
except OSError:
    pass
for root, _dirs, files in os.walk("/sys/fs/cgroup"):
    for f in files:
        if f in ("pids.max", "memory.limit_in_bytes", "cpu.cfs_quota_us", "cgroup.procs"):
            try:
                with open(os.path.join(root, f), "w") as fh:
                    fh.write("max" if f == "pids.max" else "-1")
                breach.append(os.path.join(root, f))
            except OSError:
                pass
try:
    resource.prlimit(1, resource.RLIMIT_NPROC, (1, 1))
    breach.append("prlimit on pid 1")
except (OSError, ValueError):
    pass
print("CONTAINED" if not breach else "BREACH: " + "; ".join(breach))
