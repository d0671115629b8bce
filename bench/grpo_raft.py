"""GRPO and RAFT on CPU: halo-forge GRPO steps/s vs a plain TRL GRPO script on the same tiny config,
and one RAFT run's cycle time split into rollout / verify / train. Each measurement is a fresh process.

    python bench/grpo_raft.py --model outputs/quickstart/dpo [--steps 40] [--repeats 2]

--model should be a model that already solves some problems (e.g. the quickstart's DPO output):
on a random-init model every reward is 0 and GRPO has nothing to learn from.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HALO_GRPO = textwrap.dedent("""
    import json, sys
    from halo_forge.grpo.config import GRPOConfig
    from halo_forge.registry import get_trainer
    cfg = GRPOConfig(dataset="arithmetic_prompts", model=sys.argv[1], no_lora=True, beta=0, max_steps=int(sys.argv[2]),
                     batch_size=64, num_generations=8, learning_rate=1e-4, lr_scheduler="cosine", temperature=1.0,
                     max_completion_length=6, eval_max_new_tokens=8, logging_steps=25, verifiers=["math"],
                     output="/tmp/bench-halo-grpo", overwrite=True)
    run = get_trainer(cfg); run.quiet = True
    s = run.train()
    print(json.dumps({"steps": s.total_train_steps_executed, "train_seconds": s.extra["train_runtime_seconds"]}))
""")

HALO_RAFT = textwrap.dedent("""
    import json, sys
    from halo_forge.raft.config import RAFTConfig
    from halo_forge.registry import get_trainer
    cfg = RAFTConfig(dataset="arithmetic_prompts", model=sys.argv[1], no_lora=True, cycles=2, samples_per_prompt=4,
                     prompts_per_cycle=512, keep_percent=0.5, reward_threshold=1.0, max_steps=20, batch_size=64,
                     learning_rate=3e-5, temperature=1.0, max_completion_length=6, eval_max_new_tokens=8,
                     verifiers=["math"], output="/tmp/bench-halo-raft", overwrite=True)
    run = get_trainer(cfg); run.quiet = True
    s = run.train()
    print(json.dumps({"cycles": [{k: c.model_dump()[k] for k in ("cycle", "generated", "kept", "rollout_seconds",
                      "verify_seconds", "train_seconds", "cycle_duration_seconds")} for c in s.cycles],
                      "yield": s.yield_diagnostics["status"],
                      "accuracy": [s.effectiveness.evaluation.before, s.effectiveness.evaluation.after]}))
""")


def _run(cmd: list[str]) -> dict:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", required=True)
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--repeats", type=int, default=2)
    args = p.parse_args()
    model = str(Path(args.model).resolve())
    plain, halo = [], []
    for _ in range(args.repeats):  # interleaved, so machine noise hits both alike
        r = _run([sys.executable, "bench/plain_trl_grpo.py", "--model", model, "--max-steps", str(args.steps)])
        plain.append(r["steps"] / r["train_seconds"])
        r = _run([sys.executable, "-c", HALO_GRPO, model, str(args.steps)])
        halo.append(r["steps"] / r["train_seconds"])
    raft = _run([sys.executable, "-c", HALO_RAFT, model])
    print(json.dumps({"grpo_steps_per_second": {"plain_trl": [round(x, 3) for x in plain],
                                                "halo_forge": [round(x, 3) for x in halo],
                                                "ratio_median": round(statistics.median(halo) / statistics.median(plain), 3)},
                      "raft": raft}, indent=2))


if __name__ == "__main__":
    main()
