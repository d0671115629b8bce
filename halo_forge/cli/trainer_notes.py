"""The notes under each trainer's flag table in docs/TRAINERS.md (rendered by `python -m halo_forge.cli.docs`)."""

NOTES = {
    "sft": """### SFT notes

- **PEFT.** LoRA by default (`all-linear` targets). `--use-dora`, `--use-rslora` and
  `--init-lora-weights pissa|loftq|olora|gaussian|true|false` are PEFT's own options; `--no-lora` trains every
  weight. `--load-in-4bit` is QLoRA and needs a CUDA GPU with bitsandbytes. A LoRA run saves the adapter;
  any command that takes `--model` accepts that folder (it is loaded on its base and merged).
- **Optimisers.** `--optim` is passed to `transformers.TrainingArguments.optim` (`adamw_torch` default).
  The bitsandbytes optimisers (`adamw_bnb_8bit`, `lion_8bit`, `paged_adamw_8bit`, `paged_adamw_32bit`) are
  refused up front where bitsandbytes or a GPU is missing.
- **Data.** `--dataset NAME` (see `halo-forge sft datasets`), any hub id, or `--data FILE` (.jsonl, .json,
  .parquet). Formats are detected from the first row: chat `messages`, ShareGPT `conversations`,
  `prompt`/`completion` (strings or message lists), alpaca `instruction`/`input`/`output`,
  `question`/`answer`, plain `text`. A row may carry an `answer` field: held-out task accuracy is then
  measured by greedy generation. Rows are split into train and held-out sets deterministically from
  `--seed` and `--eval-split`.
- **Loss.** Only completion / assistant tokens are learned unless `--train-on-prompt`. Multi-turn chats use
  TRL's assistant-only loss when the chat template has `{% generation %}` markers; otherwise each chat's
  final assistant turn is the completion. A model without a chat template gets a plain `### role:` template,
  saved with the model.
- **Hardware.** On CPU: fp32, no gradient checkpointing (TRL's defaults fail or run 2x slower there). On
  GPUs with bf16 support, bf16 is used by default (`--precision` overrides).
- **MLX** (`--accelerator mlx`, never picked automatically): vanilla LoRA through mlx-lm or a full fine-tune,
  the same tokenisation and completion-only loss, AdamW with transformers' schedules (constant,
  constant_with_warmup, linear, cosine; others are refused), `--resume` from MLX checkpoints. A LoRA run saves
  a PEFT adapter at `--output` and mlx-lm's format in `--output/mlx_adapter/`. `--use-dora`, `--use-rslora`,
  `--init-lora-weights`, `--load-in-4bit`, `--optim` other than adamw_torch and `--packing` are ignored with a
  warning naming the flag (see [MLX.md](MLX.md)).
""",
    "dpo": """### DPO notes

- **Loss types.** `sigmoid` (DPO), `ipo` (TRL's per-token-normalised IPO), `hinge` (SLiC) and `rpo` map onto
  TRL 1.16's `loss_type` list: `rpo` is `["sigmoid", "sft"]` with weights `[1, --rpo-alpha]` (DPO plus the mean
  NLL of the chosen tokens). `kto_pair` (dropped by TRL 1.x) is implemented as TRL 0.x defined it, and
  `--label-smoothing` (cDPO, sigmoid and rpo only) as `-(1-e) log s(b D) - e log s(-b D)`; both are added to
  TRL's loss by a `DPOTrainer` subclass from the same policy and reference log-probabilities
  (`halo_forge/dpo/losses.py`).
- **Reference.** `--ref-model` when given; with LoRA the base with adapters disabled (no second model in
  memory); with `--reference-free` no reference model at all: the step-0 policy's log-probabilities are
  precomputed once (TRL's `precompute_ref_log_probs`); otherwise a frozen copy of the start model.
  `--reference-free` with `--ref-model` is refused.
- **Data.** `--dataset NAME` (see `halo-forge dpo datasets`), any hub id, or `--data FILE` with `prompt`,
  `chosen`, `rejected` (text or chat lists). UltraFeedback-style chats are collapsed to the shared prompt turns
  and the final assistant reply; hh-rlhf transcripts without a prompt get it from the shared prefix up to the
  last `Assistant:`. Rows whose chosen equals their rejected are dropped and counted in the summary's notes.
  A row may carry an `answer`: held-out task accuracy is then measured too.
- **Verdict.** Primary figure: held-out preference accuracy (fraction of held-out pairs where the model gives
  the chosen reply a higher log-probability than the rejected one), before and after. Task accuracy, when
  measured, may not fall by more than 2 points (else the verdict warns). `extra` holds beta, loss_type,
  label_smoothing, reference_free and the histories of reward accuracy, chosen/rejected rewards and margins.
- **Hardware.** PyTorch on cpu, cuda, rocm, mps. `--accelerator mlx` runs every loss type above with our own MLX
  losses (checked against this PyTorch path: loss and gradients within 1e-4), in both reference modes; the
  reference log-probabilities come from `--ref-model`, the base with adapters disabled (LoRA) or a frozen copy of
  the start model. The ignored knobs warn as for SFT ([MLX.md](MLX.md)).
""",
    "orpo": """### ORPO notes

- TRL's `trl.experimental.orpo.ORPOTrainer`: NLL on the chosen reply plus `--beta` (lambda) times the
  log-odds-ratio penalty; no reference model. Chat rows go through the tokenizer's chat template (a plain one is
  supplied for models without). Same data, LoRA block and held-out preference/task accuracy as DPO.
- `--accelerator mlx` is refused (ORPO is PyTorch-only); DPO is the preference trainer to use there.
""",
    "rm": """### RM notes

- TRL's `RewardTrainer` on a sequence-classification head (one score, Bradley-Terry loss on chosen vs
  rejected); `--center-rewards-coefficient` adds TRL's penalty keeping rewards centred on zero. With LoRA the
  score head is trained and saved with the adapter.
- The verdict rests on held-out pairwise accuracy (chosen scored above rejected) before and after. A dataset of
  ties only (chosen == rejected everywhere) is refused.
- Score text with the saved model: `from halo_forge.rm import score; score("outputs/rm", texts)` (one float per
  text, higher is better): what RAFT and GRPO use as a learned reward.
- `--accelerator mlx` is refused (PyTorch-only); use DPO, which needs no reward model.
""",
    "grpo": """### GRPO notes

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
  halo-forge hands to TRL (vLLM cannot be installed on the CPU test machines).
- **MLX** (`--accelerator mlx`): our own scoring loop — groups sampled with mlx-lm (seeded per step), the same
  verifiers, group-relative advantages (a group of equal rewards gets 0, never NaN), TRL's clipped objective
  and k3 KL (checked against TRL 1.16), one update per sampling. `--rollout-engine` must be auto or mlx there;
  `--vllm-mode` is ignored with a warning.
- **Effectiveness** is the held-out task accuracy: the fraction of held-out prompts whose greedy completion
  passes every verifier, measured before and after training. When every sampled group got the same reward
  at every logged step (TRL's `frac_reward_zero_std` = 1), the verdict says there was no learning signal and
  what to change.
- **No `--max-length`.** TRL's GRPO bounds the completion (`--max-completion-length`), not the prompt.
""",
    "raft": """### RAFT notes

- **A cycle** loads the current policy (the previous cycle's model), samples `--samples-per-prompt`
  completions per prompt with the rollout engine (`torch`: batched HF generate on the live model; `mlx`:
  mlx-lm on an in-memory copy of the current policy), verifies them, keeps the best — reward ≥ `--reward-threshold`, duplicates
  dropped, at most `--keep-percent` of the generated samples, best first — and fine-tunes on them with TRL's
  SFTTrainer (`--max-steps`/`--epochs` per cycle). Fewer than `--min-samples` kept: the cycle trains nothing.
- **MLX.** `--accelerator mlx` runs the cycles on MLX (mlx-lm sampling, the MLX fine-tune; a LoRA adapter is
  fused each cycle); `--accelerator mlx --rollout-only` samples with MLX and fine-tunes with PyTorch (TRL's
  SFTTrainer, every PyTorch knob honoured), the MLX engine copying the current policy each cycle.
  `--rollout-only` without `--accelerator mlx` is refused.
- **Resume.** Every finished cycle (its model, record and rollouts) is kept beside the output in
  `.<output name>.state/<config and data digest>/` (removed once the run is published). `--resume` continues
  from the last finished cycle; a cycle interrupted after sampling reuses its cached rollouts, and every
  cycle samples with a seed derived from `--seed` and the cycle number, so a resumed or replayed run samples
  what the original did. The summary's `recovery` records the resume.
  `--resume` is not part of the cache key.
- **Summary.** `cycles[]` (generated, verified, kept, mean reward, loss, rollout/verify/train seconds) and
  `yield_diagnostics` (generated, verified, kept, rates, reward histogram, dominant rejection reason,
  status: healthy, low_yield when under 5 % is kept or a cycle kept fewer than `--min-samples`, no_signal
  when nothing is kept or every reward is 0).
""",
    "reasoning": """### Reasoning notes

- **One trainer, three methods.** `--method sft` learns worked solutions (`<think>…</think>answer` completions,
  loss on the completion); `--method grpo` is TRL's GRPOTrainer; `--method raft` is the RAFT trainer's cycles.
  A flag of another method is refused, naming the method it belongs to (`--num-generations` with `--method sft`).
- **Rewards.** `reasoning_answer` (math-verify on the text after the last `</think>`, against the row's `answer`;
  weight `--answer-weight`), `think_format` (exactly one `<think>…</think>` at the start, then a non-empty answer;
  `--format-weight`), and optional length shaping: `--overlong-buffer N` adds DAPO's soft overlong punishment
  over the last N tokens of `--max-completion-length`, `--cosine-weight` the cosine-scaled length reward. They
  are verifiers (`halo-forge verifiers list`), so their code and options are part of the cache key.
- **GRPO loss options** reach TRL's GRPOConfig as they are: `--loss-type` (grpo, dapo, dr_grpo, bnpo, cispo, sapo,
  luspo, vespo), `--epsilon`/`--epsilon-high`, `--mask-truncated-completions`, `--scale-rewards group|batch|none`,
  `--importance-sampling-level token|sequence`; combinations TRL refuses are refused before anything loads.
- **Dynamic sampling** (DAPO; TRL has none): with `--dynamic-sampling-rounds N`, groups whose rewards are all equal
  are dropped and fresh prompts sampled in their place, at most N rounds per batch; a batch still short keeps
  some all-equal groups. `extra.dynamic_sampling` counts batches, groups scored and dropped, rounds and short
  batches.
- **Effectiveness** (SFT and GRPO): held-out answer accuracy (greedy), then the format rate, whose drop of up to
  5 points only warns; `extra.heldout_before`/`heldout_after` add the rate of answers both right and
  well-formatted. RAFT's figure is that rate (`heldout_accuracy`: every reward passed), as RAFT measures it.
- **Data.** `arithmetic_chains` (built in; sloppy-teacher SFT labels, true held-out answers), gsm8k, math,
  metamath, or `--data FILE` with `prompt` and `answer` (and `completion` for `--method sft`).
""",
}
