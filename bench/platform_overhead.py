"""What the platform costs per run: the same tiny SFT through `halo-forge sft train` (Prefect flow,
MLflow tracking, DuckDB index, DVC replay stage; local server up) vs the trainer called directly,
each as a fresh process, plus the time of a cache hit. One run, medians of interleaved repeats.
Both sides end the way `halo-forge` does (`shutdown.exit_now`: exit handlers run, no interpreter
teardown), so the difference is the platform's own work.

    python bench/platform_overhead.py [--repeats 3] [--max-steps 20]

Search latency over 1,000,000 indexed runs is measured by bench/runs_search.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
DIRECT = """
import sys
from halo_forge.config import build_config
from halo_forge.sft.config import SFTConfig
from halo_forge.sft._dispatch import get_sft_trainer
cfg = build_config(SFTConfig, dict(data=sys.argv[1], output=sys.argv[2], overwrite=True, no_lora=True,
                                   max_steps=int(sys.argv[3]), batch_size=16, max_eval_samples=32,
                                   eval_max_new_tokens=4))
get_sft_trainer(cfg).train()
from halo_forge.shutdown import exit_now
exit_now(0)  # the same quick exit as the CLI, so the difference is the platform's own work
"""


def timed(cmd: list[str], env: dict) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--max-steps", type=int, default=20)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="hf-platform-"))
    env = dict(os.environ, HF_HUB_OFFLINE="1", TOKENIZERS_PARALLELISM="false", OMP_NUM_THREADS="1",
               HALO_FORGE_HOME=str(work / "home"), HALO_FORGE_WORKSPACE=str(work / "ws"))
    data = work / "rows.jsonl"
    with data.open("w") as fh:
        for a in range(10, 60):
            for b in range(10, 14):
                fh.write(json.dumps({"prompt": f"What is {a}+{b}?", "completion": str(a + b), "answer": str(a + b)}) + "\n")
    hf = str(BIN / "halo-forge")
    flags = ["--data", str(data), "--no-lora", "--max-steps", str(args.max_steps), "--batch-size", "16",
             "--max-eval-samples", "32", "--eval-max-new-tokens", "4", "--overwrite"]
    # warm-up: build the tiny model, start the local Prefect server, migrate the MLflow store
    subprocess.run([hf, "server", "start"], env=env, check=True, capture_output=True)
    subprocess.run([hf, "sft", "train", *flags, "--output", str(work / "warm")], env=env, check=True, capture_output=True)

    platform, direct, hits = [], [], []
    for i in range(args.repeats):
        platform.append(timed([hf, "sft", "train", *flags, "--no-cache", "--output", str(work / f"p{i}")], env))
        direct.append(timed([sys.executable, "-c", DIRECT, str(data), str(work / f"d{i}"), str(args.max_steps)], env))
        hits.append(timed([hf, "sft", "train", *flags, "--output", str(work / "warm")], env))
    subprocess.run([hf, "server", "stop"], env=env, capture_output=True)
    p, d, h = statistics.median(platform), statistics.median(direct), statistics.median(hits)
    print(f"tiny SFT, {args.max_steps} steps, {args.repeats} interleaved repeats, medians of fresh processes:")
    print(f"  halo-forge sft train (flow + MLflow + index + replay): {p:6.2f} s")
    print(f"  trainer called directly:                              {d:6.2f} s")
    print(f"  platform overhead per run:                            {p - d:6.2f} s  (ratio {p / d:.2f})")
    print(f"  cache hit (identical rerun, server up):               {h:6.2f} s")
    print("  samples (s): platform " + " ".join(f"{x:.2f}" for x in platform)
          + " | direct " + " ".join(f"{x:.2f}" for x in direct) + " | hit " + " ".join(f"{x:.2f}" for x in hits))


if __name__ == "__main__":
    main()
