"""Sandboxed verifications per second vs the same programs as plain subprocesses, in one run.

    .venv/bin/python bench/verify_throughput.py [--n 60] [--rounds 5] [--workers 2] [--write-docs]

Two workloads, each measured both ways on the same thread pool size, rounds interleaved (plain,
sandboxed, plain, …) so machine noise hits both alike; the median round is reported:

- execution: a trivial Python program (read two ints, print the sum) on one stdin/stdout test.
  plain = ``subprocess.run([python, -I, prog.py], input=…, capture_output=True, timeout=…)`` + the
  output comparison; sandboxed = ``get_verifier("execution").verify_batch``: a sample forked from a
  warm fork server inside bubblewrap, with its own PID/mount/IPC namespaces, tmpfs quota, host uid,
  seccomp filter, rlimits and cgroups, bounded capture, wall-clock deadline.
- humaneval: the canonical solutions of the first N bundled problems. plain = the program
  (prompt + solution + test + ``check(entry_point)``) run by ``python -I`` in one process;
  sandboxed = ``get_verifier("humaneval").verify_batch``: the program served from the sandbox as
  above, the check run by a separate judge process that calls it over a pipe with plain values.

The pools (sandbox slots, judges) are warmed up before the first round, as they are in a training run.

``--write-docs`` replaces the "Verifier throughput" section of docs/BENCHMARKS.md (only that section).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from halo_forge.verifiers import get_verifier  # noqa: E402
from halo_forge.verifiers.sandbox import detect_isolation, isolation_report  # noqa: E402

TRIVIAL = "a, b = map(int, input().split())\nprint(a + b)\n"
SECTION = "## Verifier throughput"
TARGET = 0.9


def plain_runs(programs: list[tuple[str, str, str]], workers: int, timeout: float = 10.0) -> float:
    """programs: (source, stdin, expected stdout) → seconds for all, as plain subprocesses."""
    tmp = Path(tempfile.mkdtemp(prefix="hf-bench-plain-"))

    def one(i_prog):
        i, (src, stdin, expected) = i_prog
        path = tmp / f"p{i}.py"
        path.write_text(src)
        r = subprocess.run([sys.executable, "-I", str(path)], input=stdin.encode(), capture_output=True,
                           timeout=timeout)
        path.unlink()
        return r.stdout.decode().strip() == expected.strip()

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        ok = list(pool.map(one, enumerate(programs)))
    elapsed = time.perf_counter() - start
    tmp.rmdir()
    assert all(ok), "plain baseline produced wrong output"
    return elapsed


def sandboxed_runs(verifier, completions: list[str], rows: list[dict]) -> float:
    start = time.perf_counter()
    results = verifier.verify_batch(completions, rows)
    elapsed = time.perf_counter() - start
    bad = [r.details for r in results if not r.passed]
    assert not bad, f"sandboxed verification failed: {bad[:2]}"
    return elapsed


def measure(name, n, rounds, plain_args, sandbox_fn):
    plain, boxed = [], []
    plain_runs(*plain_args)  # warm-up (page cache, imports)
    sandbox_fn()
    for _ in range(rounds):
        plain.append(n / plain_runs(*plain_args))
        boxed.append(n / sandbox_fn())
    p, s = statistics.median(plain), statistics.median(boxed)
    return {"workload": name, "n": n, "plain": p, "sandboxed": s, "ratio": s / p,
            "plain_all": plain, "sandboxed_all": boxed}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=60, help="verifications per round and workload")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workers", type=int, default=2, help="pool size, both ways")
    ap.add_argument("--write-docs", action="store_true", help="update docs/BENCHMARKS.md's section")
    args = ap.parse_args()
    n, w = args.n, args.workers
    iso = isolation_report()
    print(f"isolation: {iso}; workers {w}; {n} verifications per round; {args.rounds} rounds", flush=True)

    exe = get_verifier("execution", workers=w, timeout=10)
    ex_rows = [{"tests": [{"input": f"{i} {i + 1}\n", "output": str(2 * i + 1)}]} for i in range(n)]
    ex_plain = [(TRIVIAL, f"{i} {i + 1}\n", str(2 * i + 1)) for i in range(n)]
    res = [measure("execution (trivial program)", n, args.rounds, (ex_plain, w),
                   lambda: sandboxed_runs(exe, [TRIVIAL] * n, ex_rows))]
    print(res[-1], flush=True)

    he = get_verifier("humaneval", workers=w)
    ids = [f"HumanEval/{i}" for i in range(n)]
    probs = [he.problems[t] for t in ids]
    he_plain = [(p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\nprint('ok')\n",
                 "", "ok") for p in probs]
    res.append(measure("humaneval (canonical solutions)", n, args.rounds, (he_plain, w),
                       lambda: sandboxed_runs(he, [p["canonical_solution"] for p in probs], [{"task_id": t} for t in ids])))
    print(res[-1], flush=True)

    lines = [f"{'workload':34} {'plain/s':>8} {'sandboxed/s':>12} {'ratio':>6}   rounds (sandboxed/s)"]
    for r in res:
        lines.append(f"{r['workload']:34} {r['plain']:8.1f} {r['sandboxed']:12.1f} {r['ratio']:6.2f}   "
                     + " ".join(f"{x:.1f}" for x in r["sandboxed_all"]))
    table = "\n".join(lines)
    print(table)
    worst = min(r["ratio"] for r in res)
    print(f"target: sandboxed ≥ {TARGET}× plain, every workload: {'met' if worst >= TARGET else 'NOT met'} "
          f"(lowest {worst:.2f}×)")
    if args.write_docs:
        write_docs(table, iso, args, res)


def write_docs(table: str, iso: dict, args, res) -> None:
    path = ROOT / "docs" / "BENCHMARKS.md"
    load = os.getloadavg()[0]
    worst = min(r["ratio"] for r in res)
    body = f"""{SECTION}

