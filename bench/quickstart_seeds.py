"""The quickstart's per-stage held-out gains for several seeds, measured in one run.

    python bench/quickstart_seeds.py                      # seeds 42 (the default), 1 and 2
    python bench/quickstart_seeds.py --twice --parallel   # and seed 42 again; all four processes at once

Each seed is the real command, `halo-forge quickstart --seed S --no-cache`, in a fresh process with its
own output folder and workspace, one torch thread, a scratch halo-forge home (the tiny model is built
there once beforehand) and the local Prefect server started once beforehand.
The table shows held-out accuracy before -> after each stage (200 problems never trained on), DPO's
held-out preference accuracy, each stage's verdict, the seconds of wall time and of CPU time of the
process (with one torch thread, CPU time is about what the wall time is on a quiet machine). With
`--twice` the first seed runs again and every figure is compared: the quickstart promises the same
figures on every run on a given machine.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
STAGES = ("sft", "dpo", "grpo")


def start_quickstart(seed: int, out: Path, env: dict) -> tuple[subprocess.Popen, float]:
    """One `halo-forge quickstart` process, started in a workspace of its own (two runs of one seed in one
    workspace are the same run: the second waits for the first's lock); its output goes to a log."""
    out.mkdir(parents=True)
    log = open(out / "quickstart.log", "w")
    proc = subprocess.Popen([str(BIN / "halo-forge"), "quickstart", "--seed", str(seed), "--no-cache",
                             "--output-dir", str(out)], env=dict(env, HALO_FORGE_WORKSPACE=str(out / "ws")),
                            stdout=log, stderr=subprocess.STDOUT)
    return proc, time.monotonic()


def finish_quickstart(proc: subprocess.Popen, t0: float, seed: int, out: Path) -> dict:
    """Wait for it; its figures, wall seconds and CPU seconds (user + system of that process alone)."""
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        sys.exit(f"seed {seed}: halo-forge quickstart exited {proc.returncode}\n"
                 + (out / "quickstart.log").read_text()[-3000:])
    figures = json.loads((out / "quickstart.json").read_text())
    figures["wall_s"], figures["cpu_s"] = wall, usage.ru_utime + usage.ru_stime
    return figures


def row(seed: int, f: dict) -> str:
    cells = [f"{seed:>4}"]
    for stage in STAGES:
        s = f["stages"][stage]
        cells.append(f"{s['before']:6.1%} -> {s['after']:6.1%} ({s['after'] - s['before']:+6.1%}) {s['verdict']}")
    pref = f["stages"]["dpo"]["preference_accuracy"]
    cells.append(f"{pref['before']:6.1%} -> {pref['after']:6.1%}")
    cells.append(f"{f['wall_s']:5.0f} {f['cpu_s']:5.0f}")
    return " | ".join(cells)


def comparable(f: dict) -> dict:
    """Every figure of a run except its timings and paths."""
    return {k: v for k, v in f.items() if k not in ("wall_s", "cpu_s", "output_dir")}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[42, 1, 2])
    ap.add_argument("--twice", action="store_true", help="run the first seed a second time and compare")
    ap.add_argument("--parallel", action="store_true", help="run the processes at the same time (CPU s stay "
                    "comparable; wall s then include the others' contention)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hf-quickstart-seeds-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
               HALO_FORGE_HOME=str(work / "home"), HALO_FORGE_WORKSPACE=str(work / "ws"))
    subprocess.run([str(BIN / "python"), "-c", "from halo_forge.models.tiny import ensure_tiny; "
                    "ensure_tiny('halo-forge/tiny')"], env=env, check=True)  # built once, not raced
    subprocess.run([str(BIN / "halo-forge"), "server", "start"], env=env, check=True, capture_output=True)
    jobs = [(seed, work / f"seed-{seed}") for seed in args.seeds]
    if args.twice:
        jobs.append((args.seeds[0], work / f"seed-{args.seeds[0]}-again"))
    runs = []
    try:
        if args.parallel:
            started = [(seed, out, *start_quickstart(seed, out, env)) for seed, out in jobs]
            runs = [(seed, finish_quickstart(proc, t0, seed, out)) for seed, out, proc, t0 in started]
        else:
            runs = [(seed, finish_quickstart(*start_quickstart(seed, out, env), seed, out)) for seed, out in jobs]
    finally:
        subprocess.run([str(BIN / "halo-forge"), "server", "stop"], env=env, capture_output=True)
    print(f"halo-forge quickstart, {len(runs)} fresh processes, one torch thread; held-out accuracy "
          "before -> after (gain) and verdict per stage; DPO's held-out preference accuracy; wall and CPU s")
    print("seed | SFT | DPO | GRPO | DPO preference accuracy | wall cpu")
    for seed, figures in runs:
        print(row(seed, figures))
    gains = [f["stages"][s]["after"] - f["stages"][s]["before"] for _, f in runs for s in STAGES]
    print(f"smallest stage gain: {min(gains):+.1%}; every verdict passed: "
          f"{all(f['stages'][s]['verdict'] == 'passed' for _, f in runs for s in STAGES)}")
    if args.twice:
        same = comparable(runs[0][1]) == comparable(runs[-1][1])
        print(f"seed {args.seeds[0]} twice, separate processes: figures {'identical' if same else 'DIFFER'}")


if __name__ == "__main__":
    main()
