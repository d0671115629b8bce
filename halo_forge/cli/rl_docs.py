"""The GRPO and RAFT sections of docs/TRAINERS.md (rendered by `python -m halo_forge.cli.docs`)."""

from __future__ import annotations


def rl_sections() -> list[str]:
    from halo_forge.cli.docs import render_config
    from halo_forge.cli.rlcmd import REPEATABLE
    from halo_forge.grpo.config import GRPOConfig
    from halo_forge.raft.config import RAFTConfig

    def render(*args) -> str:
        text = render_config(*args)
        for name, (flag, kind) in REPEATABLE.items():
            text = text.replace(f"| `--{name.replace('_', '-')}` | path |",
                                f"| `{flag}` (repeatable) | {'float' if kind is float else 'text'} |")
        return text

    return [
        render("GRPO", "halo-forge grpo train", GRPOConfig,
               "halo-forge grpo train \\\n  --dataset gsm8k --model outputs/sft \\\n  --verifier math "
               "--num-generations 8 --beta 0.04 --epsilon 0.2 --temperature 0.9 \\\n"
               "  --loss-type dapo --max-completion-length 256 --learning-rate 1e-6"),
        GRPO_NOTES,
        render("RAFT", "halo-forge raft train", RAFTConfig,
               "halo-forge raft train \\\n  --dataset code_prompts --model outputs/sft \\\n"
               "  --verifier execution --cycles 3 --samples-per-prompt 8 --keep-percent 0.25 --reward-threshold 1.0"),
        RAFT_NOTES,
    ]


GRPO_NOTES = """### GRPO notes

- **Prompts** come from `--data prompts.jsonl` (a `prompt`, text or chat list, plus the ground-truth fields
  the verifier reads: `answer`, `tests`, `task_id`, `schema` …) or a short name (`halo-forge grpo datasets`:
  the built-in offline `arithmetic_prompts` and `code_prompts`, and gsm8k, mbpp, humaneval by hub id). Prompts
  are chat lists, so TRL renders them with the model's chat template. Every row is checked against the
  verifiers before anything loads: a missing field names the file and line.
- **Rewards.** Each `--verifier` becomes one TRL reward function; TRL passes the row's other columns with
  each completion, so the verifier sees the row's own ground truth. `--verifier-weight` sets TRL's
  `reward_weights`. `--verifier-arg key=value` goes to every verifier, `NAME:key=value` to one. Verifiers
  that run code refuse to run without the sandbox unless `--unsafe-verifier-execution` is given.
- **Knobs → TRL.** `--beta 0` (or `--reference-free`) loads no reference model; `--no-scale-rewards` is
  TRL's `scale_rewards="none"`, and `--num-generations 1` with scaled rewards is refused (a group of one has
  no std). `--loss-type` is TRL's own (grpo, dr_grpo, dapo, bnpo; dapo is TRL's default).
- **Rollout engine.** `--rollout-engine torch` is TRL's HF generate (`use_vllm=False`); `vllm` is TRL's
  vLLM integration (`use_vllm=True`, `vllm_mode` colocate or server); `auto` picks vllm only when it is
  installed and a CUDA GPU is visible. An explicit engine that cannot run is an error, never a silent
  fallback. Which path ran where: the torch path is tested end to end on CPU; for vllm the tests check what
  halo-forge hands to TRL (vLLM cannot be installed on the CPU test machines); mlx has no GRPO path yet.
- **Effectiveness** is the held-out task accuracy: the fraction of held-out prompts whose greedy completion
  passes every verifier, measured before and after training.
"""

RAFT_NOTES = """### RAFT notes

- **A cycle** loads the current policy (the previous cycle's model), samples `--samples-per-prompt`
  completions per prompt with the rollout engine (`torch`: batched HF generate on the live model; `mlx`
  reloads saved weights), verifies them, keeps the best — reward ≥ `--reward-threshold`, duplicates
  dropped, at most `--keep-percent` of the generated samples, best first — and fine-tunes on them with TRL's
  SFTTrainer (`--max-steps`/`--epochs` per cycle). Fewer than `--min-samples` kept: the cycle trains nothing.
- **Resume.** Every finished cycle (its model, record and rollouts) is kept beside the output in
  `.<output name>.raft-state/<config digest>/`. `--resume` continues from the last finished cycle; a cycle
  interrupted after sampling reuses its cached rollouts. The summary's `recovery` records the resume.
  `--resume` is not part of the cache key.
- **Summary.** `cycles[]` (generated, verified, kept, mean reward, loss, rollout/verify/train seconds) and
  `yield_diagnostics` (generated, verified, kept, rates, reward histogram, dominant rejection reason,
  status: healthy, low_yield when under 5 % is kept or a cycle kept fewer than `--min-samples`, no_signal
  when nothing is kept or every reward is 0).
"""