`python bench/verify_throughput.py --write-docs` (defaults: {args.n} verifications per round, {args.rounds}
rounds interleaved plain/sandboxed, a pool of {args.workers} on both sides; median round reported; the
sandbox's pools warmed first). *plain* runs each program as `subprocess.run([python, "-I", prog.py],
input=…, capture_output=True)` and compares the output (humaneval: prompt, solution, test and
`check()` in that one process); *sandboxed* is the real verifier's `verify_batch`: each sample forked
from a warm fork server inside bubblewrap (own PID/mount/IPC namespaces, tmpfs quota, unprivileged host
uid, seccomp, rlimits, pids/memory/cpu cgroups, deadline, bounded capture) and, for humaneval, the
check run by a separate judge process calling the candidate over a pipe.

Measured {time.strftime('%Y-%m-%d')} on the shared 2-core CPU-only dev machine (other engineers' test
suites running; load average {load:.1f} at the end), Python {platform.python_version()}, isolation
`{iso['isolation']}`, process bound: {iso['process_bound']}:

```
{table}
```

Target: sandboxed ≥ {TARGET}× plain on every workload: {'met' if worst >= TARGET else 'not met'} (lowest
{worst:.2f}×). The sandbox is faster than a plain subprocess because a sample is a fork of a warm
interpreter (namespaces, mounts and the uid switch cost a few milliseconds) while the plain side pays
the interpreter's start-up (20-40 ms of CPU here) for every program. The previous design (one bubblewrap
plus a fresh interpreter per sample, checks inside the candidate's process) measured 0.91× / 0.96×.
"""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(rf"^{re.escape(SECTION)}\n.*?(?=^## |\Z)", re.S | re.M)
    text = pattern.sub(body.rstrip() + "\n\n", text) if pattern.search(text) else text.rstrip() + "\n\n" + body
    path.write_text(text)
    print(f"wrote the '{SECTION}' section of {path}")


if __name__ == "__main__":
    main()
